//! Qdrant server over gRPC (`--qdrant-url`), for a cluster that already runs Qdrant.
//!
//! Deliberately thin: ids, payload, filter conditions and keyword vectors come from the
//! shared code in [`super`]; this file only translates them to qdrant-client's types.
//! The collection is created on first start with the same vectors and payload indexes the
//! edge shard gets.

use std::time::Duration;

use async_trait::async_trait;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder,
    Distance, FieldType, Filter, Modifier, NamedVectors, PointStruct, QueryPointsBuilder, Range,
    SparseVectorParamsBuilder, SparseVectorsConfigBuilder, Vector, VectorInput, VectorParamsBuilder,
    VectorsConfigBuilder,
};
use qdrant_client::{Payload, Qdrant};

use super::filter::{chunks_from, conditions, keyword_only, Cond};
use super::{Hit, IndexError, IndexFilter, IndexPoint, IndexResult, PointPayload, Probe, VectorIndex, DENSE, KEYWORDS};
use crate::pipeline::store::JobKind;

/// A collection on a Qdrant server.
pub struct ServerIndex {
    client: Qdrant,
    collection: String,
}

fn unavailable(e: impl std::fmt::Display) -> IndexError {
    IndexError::Unavailable(e.to_string())
}

fn filter(conds: &[Cond]) -> Option<Filter> {
    if conds.is_empty() {
        return None;
    }
    let (mut must, mut must_not) = (Vec::new(), Vec::new());
    for c in conds {
        match c {
            Cond::Keyword { key, values } => must.push(Condition::matches(*key, values.clone())),
            Cond::Integer { key, value } => must.push(Condition::matches(*key, *value)),
            Cond::Bool { key, value } => must.push(Condition::matches(*key, *value)),
            Cond::AtLeast { key, value } => must.push(Condition::range(*key, Range { gte: Some(*value as f64), ..Default::default() })),
            Cond::NotKeyword { key, value } => must_not.push(Condition::matches(*key, value.clone())),
        }
    }
    Some(Filter { must, must_not, ..Default::default() })
}

impl ServerIndex {
    /// Connects and makes sure the collection exists with the expected dimension.
    pub async fn open(url: &str, collection: &str, dim: usize, timeout: Duration) -> IndexResult<Self> {
        // qdrant-client's own version check runs a blocking health check on a thread and a
        // runtime of its own inside this async call (a runtime worker stalled for up to
        // `timeout` while the server is down) and prints its verdict to stdout, where no
        // log reader sees it. The server's version is logged here instead; its rule (minor
        // versions at most one apart) is stricter than measured: 1.18 passes the whole
        // index contract for this 1.20 client (docs/benchmarks.md, Qdrant server).
        let client = Qdrant::from_url(url)
            .timeout(timeout)
            .connect_timeout(timeout)
            .skip_compatibility_check()
            .build()
            .map_err(|e| IndexError::Config(format!("qdrant client for {url}: {e}")))?;
        if let Ok(info) = client.health_check().await {
            tracing::info!(%url, %collection, server_version = %info.version, "qdrant server");
        }
        let index = ServerIndex { client, collection: collection.to_owned() };
        if !index.client.collection_exists(collection).await.map_err(unavailable)? {
            let mut vectors = VectorsConfigBuilder::default();
            vectors.add_named_vector_params(DENSE, VectorParamsBuilder::new(dim as u64, Distance::Cosine));
            let mut sparse = SparseVectorsConfigBuilder::default();
            sparse.add_named_vector_params(KEYWORDS, SparseVectorParamsBuilder::default().modifier(Modifier::Idf));
            index
                .client
                .create_collection(CreateCollectionBuilder::new(collection).vectors_config(vectors).sparse_vectors_config(sparse))
                .await
                .map_err(unavailable)?;
            tracing::info!(url, collection, dim, "created Qdrant collection");
        }
        // At every start: a collection made by an older version gains the indexes added
        // since (Qdrant accepts re-creating an existing one).
        for (fields, ty) in [
            (super::INDEXED_KEYWORD_FIELDS, FieldType::Keyword),
            (super::INDEXED_INTEGER_FIELDS, FieldType::Integer),
            (super::INDEXED_BOOL_FIELDS, FieldType::Bool),
        ] {
            for field in fields {
                index
                    .client
                    .create_field_index(CreateFieldIndexCollectionBuilder::new(collection, *field, ty).wait(true))
                    .await
                    .map_err(unavailable)?;
            }
        }
        Ok(index)
    }
}

#[async_trait]
impl VectorIndex for ServerIndex {
    fn backend(&self) -> &'static str {
        "qdrant"
    }

    async fn upsert(&self, points: Vec<IndexPoint>) -> IndexResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let points: Vec<PointStruct> = points
            .into_iter()
            .map(|p| {
                let mut vectors = NamedVectors::default();
                if let Some(dense) = p.dense {
                    vectors = vectors.add_vector(DENSE, Vector::new_dense(dense));
                }
                if !p.keywords.is_empty() {
                    vectors = vectors.add_vector(KEYWORDS, Vector::new_sparse(p.keywords.indices, p.keywords.values));
                }
                PointStruct::new(p.id, vectors, Payload::from(p.payload.to_json_map()))
            })
            .collect();
        self.client
            .upsert_points(qdrant_client::qdrant::UpsertPointsBuilder::new(&self.collection, points).wait(true))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn remove_chunks_from(&self, kind: JobKind, target_id: i64, from_chunk: u32) -> IndexResult<()> {
        let f = filter(&chunks_from(kind, target_id, from_chunk)).expect("non-empty conditions");
        self.client
            .delete_points(DeletePointsBuilder::new(&self.collection).points(f).wait(true))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn search(&self, probe: Probe, f: &IndexFilter, limit: usize) -> IndexResult<Vec<Hit>> {
        let (query, using) = match probe {
            Probe::Dense(v) => (VectorInput::new_dense(v), DENSE),
            Probe::Keywords(v) if v.is_empty() => return Ok(Vec::new()),
            Probe::Keywords(v) => (VectorInput::new_sparse(v.indices, v.values), KEYWORDS),
        };
        let mut q = QueryPointsBuilder::new(&self.collection).query(query).using(using).limit(limit as u64).with_payload(true);
        if let Some(f) = filter(&conditions(f)) {
            q = q.filter(f);
        }
        let res = self.client.query(q).await.map_err(unavailable)?;
        res.result
            .into_iter()
            .map(|p| {
                let id = match p.id.and_then(|i| i.point_id_options) {
                    Some(qdrant_client::qdrant::point_id::PointIdOptions::Num(n)) => n,
                    other => return Err(IndexError::Corrupt(format!("unexpected point id {other:?}"))),
                };
                let payload = serde_json::Value::from(Payload::from(p.payload));
                Ok(Hit { id, score: p.score, payload: PointPayload::from_json(payload)? })
            })
            .collect()
    }

    async fn count(&self, f: &IndexFilter) -> IndexResult<u64> {
        self.count_where(&conditions(f)).await
    }

    async fn count_keyword_only(&self) -> IndexResult<u64> {
        self.count_where(&keyword_only()).await
    }
}

impl ServerIndex {
    async fn count_where(&self, conds: &[Cond]) -> IndexResult<u64> {
        let mut q = CountPointsBuilder::new(&self.collection).exact(true);
        if let Some(f) = filter(conds) {
            q = q.filter(f);
        }
        let r = self.client.count(q).await.map_err(unavailable)?;
        Ok(r.result.map(|c| c.count).unwrap_or(0))
    }
}

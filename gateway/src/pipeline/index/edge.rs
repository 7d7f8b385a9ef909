//! The embedded default: a qdrant-edge shard in `<data-dir>/vectors`.
//!
//! qdrant-edge's API is synchronous and its `flush` expects no concurrent writer, so all
//! writes go through one writer thread that flushes them in groups
//! ([`super::group_commit`]); searches run concurrently beside it. Every write is flushed
//! before it returns: the caller marks the job done right after, and a done job is never
//! redone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use qdrant_edge::{
    Distance, EdgeConfigBuilder, EdgeShard, EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder,
    Filter, FieldIndexOperations, CreateIndex, JsonPath, Modifier, NamedQuery, PayloadSchemaType, PointId,
    PointInsertOperations, PointOperations, PointStructPersisted, QueryEnum, QueryRequest, ScoringQuery, SparseVector,
    UpdateOperation, VectorInternal, VectorPersisted, VectorStructPersisted, WithPayloadInterface, WithVector,
};

use super::group_commit::GroupCommit;
use super::filter::{chunks_from, conditions, keyword_only, to_qdrant_json, Cond};
use super::{Hit, IndexError, IndexFilter, IndexPoint, IndexResult, PointPayload, Probe, VectorIndex, DENSE, KEYWORDS};
use crate::pipeline::store::JobKind;

/// The shard and the thread that writes it.
pub struct EdgeIndex {
    shard: Arc<EdgeShard>,
    writer: GroupCommit,
    path: PathBuf,
}

fn edge_err(e: impl std::fmt::Display) -> IndexError {
    IndexError::Unavailable(e.to_string())
}

impl EdgeIndex {
    /// Opens the shard at `path`, creating it on first start, with its payload indexes.
    /// A shard made for another dimension is refused: mixing models corrupts search.
    pub fn open(path: &Path, dim: usize) -> IndexResult<Self> {
        let existing = path.join("edge_config.json").exists();
        let shard = if existing {
            let shard = EdgeShard::load(path, None).map_err(|e| IndexError::Config(format!("{}: {e}", path.display())))?;
            let have = shard.config().vectors.get(DENSE).map(|v| v.size);
            if have != Some(dim) {
                return Err(IndexError::Config(format!(
                    "the index at {} holds {:?}-dimensional vectors but the embedder makes {dim}; \
                     point --data-dir elsewhere or remove that directory to re-index",
                    path.display(),
                    have
                )));
            }
            shard
        } else {
            std::fs::create_dir_all(path).map_err(|e| IndexError::Config(format!("{}: {e}", path.display())))?;
            let config = EdgeConfigBuilder::new()
                .vector(DENSE, EdgeVectorParamsBuilder::new(dim, Distance::Cosine).build())
                .sparse_vector(KEYWORDS, EdgeSparseVectorParamsBuilder::new().modifier(Modifier::Idf).build())
                .build();
            EdgeShard::new(path, config).map_err(|e| IndexError::Config(format!("{}: {e}", path.display())))?
        };
        // At every open, so a shard made by an older version gains the indexes added since
        // (creating one that exists changes nothing).
        for (fields, ty) in [
            (super::INDEXED_KEYWORD_FIELDS, PayloadSchemaType::Keyword),
            (super::INDEXED_INTEGER_FIELDS, PayloadSchemaType::Integer),
            (super::INDEXED_BOOL_FIELDS, PayloadSchemaType::Bool),
        ] {
            for field in fields {
                let field_name =
                    JsonPath::try_from(*field).map_err(|_| IndexError::Config(format!("payload field name {field:?}")))?;
                let made = shard.update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(CreateIndex {
                    field_name,
                    field_schema: Some(ty.into()),
                })));
                match made {
                    Ok(_) => {}
                    Err(e) if existing => tracing::debug!(field, error = %e, "payload index not (re)created"),
                    Err(e) => return Err(IndexError::Config(format!("payload index {field}: {e}"))),
                }
            }
        }
        let shard = Arc::new(shard);
        let index = EdgeIndex { writer: GroupCommit::start(shard.clone())?, shard, path: path.to_owned() };
        tracing::info!(path = %index.path.display(), dim, created = !existing, "vector index ready (qdrant-edge)");
        Ok(index)
    }

    /// Applies writes and returns once they are flushed (with whatever else was waiting).
    async fn write(&self, ops: Vec<UpdateOperation>) -> IndexResult<()> {
        self.writer.write(ops).await
    }
}

fn filter(conds: &[Cond]) -> IndexResult<Option<Filter>> {
    to_qdrant_json(conds)
        .map(|j| serde_json::from_value::<Filter>(j).map_err(|e| IndexError::Config(format!("filter: {e}"))))
        .transpose()
}

fn upsert_op(points: Vec<IndexPoint>) -> UpdateOperation {
    let points = points
        .into_iter()
        .map(|p| {
            let mut vectors = HashMap::new();
            if let Some(dense) = p.dense {
                vectors.insert(DENSE.to_owned(), VectorPersisted::Dense(dense));
            }
            if !p.keywords.is_empty() {
                vectors.insert(KEYWORDS.to_owned(), VectorPersisted::Sparse(sparse(p.keywords)));
            }
            PointStructPersisted {
                id: PointId::NumId(p.id),
                vector: VectorStructPersisted::Named(vectors),
                payload: Some(p.payload.to_json_map().into()),
            }
        })
        .collect();
    UpdateOperation::PointOperation(PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)))
}

fn remove_op(kind: JobKind, target_id: i64, from_chunk: u32) -> IndexResult<UpdateOperation> {
    let f = filter(&chunks_from(kind, target_id, from_chunk))?.expect("non-empty conditions");
    Ok(UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(f)))
}

fn sparse(v: super::SparseVec) -> SparseVector {
    SparseVector { indices: v.indices, values: v.values }
}

#[async_trait]
impl VectorIndex for EdgeIndex {
    fn backend(&self) -> &'static str {
        "qdrant-edge"
    }

    async fn upsert(&self, points: Vec<IndexPoint>) -> IndexResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        self.write(vec![upsert_op(points)]).await
    }

    async fn remove_chunks_from(&self, kind: JobKind, target_id: i64, from_chunk: u32) -> IndexResult<()> {
        self.write(vec![remove_op(kind, target_id, from_chunk)?]).await
    }

    /// Both in one flush: every indexed item pays one fsync, not two.
    async fn replace(&self, points: Vec<IndexPoint>, kind: JobKind, target_id: i64, from_chunk: u32) -> IndexResult<()> {
        let mut ops = Vec::with_capacity(2);
        if !points.is_empty() {
            ops.push(upsert_op(points));
        }
        ops.push(remove_op(kind, target_id, from_chunk)?);
        self.write(ops).await
    }

    async fn search(&self, probe: Probe, f: &IndexFilter, limit: usize) -> IndexResult<Vec<Hit>> {
        let (query, using) = match probe {
            Probe::Dense(v) => (VectorInternal::Dense(v), DENSE),
            Probe::Keywords(v) if v.is_empty() => return Ok(Vec::new()),
            Probe::Keywords(v) => (VectorInternal::Sparse(sparse(v)), KEYWORDS),
        };
        let request = QueryRequest {
            prefetches: Vec::new(),
            query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery { query, using: Some(using.to_owned()) }))),
            filter: filter(&conditions(f))?,
            score_threshold: None,
            limit,
            offset: 0,
            params: None,
            with_vector: WithVector::Bool(false),
            with_payload: WithPayloadInterface::Bool(true),
        };
        let shard = self.shard.clone();
        let points = tokio::task::spawn_blocking(move || shard.query(request)).await.map_err(edge_err)?.map_err(edge_err)?;
        points
            .into_iter()
            .map(|p| {
                let id = match p.id {
                    PointId::NumId(n) => n,
                    other => return Err(IndexError::Corrupt(format!("unexpected point id {other:?}"))),
                };
                let payload = p.payload.ok_or_else(|| IndexError::Corrupt(format!("point {id} has no payload")))?;
                Ok(Hit { id, score: p.score, payload: PointPayload::from_json(serde_json::Value::Object(payload.0))? })
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

impl EdgeIndex {
    async fn count_where(&self, conds: &[Cond]) -> IndexResult<u64> {
        let shard = self.shard.clone();
        let filter = filter(conds)?;
        let n = tokio::task::spawn_blocking(move || {
            shard.count(qdrant_edge::CountRequest { filter, exact: true })
        })
        .await
        .map_err(edge_err)?
        .map_err(edge_err)?;
        Ok(n as u64)
    }
}

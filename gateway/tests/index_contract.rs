//! The vector-index contract, run on every backend: the embedded qdrant-edge shard always,
//! a Qdrant server when `FIREBREAK_TEST_QDRANT_URL` is set (no Qdrant server can be
//! installed on the project's machines, so those tests are ignored (with the reason) and
//! `scripts/test.sh` says so; it runs them when the variable is set).
//!
//! Vectors here are plain unit vectors: the index is what is under test, not the model.

use std::sync::Arc;
use std::time::Duration;

use firebreak_gateway::pipeline::index::edge::EdgeIndex;
use firebreak_gateway::pipeline::index::point_id::point_id;
use firebreak_gateway::pipeline::index::server::ServerIndex;
use firebreak_gateway::pipeline::index::{Field, IndexFilter, IndexPoint, Keywords, PointPayload, Probe, VectorIndex};
use firebreak_gateway::pipeline::store::JobKind;

const DIM: usize = 8;

fn axis(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[i % DIM] = 1.0;
    v[(i + 1) % DIM] = 0.3;
    v
}

#[allow(clippy::too_many_arguments)] // a table row of test data, read best flat
fn point(kw: &Keywords, kind: JobKind, target: i64, chunk: u32, ns: &str, time: i64, text: &str, dir: usize) -> IndexPoint {
    IndexPoint {
        id: point_id(kind, target, chunk),
        dense: Some(axis(dir)),
        keywords: kw.document(text),
        payload: PointPayload {
            kind,
            target_id: target,
            chunk,
            // Chunk 9 stands for an incident's cause point.
            field: if chunk == 9 { Field::Cause } else { Field::Text },
            source: if kind == JobKind::Incident { "alertmanager".into() } else { "wiki".into() },
            namespace: Some(ns.into()),
            alertname: (kind == JobKind::Incident).then(|| "KubePodCrashLooping".into()),
            severity: None,
            time,
            title: None,
            text: text.into(),
            keyword_only: false,
        },
    }
}

async fn contract(index: Arc<dyn VectorIndex>) {
    let kw = Keywords::new().unwrap();
    let points = vec![
        point(&kw, JobKind::Incident, 1, 0, "mail", 100, "postfix container crash looping", 0),
        point(&kw, JobKind::Document, 1, 0, "mail", 200, "runbook for postfix queue", 1),
        point(&kw, JobKind::Document, 1, 1, "mail", 200, "second chunk about dovecot", 2),
        point(&kw, JobKind::Document, 2, 0, "photos", 300, "immich thumbnails slow", 3),
        point(&kw, JobKind::Incident, 1, 9, "mail", 100, "memory limit too low for the spool", 5),
    ];
    index.upsert(points.clone()).await.unwrap();
    // A retried job writes the same ids again: nothing is duplicated.
    index.upsert(points.clone()).await.unwrap();
    assert_eq!(index.count(&Default::default()).await.unwrap(), 5);
    assert_eq!(index.count(&IndexFilter { fields: vec![Field::Cause], ..Default::default() }).await.unwrap(), 1);

    let all = IndexFilter::default();
    let hits = index.search(Probe::Dense(axis(3)), &all, 10).await.unwrap();
    assert_eq!(hits.len(), 5);
    assert_eq!((hits[0].payload.kind, hits[0].payload.target_id), (JobKind::Document, 2));
    assert_eq!(hits[0].payload, points[3].payload, "payload round-trips");

    let hits = index.search(Probe::Keywords(kw.query("postfix")), &all, 10).await.unwrap();
    let mut ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
    ids.sort();
    assert_eq!(ids, vec![points[0].id, points[1].id], "keyword search finds exactly the postfix points");

    let only = |f: IndexFilter| {
        let index = index.clone();
        async move {
            let mut t: Vec<(JobKind, i64, u32)> = index
                .search(Probe::Dense(axis(0)), &f, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|h| (h.payload.kind, h.payload.target_id, h.payload.chunk))
                .collect();
            t.sort_by_key(|x| (x.0.as_str(), x.1, x.2));
            t
        }
    };
    assert_eq!(
        only(IndexFilter { kinds: vec![JobKind::Incident], ..Default::default() }).await,
        vec![(JobKind::Incident, 1, 0), (JobKind::Incident, 1, 9)]
    );
    // Cause points by their field; text points are the rest (they carry no field).
    assert_eq!(only(IndexFilter { fields: vec![Field::Cause], ..Default::default() }).await, vec![(JobKind::Incident, 1, 9)]);
    assert_eq!(only(IndexFilter { fields: vec![Field::Text], kinds: vec![JobKind::Incident], ..Default::default() }).await, vec![(JobKind::Incident, 1, 0)]);
    assert_eq!(points[4].payload, index.search(Probe::Dense(axis(5)), &all, 1).await.unwrap()[0].payload, "the field round-trips");
    assert_eq!(only(IndexFilter { namespace: Some("photos".into()), ..Default::default() }).await, vec![(JobKind::Document, 2, 0)]);
    assert_eq!(only(IndexFilter { since: Some(250), ..Default::default() }).await, vec![(JobKind::Document, 2, 0)]);
    assert_eq!(
        only(IndexFilter { source: Some("wiki".into()), kinds: vec![JobKind::Document], since: Some(150), ..Default::default() }).await.len(),
        3
    );

    // Document 1 shrinks to one chunk; its second chunk goes, nothing else does.
    index.remove_chunks_from(JobKind::Document, 1, 1).await.unwrap();
    assert_eq!(index.count(&Default::default()).await.unwrap(), 4);
    assert!(index.search(Probe::Keywords(kw.query("dovecot")), &all, 10).await.unwrap().is_empty());
    // An empty keyword query (only stopwords) finds nothing rather than failing.
    assert!(index.search(Probe::Keywords(kw.query("the and of")), &all, 10).await.unwrap().is_empty());

    // The keyword phase: an item's points before the embedder got to them. Incident 7 is
    // found by its words, never by a dense probe, and counted as waiting; a point with
    // nothing to index (no keywords either) is stored all the same, so `replace` keeps an
    // item's set of chunks exact.
    let mut pending = point(&kw, JobKind::Incident, 7, 0, "mail", 400, "rspamd greylisting stalls delivery", 7);
    pending.dense = None;
    pending.payload.keyword_only = true;
    let mut empty = point(&kw, JobKind::Incident, 7, 1, "mail", 400, "", 8);
    (empty.dense, empty.keywords, empty.payload.keyword_only) = (None, Default::default(), true);
    index.replace(vec![pending.clone(), empty], JobKind::Incident, 7, 2).await.unwrap();
    assert_eq!(index.count_keyword_only().await.unwrap(), 2);
    let hits = index.search(Probe::Keywords(kw.query("rspamd greylisting")), &all, 10).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![pending.id]);
    assert!(hits[0].payload.keyword_only);
    let dense = index.search(Probe::Dense(axis(7)), &all, 10).await.unwrap();
    assert!(dense.iter().all(|h| h.payload.target_id != 7 || h.payload.kind != JobKind::Incident), "{dense:?}");
    // The dense phase: the same item, now one chunk with its vector.
    index.replace(vec![point(&kw, JobKind::Incident, 7, 0, "mail", 400, "rspamd greylisting stalls delivery", 7)], JobKind::Incident, 7, 1).await.unwrap();
    assert_eq!(index.count_keyword_only().await.unwrap(), 0);
    assert_eq!(index.search(Probe::Dense(axis(7)), &all, 1).await.unwrap()[0].id, pending.id);
    assert_eq!(index.count(&Default::default()).await.unwrap(), 5);
    index.remove_chunks_from(JobKind::Incident, 7, 0).await.unwrap();
}

/// Writes from many jobs at once (the outbox's lanes) all land, each answered once it is
/// stored: the embedded shard flushes them in groups, a server on its own.
async fn concurrent_writes(index: Arc<dyn VectorIndex>) {
    let kw = Keywords::new().unwrap();
    let before = index.count(&Default::default()).await.unwrap();
    let writes = (0..64).map(|i| {
        let (index, p) = (index.clone(), point(&kw, JobKind::Document, 1000 + i, 0, "bulk", 400, "bulk chat export", i as usize));
        tokio::spawn(async move { index.replace(vec![p], JobKind::Document, 1000 + i, 1).await })
    });
    for w in writes.collect::<Vec<_>>() {
        w.await.unwrap().unwrap();
    }
    assert_eq!(index.count(&Default::default()).await.unwrap(), before + 64);
    for i in 0..64 {
        index.remove_chunks_from(JobKind::Document, 1000 + i, 0).await.unwrap();
    }
    assert_eq!(index.count(&Default::default()).await.unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qdrant_edge_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors");
    let index = Arc::new(EdgeIndex::open(&path, DIM).unwrap());
    contract(index.clone()).await;
    concurrent_writes(index.clone()).await;
    drop(index);
    // Reopened from disk (its payload indexes made again, which changes nothing): the
    // points are still there.
    let reopened = EdgeIndex::open(&path, DIM).unwrap();
    assert_eq!(reopened.count(&Default::default()).await.unwrap(), 4);
    drop(reopened);
    // A shard made for another dimension is refused with a clear error.
    let err = EdgeIndex::open(&path, DIM * 2).err().expect("dimension mismatch refused");
    assert!(err.to_string().contains("dimensional"), "{err}");
}

#[tokio::test]
#[ignore = "needs a Qdrant server: set FIREBREAK_TEST_QDRANT_URL (gRPC, e.g. http://127.0.0.1:6334)"]
async fn qdrant_server_backend() {
    let url = std::env::var("FIREBREAK_TEST_QDRANT_URL").expect("FIREBREAK_TEST_QDRANT_URL must be set for this test");
    let collection = format!("firebreak_test_{}", std::process::id());
    let index = ServerIndex::open(&url, &collection, DIM, Duration::from_secs(10)).await.expect("Qdrant server reachable");
    let index = Arc::new(index);
    contract(index.clone()).await;
    concurrent_writes(index).await;
}

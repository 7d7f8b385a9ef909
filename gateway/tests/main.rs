//! The gateway's integration tests, one binary: each file is a module, so the real
//! databases, qdrant-edge, candle and sqlx are linked once instead of once per file
//! (about a minute of linking each on a 2-core CI machine).

mod common;

mod answers;
mod auth;
mod breakers;
mod crash_recovery;
mod end_to_end;
mod flood;
mod guards;
mod http_intake;
mod index_contract;
mod ingest_client;
mod long_documents;
mod mcp;
mod outage;
mod properties;
mod query_api;
mod remote_embedder;
mod retrieval;
mod store_contract;

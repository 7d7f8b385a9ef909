//! The embedder's integration tests, one binary (see gateway/tests/main.rs for why).
//! `cuda_fallback` compiles only in the `cuda` build (scripts/cuda-check.sh).

mod common;

mod bad_inputs;
mod chat;
mod cpu_budget;
mod cuda_fallback;
mod http_api;
mod parity;

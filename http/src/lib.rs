//! What Firebreak's HTTP services (the gateway and `firebreak-embedder serve`) share, so
//! that a client, an operator and a dashboard see one service whichever they talk to:
//! errors as one JSON shape ([`error`]), request bodies read into JSON errors ([`json`]),
//! the `/metrics` endpoint ([`metrics`]), the RED request metrics every route is counted
//! by ([`red`]), the build that is running ([`build`]) and the OpenAI chat-completions
//! wire format both services speak ([`openai_chat`]), and what their OpenAPI documents say
//! alike ([`openapi`]). No service's logic lives here.

pub mod build;
pub mod error;
pub mod json;
pub mod metrics;
pub mod openai_chat;
pub mod openapi;
pub mod red;

pub use error::{reshape_error, ApiError};
pub use json::{json_body, json_body_with_raw};
pub use metrics::render_metrics;
pub use red::Red;

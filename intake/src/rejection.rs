//! A refusal of client input, free of any HTTP framework, so the checks can run (and be
//! fuzzed) outside the server; the gateway turns it into its JSON error answer.

/// The class of refusal; each maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 400: not the JSON shape asked for.
    BadRequest,
    /// 413: more items or bytes than one request may carry; the client should split it.
    TooLarge,
    /// 422: well-formed, but a value makes no sense.
    Unprocessable,
}

impl Status {
    /// The HTTP status code.
    pub fn code(self) -> u16 {
        match self {
            Status::BadRequest => 400,
            Status::TooLarge => 413,
            Status::Unprocessable => 422,
        }
    }
}

/// Why an input was refused: a stable machine-readable `error` and a `detail` that says
/// what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {detail}")]
pub struct Rejection {
    pub status: Status,
    pub error: &'static str,
    pub detail: String,
}

impl Rejection {
    pub fn new(status: Status, error: &'static str, detail: impl Into<String>) -> Self {
        Rejection { status, error, detail: detail.into() }
    }

    /// A 422.
    pub fn invalid(error: &'static str, detail: impl Into<String>) -> Self {
        Rejection::new(Status::Unprocessable, error, detail)
    }
}

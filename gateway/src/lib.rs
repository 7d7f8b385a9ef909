//! Firebreak's gateway: alerts and documents in, stored durably at once, embedded later by
//! a priority scheduler, found again by incident lookup.
//!
//! Built so far (issue 4 is in progress): the Alertmanager payload ([`alertmanager`]),
//! the intake and probe endpoints ([`api`]),
//! the durable SQL store with its embedding-job outbox ([`store`]), content hashing
//! ([`hashing`]) and clock ([`clock`]).

pub mod alertmanager;
pub mod api;
pub mod clock;
pub mod hashing;
pub mod store;

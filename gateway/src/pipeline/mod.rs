//! The path of an item, in order: intake commits a row and its outbox job to the
//! [`store`] in one transaction; the [`indexer`] claims the job, cuts the item
//! ([`render`], [`chunking`]) and hands its texts to the [`scheduler`], whose priority
//! classes and bounded batches feed the [`embedding`] backend; the vectors go to the
//! [`index`]. [`hashing`] names a text by its content (the vector cache's key).

pub mod chunking;
pub mod embedding;
pub mod hashing;
pub mod index;
pub mod indexer;
pub mod render;
pub mod scheduler;
pub mod store;

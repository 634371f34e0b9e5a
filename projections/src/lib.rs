//! Jobsprint's read side: the raw history of one aggregate, the
//! commit-order reader, the projector runtime that folds committed events
//! into read models with an exactly-once effect, and the read models.
//! Raw readers ([`history`], [`commit_order`]) return events as stored;
//! [`source::StoreSource`] hands projectors their current version
//! ([`upcast`]).
//!
//! **Architecture invariant:** nothing here writes events, and a projector
//! does not know which [`source::EventSource`] feeds it.

pub mod batch;
pub mod bulk;
pub mod checkpoint;
pub mod commit_order;
pub mod dead_letters;
pub mod history;
pub mod projector;
pub mod read_models;
pub mod source;
pub mod status;
pub mod upcast;

//! Jobsprint's event stream: the relay that carries every committed event
//! from the store to Kafka (`jobsprint.events`), the record contract
//! analytics consumers read (docs/events.md), and the Kafka source the
//! projectors can read instead of the store.
//!
//! **Invariants:** the relay saves its cursor only after the broker
//! acknowledged every record before it, and only under its lease; nothing
//! here writes events.

pub mod cloudevents;
pub mod kafka;
pub mod lease;
pub mod relay;
pub mod source;

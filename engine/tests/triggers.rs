//! Schedule and event triggers against real PostgreSQL: each slot fires
//! once with two trigger runners, two schedulers on one due slot start one
//! execution (also after a lease takeover), catch-up `skip` and `run_once`
//! after downtime (the skipped slots recorded as an event), unpublishing
//! stops a schedule (`triggers/schedules.rs`), and event triggers start
//! their targets only on the chosen status and only in the source's tenant
//! (`triggers/events.rs`).

#[path = "triggers/events.rs"]
mod events;
#[path = "triggers/reads.rs"]
mod reads;
#[path = "triggers/schedules.rs"]
mod schedules;
mod support;

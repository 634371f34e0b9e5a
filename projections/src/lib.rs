//! Jobsprint's read side. For now: the raw history of one aggregate and the
//! commit-order reader that later projectors and the relay build on.

pub mod commit_order;
pub mod history;

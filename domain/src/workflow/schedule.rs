//! Schedule triggers at run time: the cron expression in its time zone,
//! the slots it fires, and which of the slots due since the last look run
//! and which are skipped (the catch-up policy). The engine's scheduler
//! only carries out [`Schedule::plan`]'s answer.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;

use super::{validate, CatchUp, DefinitionError};

/// A valid schedule: a cron expression evaluated in an IANA time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
}

/// What the scheduler does for one schedule at one look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticks {
    /// The slot to start a run for, if any.
    pub fire: Option<DateTime<Utc>>,
    /// The due slots that do not run; recorded as `ScheduledRunsSkipped`.
    pub skipped: Option<SkippedRuns>,
    /// Every slot at or before this instant is handled (fired or skipped).
    pub covered_through: DateTime<Utc>,
    /// The first slot after `covered_through`; `None` if there is none.
    pub next: Option<DateTime<Utc>>,
}

/// A run of consecutive slots that were not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkippedRuns {
    /// The first skipped slot.
    pub from: DateTime<Utc>,
    /// The last skipped slot.
    pub to: DateTime<Utc>,
    /// How many slots from `from` to `to`, both included.
    pub count: u64,
}

impl Schedule {
    /// Parses `cron` (5 fields, or 6 with seconds first) in `timezone`.
    pub fn parse(cron: &str, timezone: &str) -> Result<Schedule, DefinitionError> {
        let (cron, tz) = validate::schedule(cron, timezone)?;
        Ok(Schedule { cron, tz })
    }

    /// The first slot strictly after `after`; `None` if the expression
    /// never matches again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|next| next.with_timezone(&Utc))
    }

    /// Decides what happens to the slots after `covered` up to `now`.
    ///
    /// Only the latest due slot can be on time (fired at most `grace`
    /// after it): every earlier one was missed, since a running scheduler
    /// handles each slot when it comes. Under [`CatchUp::Skip`] the latest
    /// slot fires only if it is on time; under [`CatchUp::RunOnce`] it
    /// always fires, standing for all the missed ones. Every due slot that
    /// does not fire is skipped. At most `limit` slots are looked at: a
    /// longer backlog is skipped `limit` slots at a time (its `next` is
    /// then already due, so the caller plans again at once).
    pub fn plan(
        &self,
        covered: DateTime<Utc>,
        now: DateTime<Utc>,
        policy: CatchUp,
        grace: Duration,
        limit: u64,
    ) -> Ticks {
        let limit = limit.max(1);
        let mut first = None;
        let mut before_last = None;
        let mut last = None;
        let mut count = 0u64;
        let mut cursor = covered;
        while count < limit {
            match self.next_after(cursor) {
                Some(slot) if slot <= now => {
                    first.get_or_insert(slot);
                    before_last = last;
                    last = Some(slot);
                    count += 1;
                    cursor = slot;
                }
                _ => break,
            }
        }
        let next = self.next_after(cursor);
        let (Some(first), Some(last)) = (first, last) else {
            return Ticks {
                fire: None,
                skipped: None,
                covered_through: covered,
                next,
            };
        };
        let truncated = next.is_some_and(|next| next <= now);
        let on_time = now - last <= grace;
        let fire = match policy {
            _ if truncated => None,
            CatchUp::Skip if !on_time => None,
            CatchUp::Skip | CatchUp::RunOnce => Some(last),
        };
        let skipped = match (fire, before_last) {
            (None, _) => Some(SkippedRuns {
                from: first,
                to: last,
                count,
            }),
            (Some(_), Some(to)) => Some(SkippedRuns {
                from: first,
                to,
                count: count - 1,
            }),
            (Some(_), None) => None,
        };
        Ticks {
            fire,
            skipped,
            covered_through: last,
            next,
        }
    }
}

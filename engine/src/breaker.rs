//! Circuit breakers per integration, one set per engine process, shared by
//! its workers.
//!
//! The rules are the domain's pure [`Breaker`]; this module keeps one per
//! integration in memory, with the counters that move it. The counters are
//! never recorded: only transitions are, as Integration events, by the
//! caller. A breaker starts from the circuit the integration's events
//! recorded, and adopts a newer recorded circuit whenever it sees one, so
//! the engine processes follow each other's transitions: a circuit opened
//! by one process refuses calls in all of them.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::ids::IntegrationId;
use domain::integration::{Breaker, BreakerRules, Circuit, CircuitState, Transition};

/// The breakers of one engine process.
#[derive(Debug, Default)]
pub struct Breakers {
    rules: BreakerRules,
    entries: Mutex<HashMap<IntegrationId, Entry>>,
}

#[derive(Debug)]
struct Entry {
    breaker: Breaker,
    /// The newest circuit this process knows of: recorded, or being
    /// recorded by this process.
    known: Circuit,
}

/// Integrations whose breakers are kept; past this the map starts over
/// (every breaker then restarts from its recorded circuit).
const MAX_ENTRIES: usize = 10_000;

impl Breakers {
    /// Breakers that follow `rules`.
    pub fn new(rules: BreakerRules) -> Breakers {
        Breakers {
            rules,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The rules every breaker follows.
    pub fn rules(&self) -> BreakerRules {
        self.rules
    }

    /// Lets a call to `id` go out at `now`, or refuses it (`Err`: the time
    /// left until the circuit half-opens). `recorded` is the circuit in
    /// the integration's events; it replaces this process's breaker when
    /// it is newer. `Ok(Some(_))` is a transition the caller records.
    pub fn admit(
        &self,
        id: IntegrationId,
        recorded: Circuit,
        now: DateTime<Utc>,
    ) -> Result<Option<Transition>, Duration> {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&id) {
            entries.clear();
        }
        let entry = entries.entry(id).or_insert_with(|| Entry {
            breaker: Breaker::restore(self.rules, recorded),
            known: recorded,
        });
        if is_newer(recorded, entry.known) {
            entry.breaker = Breaker::restore(self.rules, recorded);
            entry.known = recorded;
        }
        let transition = entry.breaker.admit(now)?;
        if let Some(transition) = transition {
            entry.known = transition.circuit();
        }
        Ok(transition)
    }

    /// Counts the outcome of a call to `id` that was admitted; a
    /// transition it causes is returned for the caller to record.
    pub fn record(
        &self,
        id: IntegrationId,
        succeeded: bool,
        now: DateTime<Utc>,
    ) -> Option<Transition> {
        let mut entries = self.lock();
        let entry = entries.get_mut(&id)?;
        let transition = if succeeded {
            entry.breaker.record_success(now)
        } else {
            entry.breaker.record_failure(now)
        }?;
        entry.known = transition.circuit();
        Some(transition)
    }

    /// Forgets the breaker of `id`, so its next call starts again from the
    /// recorded circuit: for when a transition could not be recorded.
    pub fn forget(&self, id: IntegrationId) {
        self.lock().remove(&id);
    }

    /// The state this process holds for `id`, if it has called it.
    pub fn state(&self, id: IntegrationId) -> Option<CircuitState> {
        self.lock().get(&id).map(|entry| entry.breaker.state())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IntegrationId, Entry>> {
        // Every update leaves a whole entry: a panic cannot tear one.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether a recorded circuit is newer than the one known: a circuit with
/// a start time beats one without, a later start beats an earlier one.
fn is_newer(recorded: Circuit, known: Circuit) -> bool {
    match (recorded.since, known.since) {
        (Some(recorded), Some(known)) => recorded > known,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    fn id(n: u128) -> IntegrationId {
        IntegrationId(uuid::Uuid::from_u128(n))
    }

    fn open_by_failures(breakers: &Breakers, id: IntegrationId, now: DateTime<Utc>) -> Transition {
        let closed = Circuit::default();
        for _ in 0..4 {
            assert_eq!(breakers.admit(id, closed, now), Ok(None));
            assert_eq!(breakers.record(id, false, now), None);
        }
        assert_eq!(breakers.admit(id, closed, now), Ok(None));
        breakers
            .record(id, false, now)
            .expect("the fifth failure opens")
    }

    #[test]
    fn each_integration_has_its_own_breaker() {
        let breakers = Breakers::default();
        let opened = open_by_failures(&breakers, id(1), at(0));
        assert_eq!(
            opened,
            Transition::Opened {
                at: at(0),
                failures: 5
            }
        );
        assert_eq!(
            breakers.admit(id(1), Circuit::default(), at(10)),
            Err(Duration::from_secs(50)),
            "the stale recorded circuit (closed, never moved) does not reopen it"
        );
        assert_eq!(breakers.admit(id(2), Circuit::default(), at(10)), Ok(None));
        assert_eq!(breakers.state(id(1)), Some(CircuitState::Open));
        assert_eq!(breakers.state(id(2)), Some(CircuitState::Closed));
    }

    #[test]
    fn a_newer_recorded_circuit_is_adopted() {
        let breakers = Breakers::default();
        assert_eq!(breakers.admit(id(1), Circuit::default(), at(0)), Ok(None));
        let opened_elsewhere = Transition::Opened {
            at: at(5),
            failures: 5,
        }
        .circuit();
        assert_eq!(
            breakers.admit(id(1), opened_elsewhere, at(20)),
            Err(Duration::from_secs(45))
        );
        assert_eq!(
            breakers.admit(id(1), opened_elsewhere, at(65)),
            Ok(Some(Transition::HalfOpened { at: at(65) }))
        );
        assert_eq!(
            breakers.admit(id(1), opened_elsewhere, at(66)),
            Ok(None),
            "its own half-opening is newer than the recorded opening"
        );
    }

    #[test]
    fn the_counters_survive_their_own_transitions_being_read_back() {
        let breakers = Breakers::default();
        open_by_failures(&breakers, id(1), at(0));
        let half = breakers.admit(id(1), Circuit::default(), at(60)).unwrap();
        let half = half.expect("due to half-open").circuit();
        assert_eq!(breakers.record(id(1), true, at(61)), None);
        assert_eq!(breakers.admit(id(1), half, at(62)), Ok(None));
        assert_eq!(breakers.record(id(1), true, at(62)), None);
        assert_eq!(breakers.admit(id(1), half, at(63)), Ok(None));
        assert_eq!(
            breakers.record(id(1), true, at(63)),
            Some(Transition::Closed { at: at(63) }),
            "reading back the recorded half-opening kept the two earlier successes"
        );
    }

    #[test]
    fn a_forgotten_breaker_restarts_from_the_recorded_circuit() {
        let breakers = Breakers::new(BreakerRules::default());
        open_by_failures(&breakers, id(1), at(0));
        breakers.forget(id(1));
        assert_eq!(breakers.state(id(1)), None);
        assert_eq!(breakers.record(id(1), false, at(1)), None);
        assert_eq!(breakers.admit(id(1), Circuit::default(), at(1)), Ok(None));
        assert_eq!(breakers.rules(), BreakerRules::default());
    }
}

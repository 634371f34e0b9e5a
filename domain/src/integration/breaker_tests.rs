//! The breaker's rules, one test per edge of its state machine.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::breaker::*;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

/// A breaker opened at `at(0)` by five failures.
fn opened() -> Breaker {
    let mut breaker = Breaker::new(BreakerRules::default());
    for _ in 0..4 {
        assert_eq!(breaker.record_failure(at(0)), None);
    }
    assert_eq!(
        breaker.record_failure(at(0)),
        Some(Transition::Opened {
            at: at(0),
            failures: 5
        })
    );
    breaker
}

/// A breaker half-opened at `at(60)`.
fn half_open() -> Breaker {
    let mut breaker = opened();
    assert_eq!(
        breaker.admit(at(60)),
        Ok(Some(Transition::HalfOpened { at: at(60) }))
    );
    breaker
}

#[test]
fn the_default_rules_are_five_failures_sixty_seconds_three_successes() {
    let rules = BreakerRules::default();
    assert_eq!(
        (
            rules.failures_to_open,
            rules.open_for,
            rules.successes_to_close
        ),
        (5, Duration::from_secs(60), 3)
    );
}

#[test]
fn a_closed_breaker_lets_calls_through_and_opens_on_the_fifth_consecutive_failure() {
    let mut breaker = Breaker::new(BreakerRules::default());
    assert_eq!(breaker.admit(at(0)), Ok(None));
    for _ in 0..4 {
        assert_eq!(breaker.record_failure(at(1)), None);
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(
        breaker.record_failure(at(2)),
        Some(Transition::Opened {
            at: at(2),
            failures: 5
        })
    );
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[test]
fn a_success_resets_the_run_of_failures() {
    let mut breaker = Breaker::new(BreakerRules::default());
    for _ in 0..4 {
        breaker.record_failure(at(0));
    }
    assert_eq!(breaker.record_success(at(0)), None);
    for _ in 0..4 {
        assert_eq!(
            breaker.record_failure(at(0)),
            None,
            "the count started over"
        );
    }
    assert!(breaker.record_failure(at(0)).is_some());
}

#[test]
fn an_open_breaker_refuses_calls_for_the_rest_of_its_period() {
    let mut breaker = opened();
    assert_eq!(breaker.allows(at(0)), Err(Duration::from_secs(60)));
    assert_eq!(breaker.admit(at(45)), Err(Duration::from_secs(15)));
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "a refusal moves nothing"
    );
    assert_eq!(breaker.allows(at(60)), Ok(()));
}

#[test]
fn an_open_breaker_half_opens_when_a_call_comes_after_its_period() {
    let mut breaker = opened();
    assert_eq!(
        breaker.admit(at(75)),
        Ok(Some(Transition::HalfOpened { at: at(75) }))
    );
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    assert_eq!(breaker.admit(at(76)), Ok(None), "trials keep going out");
}

#[test]
fn late_answers_to_calls_of_a_closed_circuit_do_not_move_an_open_one() {
    let mut breaker = opened();
    assert_eq!(breaker.record_failure(at(1)), None);
    assert_eq!(breaker.record_success(at(1)), None);
    assert_eq!(breaker.circuit().state, CircuitState::Open);
    assert_eq!(
        breaker.allows(at(1)),
        Err(Duration::from_secs(59)),
        "the period still runs from the opening"
    );
}

#[test]
fn a_half_open_breaker_closes_after_three_successes() {
    let mut breaker = half_open();
    assert_eq!(breaker.record_success(at(61)), None);
    assert_eq!(breaker.record_success(at(62)), None);
    assert_eq!(
        breaker.record_success(at(63)),
        Some(Transition::Closed { at: at(63) })
    );
    assert_eq!(breaker.state(), CircuitState::Closed);
    for _ in 0..4 {
        assert_eq!(
            breaker.record_failure(at(64)),
            None,
            "closed again: a fresh count"
        );
    }
}

#[test]
fn a_half_open_breaker_opens_again_at_the_first_failure() {
    let mut breaker = half_open();
    breaker.record_success(at(61));
    assert_eq!(
        breaker.record_failure(at(62)),
        Some(Transition::Opened {
            at: at(62),
            failures: 1
        })
    );
    assert_eq!(
        breaker.allows(at(62)),
        Err(Duration::from_secs(60)),
        "a new full period"
    );
    let closed_after = {
        let mut breaker = breaker.clone();
        breaker.admit(at(122)).unwrap();
        (0..3)
            .filter_map(|_| breaker.record_success(at(123)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        closed_after,
        vec![Transition::Closed { at: at(123) }],
        "the earlier success does not carry over"
    );
}

#[test]
fn a_restored_breaker_continues_from_the_recorded_circuit() {
    let rules = BreakerRules::default();
    let open = Breaker::restore(
        rules,
        Transition::Opened {
            at: at(0),
            failures: 5,
        }
        .circuit(),
    );
    assert_eq!(open.allows(at(30)), Err(Duration::from_secs(30)));
    let mut half = Breaker::restore(rules, Transition::HalfOpened { at: at(60) }.circuit());
    assert_eq!(half.admit(at(61)), Ok(None));
    assert_eq!(half.record_success(at(61)), None);
    let never_moved = Breaker::restore(rules, Circuit::default());
    assert_eq!(never_moved, Breaker::new(rules));
    let open_without_start = Breaker::restore(
        rules,
        Circuit {
            state: CircuitState::Open,
            since: None,
        },
    );
    assert_eq!(open_without_start.allows(at(0)), Ok(()));
}

#[test]
fn rules_other_than_the_defaults_are_honoured() {
    let rules = BreakerRules {
        failures_to_open: 1,
        open_for: Duration::from_secs(5),
        successes_to_close: 1,
    };
    let mut breaker = Breaker::new(rules);
    assert!(breaker.record_failure(at(0)).is_some());
    assert_eq!(breaker.allows(at(1)), Err(Duration::from_secs(4)));
    assert!(breaker.admit(at(5)).unwrap().is_some());
    assert_eq!(
        breaker.record_success(at(5)),
        Some(Transition::Closed { at: at(5) })
    );
}

#[test]
fn transitions_name_their_state_and_time_and_states_their_stored_form() {
    let opened = Transition::Opened {
        at: at(3),
        failures: 5,
    };
    assert_eq!(
        opened.circuit(),
        Circuit {
            state: CircuitState::Open,
            since: Some(at(3))
        }
    );
    assert_eq!(
        Transition::HalfOpened { at: at(4) }.to(),
        CircuitState::HalfOpen
    );
    assert_eq!(Transition::Closed { at: at(5) }.at(), at(5));
    let stored: Vec<&str> = [
        CircuitState::Closed,
        CircuitState::Open,
        CircuitState::HalfOpen,
    ]
    .iter()
    .map(|state| state.as_str())
    .collect();
    assert_eq!(stored, ["closed", "open", "half_open"]);
    assert_eq!(
        serde_json::to_value(CircuitState::HalfOpen).unwrap(),
        serde_json::json!("half_open")
    );
}

//! The circuit breaker of an integration, as a pure state machine: it
//! opens after a run of consecutive failures, half-opens once it has been
//! open long enough, and closes after a run of successes while half-open.
//!
//! Whoever calls the integration keeps a [`Breaker`] (the counters live
//! in its memory) and records only the [`Transition`]s it returns, through
//! `IntegrationCommand::RecordCircuitTransition`; the aggregate then holds
//! the [`Circuit`] every other caller starts from ([`Breaker::restore`]).
//! Nothing here reads a clock: every decision takes `now`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether calls to an integration go out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Calls go out; failures are counted.
    #[default]
    Closed,
    /// Calls are refused until the open period is over.
    Open,
    /// Calls go out on trial: a failure opens the circuit again, a run of
    /// successes closes it.
    HalfOpen,
}

impl CircuitState {
    /// The stored form (`closed`, `open`, `half_open`).
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// The circuit as the integration's events recorded it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Circuit {
    /// The state.
    pub state: CircuitState,
    /// When it entered that state; `None` for a circuit never moved.
    pub since: Option<DateTime<Utc>>,
}

/// When a breaker moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerRules {
    /// Consecutive failures of a closed circuit that open it.
    pub failures_to_open: u32,
    /// How long an open circuit refuses calls before it half-opens.
    pub open_for: Duration,
    /// Consecutive successes of a half-open circuit that close it.
    pub successes_to_close: u32,
}

impl Default for BreakerRules {
    /// Opens after 5 consecutive failures, half-opens after 60 s, closes
    /// after 3 successes.
    fn default() -> Self {
        BreakerRules {
            failures_to_open: 5,
            open_for: Duration::from_secs(60),
            successes_to_close: 3,
        }
    }
}

/// A change of state, the only thing a breaker's keeper records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transition {
    /// The circuit opened.
    Opened {
        /// When.
        at: DateTime<Utc>,
        /// The consecutive failures that opened it (the rule's count from
        /// closed, 1 from half-open).
        failures: u32,
    },
    /// The open period ended; calls go out on trial.
    HalfOpened {
        /// When.
        at: DateTime<Utc>,
    },
    /// Enough trial calls succeeded.
    Closed {
        /// When.
        at: DateTime<Utc>,
    },
}

impl Transition {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match *self {
            Transition::Opened { at, .. }
            | Transition::HalfOpened { at }
            | Transition::Closed { at } => at,
        }
    }

    /// The state it leads to.
    pub fn to(&self) -> CircuitState {
        match self {
            Transition::Opened { .. } => CircuitState::Open,
            Transition::HalfOpened { .. } => CircuitState::HalfOpen,
            Transition::Closed { .. } => CircuitState::Closed,
        }
    }

    /// The circuit once it is recorded.
    pub fn circuit(&self) -> Circuit {
        Circuit {
            state: self.to(),
            since: Some(self.at()),
        }
    }
}

/// One integration's breaker: its state and the counters that move it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaker {
    rules: BreakerRules,
    state: CircuitState,
    /// When the current state began (the open period runs from here).
    since: Option<DateTime<Utc>>,
    /// Consecutive failures while closed.
    failures: u32,
    /// Consecutive successes while half-open.
    successes: u32,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(rules: BreakerRules) -> Breaker {
        Breaker::restore(rules, Circuit::default())
    }

    /// A breaker in the recorded state, with its counters at zero.
    pub fn restore(rules: BreakerRules, circuit: Circuit) -> Breaker {
        Breaker {
            rules,
            state: circuit.state,
            since: circuit.since,
            failures: 0,
            successes: 0,
        }
    }

    /// The current state (an open breaker whose period is over reads open
    /// until a call is admitted).
    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// The state and when it began.
    pub fn circuit(&self) -> Circuit {
        Circuit {
            state: self.state,
            since: self.since,
        }
    }

    /// Whether a call may go out at `now`; `Err` holds how long the open
    /// circuit still refuses calls.
    pub fn allows(&self, now: DateTime<Utc>) -> Result<(), Duration> {
        match self.reopens_in(now) {
            Some(wait) if !wait.is_zero() => Err(wait),
            _ => Ok(()),
        }
    }

    /// Lets a call go out at `now` or refuses it (`Err`: the time left
    /// until the circuit half-opens). An open circuit whose period is over
    /// half-opens here, and says so.
    pub fn admit(&mut self, now: DateTime<Utc>) -> Result<Option<Transition>, Duration> {
        self.allows(now)?;
        if self.state != CircuitState::Open {
            return Ok(None);
        }
        Ok(Some(self.enter(Transition::HalfOpened { at: now })))
    }

    /// Counts a call that succeeded; a half-open circuit closes after
    /// enough of them. A late answer to a call admitted before the circuit
    /// opened changes nothing.
    pub fn record_success(&mut self, now: DateTime<Utc>) -> Option<Transition> {
        match self.state {
            CircuitState::Closed => {
                self.failures = 0;
                None
            }
            CircuitState::Open => None,
            CircuitState::HalfOpen => {
                self.successes += 1;
                (self.successes >= self.rules.successes_to_close)
                    .then(|| self.enter(Transition::Closed { at: now }))
            }
        }
    }

    /// Counts a call that failed; a closed circuit opens after enough of
    /// them in a row, a half-open one at the first.
    pub fn record_failure(&mut self, now: DateTime<Utc>) -> Option<Transition> {
        match self.state {
            CircuitState::Closed => {
                self.failures += 1;
                (self.failures >= self.rules.failures_to_open).then(|| {
                    let failures = self.failures;
                    self.enter(Transition::Opened { at: now, failures })
                })
            }
            CircuitState::Open => None,
            CircuitState::HalfOpen => Some(self.enter(Transition::Opened {
                at: now,
                failures: 1,
            })),
        }
    }

    /// For an open circuit, the time left until it half-opens (zero once
    /// due); `None` otherwise. An open circuit with no recorded start is
    /// due at once.
    fn reopens_in(&self, now: DateTime<Utc>) -> Option<Duration> {
        if self.state != CircuitState::Open {
            return None;
        }
        let Some(since) = self.since else {
            return Some(Duration::ZERO);
        };
        let elapsed = (now - since).to_std().unwrap_or(Duration::ZERO);
        Some(self.rules.open_for.saturating_sub(elapsed))
    }

    fn enter(&mut self, transition: Transition) -> Transition {
        self.state = transition.to();
        self.since = Some(transition.at());
        self.failures = 0;
        self.successes = 0;
        transition
    }
}

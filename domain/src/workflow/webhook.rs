//! The webhook trigger of a workflow: the public id in its URL and the
//! sealed secrets that sign its deliveries.
//!
//! Rotating the secret keeps the earlier ones valid for a grace window, so
//! a sender can move to the new secret without losing deliveries (it may
//! sign with both meanwhile). The window is a fact of the rotation event:
//! this module reads no clock, every time comes in as an argument.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::IdError;
use crate::integration::SealedSecret;

/// The longest grace window of earlier secrets after a rotation: 7 days.
pub const MAX_WEBHOOK_GRACE_SECONDS: u32 = 7 * 24 * 3600;
/// The grace window when the caller names none: 24 hours.
pub const DEFAULT_WEBHOOK_GRACE_SECONDS: u32 = 24 * 3600;
/// Most secrets a trigger keeps: the current one and the newest earlier
/// ones still in their grace window. A fifth rotation within one window
/// retires the oldest secret early.
pub const MAX_WEBHOOK_SECRETS: usize = 4;

/// The public id of a webhook trigger: the `{triggerId}` of
/// `POST /webhooks/{triggerId}`. Random, and distinct from the workflow id,
/// so the URL reveals nothing and can be changed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookTriggerId(pub Uuid);

impl WebhookTriggerId {
    /// A fresh random (UUID v4) id: unguessable, unlike a time-ordered one.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for WebhookTriggerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for WebhookTriggerId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self).map_err(|_| IdError {
            kind: "webhook trigger",
            input: s.to_owned(),
        })
    }
}

/// A workflow's webhook trigger, as folded from its rotations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookTrigger {
    trigger_id: WebhookTriggerId,
    /// Oldest first; the last one is the current secret.
    secrets: Vec<WebhookSecret>,
}

/// One secret of a trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSecret {
    /// The secret, sealed by the command layer.
    pub secret: SealedSecret,
    /// Until when it signs valid deliveries; `None` for the current secret.
    pub valid_until: Option<DateTime<Utc>>,
}

impl WebhookTrigger {
    /// The id in the trigger's URL.
    pub fn trigger_id(&self) -> WebhookTriggerId {
        self.trigger_id
    }

    /// The secrets that sign valid deliveries at `now`, newest first.
    pub fn secrets_valid_at(&self, now: DateTime<Utc>) -> impl Iterator<Item = &SealedSecret> {
        self.secrets
            .iter()
            .rev()
            .filter(move |s| s.valid_until.is_none_or(|until| now < until))
            .map(|s| &s.secret)
    }

    /// Whether the trigger holds any secret at all.
    pub(super) fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// The trigger after a rotation at `rotated_at`: `secret` becomes the
    /// current one, every earlier secret ends at `previous_valid_until` at
    /// the latest (at once when `None`), the ones already over are dropped,
    /// and only the newest [`MAX_WEBHOOK_SECRETS`] are kept.
    pub(super) fn rotated(
        previous: Option<WebhookTrigger>,
        trigger_id: WebhookTriggerId,
        secret: SealedSecret,
        rotated_at: DateTime<Utc>,
        previous_valid_until: Option<DateTime<Utc>>,
    ) -> WebhookTrigger {
        let end = previous_valid_until.unwrap_or(rotated_at);
        let mut secrets: Vec<WebhookSecret> = previous
            .map(|trigger| trigger.secrets)
            .unwrap_or_default()
            .into_iter()
            .map(|mut earlier| {
                let until = earlier.valid_until.map_or(end, |until| until.min(end));
                earlier.valid_until = Some(until);
                earlier
            })
            .filter(|earlier| earlier.valid_until.is_some_and(|until| rotated_at < until))
            .collect();
        secrets.push(WebhookSecret {
            secret,
            valid_until: None,
        });
        let excess = secrets.len().saturating_sub(MAX_WEBHOOK_SECRETS);
        secrets.drain(..excess);
        WebhookTrigger {
            trigger_id,
            secrets,
        }
    }
}

/// The first empty field of a sealed secret, if any (all four are needed to
/// open it).
pub(super) fn empty_field(secret: &SealedSecret) -> Option<&'static str> {
    [
        ("key_id", &secret.key_id),
        ("algorithm", &secret.algorithm),
        ("nonce", &secret.nonce),
        ("ciphertext", &secret.ciphertext),
    ]
    .into_iter()
    .find(|(_, value)| value.trim().is_empty())
    .map(|(field, _)| field)
}

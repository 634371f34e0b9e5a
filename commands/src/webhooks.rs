//! Webhook deliveries on the write side: the workflow's own state decides
//! whether a trigger id is current and which secrets sign for it; the
//! delivery's signature is checked against those secrets, unsealed only
//! here; only an [`AuthenticatedDelivery`] starts an execution, once per
//! delivery id.
//!
//! Which workflow a trigger id names comes from the caller (the
//! `webhook_triggers` read model); it is only an index: the aggregate must
//! agree, so a stale row can never let an old trigger id in.

use auth::webhook::{verify, SignatureError, SIGNATURE_HEADER};
use auth::Secret;
use chrono::{DateTime, Utc};
use domain::execution::ExecutionTrigger;
use domain::ids::{TenantId, WorkflowId};
use domain::workflow::{Trigger, WebhookTriggerId, Workflow};
use serde_json::Value;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::error::CommandError;
use crate::executions::StartExecution;
use crate::reads;
use crate::service::{CommandOutcome, Commands};
use crate::workflows::secret_error;

/// One delivery to `POST /webhooks/{triggerId}`, as received.
#[derive(Debug)]
pub struct WebhookDelivery<'a> {
    /// The id in the URL.
    pub trigger_id: WebhookTriggerId,
    /// The workflow the trigger index names for it.
    pub workflow_id: WorkflowId,
    /// The raw body, exactly as signed.
    pub body: &'a [u8],
    /// The `X-Jobsprint-Signature` header, if sent.
    pub signature: Option<&'a str>,
    /// The receiving time, for the signature's tolerance and the secrets'
    /// grace windows.
    pub now: DateTime<Utc>,
    /// How far the signature's timestamp may be from `now`, in seconds.
    pub tolerance_secs: i64,
}

/// A delivery whose signature checked out, for a workflow that runs on
/// webhooks. Only [`Commands::authenticate_webhook`] makes one, so nothing
/// starts from a delivery that was not checked.
#[derive(Debug)]
pub struct AuthenticatedDelivery {
    tenant_id: TenantId,
    workflow_id: WorkflowId,
    trigger_id: WebhookTriggerId,
}

impl AuthenticatedDelivery {
    /// The workflow the delivery starts.
    pub fn workflow_id(&self) -> WorkflowId {
        self.workflow_id
    }
}

/// Why a delivery started nothing.
#[derive(Debug, thiserror::Error)]
pub enum WebhookRefusal {
    /// No current trigger has this id, or its workflow does not run on
    /// webhooks: one answer, so nothing leaks about other workflows.
    #[error("no webhook trigger with this id; check the URL")]
    UnknownTrigger,
    /// The delivery carries no signature header.
    #[error(
        "the {SIGNATURE_HEADER} header is missing; sign the raw body with the trigger's secret"
    )]
    MissingSignature,
    /// The signature does not check out.
    #[error("{0}")]
    BadSignature(SignatureError),
    /// The workflow or its secrets could not be read.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// Derives the command id of a delivery: its retries are answered from the
/// command log as duplicates. Never change the namespace.
const DELIVERY_NAMESPACE: Uuid = Uuid::from_u128(0x3f2c_9d1a_7b4e_4c60_a5d8_0e9b_61f2_c7a4);

impl Commands {
    /// Checks a delivery: the trigger id must be the workflow's current
    /// one, some secret valid now must have signed the body, and the
    /// published version (if any) must run on webhooks.
    pub async fn authenticate_webhook(
        &self,
        delivery: &WebhookDelivery<'_>,
    ) -> Result<AuthenticatedDelivery, WebhookRefusal> {
        let workflow = self
            .load_workflow(&delivery.workflow_id.to_string())
            .await?;
        let current = workflow
            .webhook()
            .is_some_and(|trigger| trigger.trigger_id() == delivery.trigger_id);
        let Some(tenant_id) = workflow.tenant_id().filter(|_| current) else {
            return Err(WebhookRefusal::UnknownTrigger);
        };
        self.check_signature(&workflow, delivery).await?;
        if !self
            .runs_on_webhooks(&workflow, delivery.workflow_id)
            .await?
        {
            return Err(WebhookRefusal::UnknownTrigger);
        }
        Ok(AuthenticatedDelivery {
            tenant_id,
            workflow_id: delivery.workflow_id,
            trigger_id: delivery.trigger_id,
        })
    }

    /// Starts an execution of the delivery's workflow with `input`. A
    /// delivery id seen before answers the first start again (`duplicate`)
    /// and starts nothing; an unpublished or archived workflow is refused.
    pub async fn start_from_webhook(
        &self,
        delivery: AuthenticatedDelivery,
        input: Value,
        delivery_id: Option<String>,
        trace_id: String,
    ) -> Result<CommandOutcome, CommandError> {
        let AuthenticatedDelivery {
            tenant_id,
            workflow_id,
            trigger_id,
        } = delivery;
        let mut ctx = CommandContext::new(tenant_id, format!("webhook:{trigger_id}"));
        ctx.trace_id = trace_id;
        let idempotency_key = delivery_id.as_ref().map(|id| format!("webhook:{id}"));
        if let Some(key) = &idempotency_key {
            let name = format!("{tenant_id}/{workflow_id}/{key}");
            ctx.command_id = Some(Uuid::new_v5(&DELIVERY_NAMESPACE, name.as_bytes()));
        }
        let start = StartExecution {
            workflow_id,
            input,
            trigger: ExecutionTrigger::Webhook { delivery_id },
            idempotency_key,
        };
        self.start_execution(&ctx, start).await
    }

    /// Some secret valid now must have signed the body within the
    /// tolerance. A stale timestamp is reported only when a MAC matched.
    async fn check_signature(
        &self,
        workflow: &Workflow,
        delivery: &WebhookDelivery<'_>,
    ) -> Result<(), WebhookRefusal> {
        let header = delivery.signature.ok_or(WebhookRefusal::MissingSignature)?;
        let (Some(tenant), Some(trigger)) = (workflow.tenant_id(), workflow.webhook()) else {
            return Err(WebhookRefusal::UnknownTrigger);
        };
        let keys = self.webhook_keys()?;
        let mut refusal = SignatureError::Mismatch;
        for sealed in trigger.secrets_valid_at(delivery.now) {
            let plain = keys
                .open_webhook_secret(tenant, delivery.workflow_id, sealed)
                .await
                .map_err(secret_error)?;
            let secret = Secret::new(plain.expose());
            let checked = verify(
                &secret,
                delivery.body,
                header,
                delivery.now.timestamp(),
                delivery.tolerance_secs,
            );
            match checked {
                Ok(()) => return Ok(()),
                Err(SignatureError::Mismatch) => {}
                Err(SignatureError::OutsideTolerance) => refusal = SignatureError::OutsideTolerance,
                // The header itself is unusable: no other secret helps.
                Err(err) => return Err(WebhookRefusal::BadSignature(err)),
            }
        }
        Err(WebhookRefusal::BadSignature(refusal))
    }

    /// Whether the published version (if any) is started by webhooks. An
    /// unpublished or archived workflow passes here and is refused by the
    /// start itself, with its own message.
    async fn runs_on_webhooks(
        &self,
        workflow: &Workflow,
        id: WorkflowId,
    ) -> Result<bool, CommandError> {
        let Some(version) = workflow.published_version() else {
            return Ok(true);
        };
        let definition = reads::workflow_definition(&self.pool, id, version)
            .await?
            .ok_or_else(|| {
                CommandError::Internal(format!("version {version} of {id} is missing"))
            })?;
        Ok(matches!(definition.trigger, Trigger::Webhook))
    }
}

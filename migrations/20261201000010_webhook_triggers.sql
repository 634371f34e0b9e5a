-- Webhook triggers (docs/adr/0010-webhook-triggers.md).
--
-- Which workflow the trigger id of `POST /webhooks/{triggerId}` names,
-- folded by the `workflows` projection from WebhookSecretRotated (in the
-- same transaction as its checkpoint). It is only an index: the workflow
-- aggregate decides whether the id is still current and holds the sealed
-- secrets. No secret, sealed or plain, is kept here.
CREATE TABLE IF NOT EXISTS webhook_triggers (
    trigger_id  uuid        PRIMARY KEY,
    workflow_id uuid        NOT NULL UNIQUE,
    tenant_id   uuid        NOT NULL,
    rotated_at  timestamptz NOT NULL
);

//! Who sends a command, and the ids that tie it to its cause and its trace.

use domain::ids::TenantId;
use domain::metadata::EventMetadata;
use uuid::Uuid;

/// The envelope of facts every command carries into its events' metadata.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// The tenant the command acts in.
    pub tenant_id: TenantId,
    /// Who sent it (a user id, a token id, `system:engine`, ...).
    pub actor: String,
    /// Client-chosen id: the same id sent twice is applied once.
    pub command_id: Option<Uuid>,
    /// The business flow this command belongs to; defaults to the command id.
    pub correlation_id: Option<Uuid>,
    /// The message that caused this command; defaults to the command id.
    pub causation_id: Option<Uuid>,
    /// The request trace this command runs in.
    pub trace_id: String,
    /// Where the request came from, when it came over HTTP.
    pub client_ip: Option<String>,
    /// The requesting client's user agent, when it sent one.
    pub user_agent: Option<String>,
}

impl CommandContext {
    /// A context for `actor` in `tenant_id`, with fresh ids.
    pub fn new(tenant_id: TenantId, actor: impl Into<String>) -> Self {
        Self {
            tenant_id,
            actor: actor.into(),
            command_id: None,
            correlation_id: None,
            causation_id: None,
            trace_id: Uuid::new_v4().simple().to_string(),
            client_ip: None,
            user_agent: None,
        }
    }

    /// The same context with a client-chosen command id.
    pub fn with_command_id(mut self, command_id: Option<Uuid>) -> Self {
        self.command_id = command_id;
        self
    }

    /// The same context with the origin of the request that sends it (the
    /// audit log's "from where").
    pub fn with_origin(mut self, client_ip: Option<String>, user_agent: Option<String>) -> Self {
        self.client_ip = client_ip;
        self.user_agent = user_agent;
        self
    }

    pub(crate) fn metadata(&self, command_id: Uuid) -> EventMetadata {
        EventMetadata {
            tenant_id: self.tenant_id,
            actor: self.actor.clone(),
            command_id,
            correlation_id: self.correlation_id.unwrap_or(command_id),
            causation_id: self.causation_id.unwrap_or(command_id),
            trace_id: self.trace_id.clone(),
            client_ip: self.client_ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

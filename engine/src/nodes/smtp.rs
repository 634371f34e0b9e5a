//! The `send_email` action of an `smtp` integration, with lettre.
//!
//! The integration's config gives `host`, optionally `port`, `security`
//! (`starttls`, the default, on port 587; `tls`, implicit TLS on 465; or
//! `none` on 25), `from` (the default sender) and `timeout_ms` (30 s); its
//! credentials `{"username", "password"}` when the server wants a login.
//! The step's parameters are `to` (an address, a comma-separated list or a
//! list), `subject`, `text`, optionally `html` (sent as the alternative to
//! `text`) and `from`. The Message-ID derives from the step, so a retry
//! sends the same message id.
//!
//! The host goes through the egress policy like an HTTP call: a denied
//! name or an address it refuses is never connected to, and the connection
//! goes to the address that was checked (the host name only names the TLS
//! certificate expected).

use std::net::SocketAddr;
use std::time::Duration;

use egress::EgressPolicy;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials as Login;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{json, Value};

use super::access::{CallError, Connection, Remote};
use super::NodeFailure;

/// Bound on the whole exchange unless the integration sets `timeout_ms`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One email ready to send. Holds the login: never `Debug`.
pub(super) struct Email {
    message: Message,
    message_id: String,
    recipients: Vec<String>,
    host: String,
    port: u16,
    security: Security,
    login: Option<Login>,
    timeout: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Security {
    StartTls,
    Tls,
    None,
}

impl Email {
    /// The email the step's rendered `config` describes, to be sent through
    /// the integration of `connection`.
    pub(super) fn build(
        connection: &Connection,
        config: &Value,
        key: &str,
    ) -> Result<Email, NodeFailure> {
        let host = connection
            .setting("host")?
            .trim_matches(['[', ']'])
            .to_owned();
        let security = match connection.config.get("security").and_then(Value::as_str) {
            None | Some("starttls") => Security::StartTls,
            Some("tls") => Security::Tls,
            Some("none") => Security::None,
            Some(other) => {
                return Err(connection.misconfigured(format!(
                    "has an unknown 'security' \"{other}\"; use starttls, tls or none"
                )))
            }
        };
        let port = match connection.config.get("port") {
            None => match security {
                Security::StartTls => 587,
                Security::Tls => 465,
                Security::None => 25,
            },
            Some(port) => port
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| connection.misconfigured(format!("has an invalid 'port' {port}")))?,
        };
        let from = match config.get("from").and_then(Value::as_str) {
            Some(from) => from,
            None => connection.setting("from").map_err(|_| {
                connection.misconfigured("has no 'from' in its config and the step gives none")
            })?,
        };
        let from = mailbox("from", from)?;
        let recipients = recipients(config.get("to"))?;
        let message_id = message_id(key);
        let mut builder = Message::builder()
            .from(from)
            .subject(required(config, "subject")?)
            .message_id(Some(message_id.clone()));
        for recipient in &recipients {
            builder = builder.to(mailbox("to", recipient)?);
        }
        let text = required(config, "text")?;
        let message = match config.get("html").and_then(Value::as_str) {
            Some(html) => {
                builder.multipart(MultiPart::alternative_plain_html(text, html.to_owned()))
            }
            None => builder.singlepart(SinglePart::plain(text)),
        }
        .map_err(|err| NodeFailure::permanent(format!("the email cannot be built: {err}")))?;
        let login = match (
            connection.credentials.text("username"),
            connection.credentials.text("password"),
        ) {
            (Some(user), Some(password)) => Some(Login::new(user.to_owned(), password.to_owned())),
            _ => None,
        };
        let timeout = connection
            .config
            .get("timeout_ms")
            .and_then(Value::as_u64)
            .filter(|ms| *ms > 0)
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
        Ok(Email {
            message,
            message_id,
            recipients,
            host,
            port,
            security,
            login,
            timeout,
        })
    }

    /// Sends the email to the checked address of the integration's host.
    pub(super) async fn send(self, policy: &EgressPolicy) -> Result<Value, CallError> {
        let address = checked_address(&self.host, self.port, policy).await?;
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned()).map_err(|err| CallError {
                failure: NodeFailure::permanent(format!(
                    "TLS cannot be set up for {host:?}: {err}"
                )),
                remote: Remote::Unreached,
            })
        };
        let tls = match self.security {
            Security::StartTls => Tls::Required(tls(&self.host)?),
            Security::Tls => Tls::Wrapper(tls(&self.host)?),
            Security::None => Tls::None,
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address.ip().to_string())
                .port(address.port())
                .tls(tls)
                .timeout(Some(self.timeout));
        if let Some(login) = self.login {
            builder = builder.credentials(login);
        }
        let transport = builder.build();
        let sent = tokio::time::timeout(self.timeout, transport.send(self.message)).await;
        match sent {
            Ok(Ok(response)) => Ok(json!({
                "message_id": self.message_id,
                "to": self.recipients,
                "response": format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" ")),
            })),
            Ok(Err(err)) => Err(smtp_failure(&err)),
            Err(_) => Err(CallError {
                failure: retryable(format!(
                    "the SMTP server did not finish within {:?}",
                    self.timeout
                )),
                remote: Remote::Down,
            }),
        }
    }
}

/// The address to connect to: every address the host resolves to must be
/// allowed by the egress policy, as for an HTTP call.
async fn checked_address(
    host: &str,
    port: u16,
    policy: &EgressPolicy,
) -> Result<SocketAddr, CallError> {
    let refused = |detail: String| CallError {
        failure: NodeFailure::permanent(format!("refused to connect to {host:?}{detail}")),
        remote: Remote::Unreached,
    };
    if policy.is_denied_host(host) {
        return Err(refused(": the host name is denied".into()));
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|err| CallError {
            failure: retryable(format!("could not resolve {host:?}: {err}")),
            remote: Remote::Down,
        })?
        .collect();
    for address in &addresses {
        policy
            .check_address(address.ip(), Some(port))
            .map_err(|reason| refused(format!(" ({}): {reason}", address.ip())))?;
    }
    addresses.first().copied().ok_or_else(|| CallError {
        failure: retryable(format!("{host:?} resolves to no address")),
        remote: Remote::Down,
    })
}

/// 4xx replies, timeouts and network errors may pass; 5xx replies (a
/// refused login, an unknown mailbox) and client errors will not.
fn smtp_failure(err: &lettre::transport::smtp::Error) -> CallError {
    let message = format!("the SMTP server did not take the email: {err}");
    if err.is_permanent() || err.is_client() || err.is_response() {
        return CallError {
            failure: NodeFailure::permanent(message),
            remote: Remote::Up,
        };
    }
    CallError {
        failure: retryable(message),
        remote: Remote::Down,
    }
}

fn retryable(message: String) -> NodeFailure {
    NodeFailure {
        message,
        retryable: true,
        retry_after: None,
    }
}

fn recipients(to: Option<&Value>) -> Result<Vec<String>, NodeFailure> {
    let list: Vec<String> = match to {
        Some(Value::String(list)) => list.split(',').map(|a| a.trim().to_owned()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().unwrap_or_default().trim().to_owned())
            .collect(),
        _ => Vec::new(),
    };
    let list: Vec<String> = list.into_iter().filter(|a| !a.is_empty()).collect();
    if list.is_empty() {
        return Err(NodeFailure::permanent(
            "'to' must give at least one address",
        ));
    }
    Ok(list)
}

fn mailbox(field: &str, address: &str) -> Result<Mailbox, NodeFailure> {
    address.parse::<Mailbox>().map_err(|err| {
        NodeFailure::permanent(format!(
            "'{field}' has an invalid address \"{address}\": {err}"
        ))
    })
}

fn required(config: &Value, field: &str) -> Result<String, NodeFailure> {
    match config.get(field) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        _ => Err(NodeFailure::permanent(format!(
            "'{field}' is required (a non-empty string)"
        ))),
    }
}

/// `<execution.node@jobsprint>` from the step key, with only the
/// characters a message id may hold.
fn message_id(key: &str) -> String {
    let local: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '.'
            }
        })
        .collect();
    format!("<{}@jobsprint>", local.trim_matches('.'))
}

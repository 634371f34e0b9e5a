//! `send_email` through an `smtp` integration, against the stub SMTP
//! server: the conversation, the login, the message; refused replies; and
//! the egress guard on the SMTP host.

use base64::Engine as _;
use domain::workflow::NodeType;
use engine::nodes::NodeSettings;
use serde_json::{json, Value};
use sqlx::PgPool;

use super::stubs::SmtpStub;
use super::support::{test_config, Harness};
use super::{integration, node, permissive, run, step_context};

const PASSWORD: &str = "smtp-pw-7731";

fn smtp_config(port: u16) -> Value {
    json!({"host": "127.0.0.1", "port": port, "security": "none",
           "from": "Jobsprint <robot@example.com>"})
}

fn email(integration_id: &str) -> Value {
    json!({"integration_id": integration_id, "action": "send_email",
           "to": ["ada@example.com", "bob@example.com"], "subject": "Invoice {{ input.n }}",
           "text": "Your invoice is ready.", "html": "<p>Your invoice is ready.</p>"})
}

#[sqlx::test(migrations = "../migrations")]
async fn an_email_is_sent_with_the_integrations_login(pool: PgPool) {
    let h = Harness::start_with_secrets(pool, 0, test_config()).await;
    let smtp = SmtpStub::default();
    let port = smtp.serve().await;
    let mailer = integration(
        &h,
        &h.ctx,
        "smtp",
        smtp_config(port),
        Some(json!({"username": "robot", "password": PASSWORD})),
    )
    .await;
    let (id, context) = step_context(&h, json!({"n": 7})).await;
    let send = node("send", NodeType::Integration, email(&mailer.to_string()));
    let output = run(&h.nodes(permissive()), &send, &context).await.unwrap();
    let message_id = format!("<{id}.send@jobsprint>");
    assert_eq!(
        output,
        json!({"message_id": message_id, "to": ["ada@example.com", "bob@example.com"],
               "response": "250 2.0.0 queued as 42"})
    );
    let sessions = smtp.sessions();
    assert_eq!(sessions.len(), 1);
    let session = &sessions[0];
    let login = base64::engine::general_purpose::STANDARD.encode(format!("\0robot\0{PASSWORD}"));
    let verbs: Vec<&str> = session
        .commands
        .iter()
        .map(|c| c.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        verbs,
        ["EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]
    );
    assert_eq!(session.commands[1], format!("AUTH PLAIN {login}"));
    assert!(session.commands[2].starts_with("MAIL FROM:<robot@example.com>"));
    assert_eq!(session.commands[3], "RCPT TO:<ada@example.com>");
    assert_eq!(session.commands[4], "RCPT TO:<bob@example.com>");
    let data = &session.data;
    for part in [
        "Subject: Invoice 7",
        "From: Jobsprint <robot@example.com>",
        "To: ada@example.com, bob@example.com",
        &format!("Message-ID: {message_id}"),
        "multipart/alternative",
        "Your invoice is ready.",
        "<p>Your invoice is ready.</p>",
    ] {
        assert!(
            data.contains(part),
            "{part:?} is not in the message:\n{data}"
        );
    }
    super::assert_not_in_events(&h.pool, PASSWORD).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn refused_recipients_fail_for_good_and_busy_servers_are_retried(pool: PgPool) {
    let h = Harness::start_with_secrets(pool, 0, test_config()).await;
    let (_, context) = step_context(&h, json!({"n": 1})).await;
    let nodes = h.nodes(permissive());
    for (reply, retryable) in [
        ("550 5.1.1 no such user here", false),
        ("451 4.3.0 try again later", true),
    ] {
        let smtp = SmtpStub::rejecting_recipients(reply);
        let port = smtp.serve().await;
        let mailer = integration(&h, &h.ctx, "smtp", smtp_config(port), None).await;
        let send = node("send", NodeType::Integration, email(&mailer.to_string()));
        let failure = run(&nodes, &send, &context).await.unwrap_err();
        assert_eq!(failure.retryable, retryable, "{reply}: {failure:?}");
        assert!(
            failure
                .message
                .starts_with("the SMTP server did not take the email:"),
            "{}",
            failure.message
        );
        let code = &reply[..3];
        assert!(failure.message.contains(code), "{}", failure.message);
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_egress_guard_refuses_private_smtp_and_api_hosts(pool: PgPool) {
    let h = Harness::start_with_secrets(pool, 0, test_config()).await;
    let smtp = SmtpStub::default();
    let port = smtp.serve().await;
    let mailer = integration(&h, &h.ctx, "smtp", smtp_config(port), None).await;
    let api = integration(
        &h,
        &h.ctx,
        "http_api",
        json!({"base_url": format!("http://127.0.0.1:{port}")}),
        None,
    )
    .await;
    let (_, context) = step_context(&h, json!({"n": 1})).await;
    let guarded = h.nodes(NodeSettings::default());
    let send = node("send", NodeType::Integration, email(&mailer.to_string()));
    let failure = run(&guarded, &send, &context).await.unwrap_err();
    assert!(!failure.retryable);
    assert!(
        failure
            .message
            .starts_with("refused to connect to \"127.0.0.1\" (127.0.0.1):"),
        "{}",
        failure.message
    );
    let request = node(
        "get",
        NodeType::Integration,
        json!({"integration_id": api.to_string(), "action": "request"}),
    );
    let failure = run(&guarded, &request, &context).await.unwrap_err();
    assert!(
        !failure.retryable && failure.message.starts_with("refused to connect"),
        "{failure:?}"
    );
    assert_eq!(smtp.connections(), 0, "nothing reached the server");
    assert_eq!(
        guarded.breakers().unwrap().state(api),
        Some(domain::integration::CircuitState::Closed),
        "a refused call says nothing about the remote side"
    );
}

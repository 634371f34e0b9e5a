//! Execution subscriptions over a real WebSocket (`graphql-transport-ws`):
//! authenticated like HTTP, fed by the projection's notifications, never
//! showing another tenant's execution.

use std::time::Duration;

use commands::CommandContext;
use domain::execution::ExecutionCommand;
use domain::ids::{ExecutionId, TenantId};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::support::*;
use super::{app_with_workflow, start};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const UPDATED: &str = "subscription($id: ID!) {
  executionUpdated(id: $id) { id status version steps { nodeId status } } }";
const CHANGED: &str = "subscription($workflow: ID!) {
  executionsChanged(workflowId: $workflow) { id status } }";

/// Opens `/graphql/ws` with `header` as its Authorization header.
async fn open(app: &TestApp, header: Option<&str>) -> Socket {
    let url = format!("{}/graphql/ws", app.base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    if let Some(header) = header {
        headers.insert("Authorization", header.parse().unwrap());
    }
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next protocol message within `wait`: `Some(json)`, or
/// `Some({"closed": code})` when the server closes; `None` on time-out.
async fn next(socket: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        let message = match tokio::time::timeout(wait, socket.next()).await {
            Err(_) => return None,
            Ok(None) | Ok(Some(Err(_))) => return Some(json!({"closed": null})),
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => return Some(serde_json::from_str(text.as_str()).unwrap()),
            Message::Close(frame) => {
                return Some(json!({"closed": frame.map(|f| u16::from(f.code))}))
            }
            _ => continue,
        }
    }
}

/// A socket that completed `connection_init` with `payload`.
async fn connected(app: &TestApp, header: Option<&str>, payload: Value) -> Socket {
    let mut socket = open(app, header).await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": payload}),
    )
    .await;
    let ack = next(&mut socket, Duration::from_secs(10)).await;
    assert_eq!(ack, Some(json!({"type": "connection_ack"})));
    socket
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    let payload = json!({"query": query, "variables": variables});
    send(
        socket,
        json!({"type": "subscribe", "id": id, "payload": payload}),
    )
    .await;
}

/// Runs `command` on execution `id` as the engine would.
async fn drive(app: &TestApp, id: &str, command: ExecutionCommand) {
    let tenant: TenantId = app.tenant.tenant_id.parse().unwrap();
    let ctx = CommandContext::new(tenant, "engine");
    let id = ExecutionId(id.parse().unwrap());
    app.identity
        .commands()
        .execute_execution(&ctx, id, command, None)
        .await
        .unwrap();
}

fn schedule(node: &str) -> ExecutionCommand {
    ExecutionCommand::ScheduleStep {
        node_id: node.into(),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn subscriptions_follow_projected_changes_of_their_own_tenant_only(pool: PgPool) {
    let (app, workflow) = app_with_workflow(pool).await;
    let (id, _) = start(&app, &workflow).await;
    let bearer = format!("Bearer {}", app.tenant.admin_token);
    // Token in connection_init for A; in the upgrade header for B.
    let mut a = connected(&app, None, json!({"Authorization": bearer})).await;
    let other = app.new_tenant("Tenant B").await;
    let other_bearer = format!("Bearer {}", other.admin_token);
    let mut b = connected(&app, Some(&other_bearer), json!({})).await;
    subscribe(&mut a, "1", UPDATED, json!({"id": id})).await;
    subscribe(&mut a, "2", CHANGED, json!({"workflow": workflow})).await;
    subscribe(&mut b, "1", UPDATED, json!({"id": id})).await;
    subscribe(&mut b, "2", CHANGED, json!({"workflow": workflow})).await;

    // A subscription starts listening when the server runs its resolver,
    // a moment after the message: change the execution until one arrives.
    let mut update = None;
    for node in ["n1", "n2", "n3", "n4", "n5"] {
        drive(&app, &id, schedule(node)).await;
        if let Some(message) = next(&mut a, Duration::from_secs(3)).await {
            update = Some(message);
            break;
        }
    }
    let update = update.expect("executionUpdated after a projected change");
    assert_eq!(update["type"], "next", "{update}");
    let execution = if update["id"] == "1" {
        update["payload"]["data"]["executionUpdated"].clone()
    } else {
        update["payload"]["data"]["executionsChanged"].clone()
    };
    assert_eq!(execution["id"], json!(id), "{update}");
    assert_eq!(execution["status"], "RUNNING");

    // A cancellation reaches both of A's subscriptions, as it is after it.
    let cancelled = app
        .gql(
            "mutation($id: ID!) { cancelExecution(input: {id: $id}) { position } }",
            json!({"id": id}),
        )
        .await;
    assert!(cancelled["errors"].is_null(), "{cancelled}");
    let mut seen = (false, false);
    while seen != (true, true) {
        let message = next(&mut a, Duration::from_secs(10))
            .await
            .expect("both subscriptions see the cancellation");
        let data = &message["payload"]["data"];
        if data["executionUpdated"]["status"] == "CANCELLED" {
            assert!(!data["executionUpdated"]["steps"]
                .as_array()
                .unwrap()
                .is_empty());
            seen.0 = true;
        }
        if data["executionsChanged"]["status"] == "CANCELLED" {
            assert_eq!(data["executionsChanged"]["id"], json!(id));
            seen.1 = true;
        }
    }
    // B, of another tenant, saw nothing of it.
    assert_eq!(next(&mut b, Duration::from_millis(500)).await, None);

    // A new execution of the workflow reaches executionsChanged.
    let (newer, _) = start(&app, &workflow).await;
    let message = next(&mut a, Duration::from_secs(10)).await.unwrap();
    assert_eq!(message["id"], "2", "{message}");
    assert_eq!(
        message["payload"]["data"]["executionsChanged"]["id"],
        json!(newer)
    );
    assert_eq!(next(&mut b, Duration::from_millis(300)).await, None);
}

#[sqlx::test(migrations = "../migrations")]
async fn sockets_authenticate_like_http(pool: PgPool) {
    let (app, _) = app_with_workflow(pool).await;
    // A credential that does not check out refuses the connection.
    let mut bad = open(&app, None).await;
    let payload = json!({"Authorization": "Bearer jsp_at_not-a-real-token"});
    send(
        &mut bad,
        json!({"type": "connection_init", "payload": payload}),
    )
    .await;
    let refused = next(&mut bad, Duration::from_secs(10)).await.unwrap();
    assert!(refused.get("closed").is_some(), "{refused}");

    // Anonymous sockets connect, but subscribing needs a credential.
    let mut anonymous = connected(&app, None, json!({})).await;
    let id = uuid::Uuid::now_v7().to_string();
    subscribe(&mut anonymous, "1", UPDATED, json!({"id": id})).await;
    let error = next(&mut anonymous, Duration::from_secs(10)).await.unwrap();
    assert_eq!(error["id"], "1", "{error}");
    let code = &error["payload"]["errors"][0]["extensions"]["code"];
    assert_eq!(code, "UNAUTHENTICATED", "{error}");
}

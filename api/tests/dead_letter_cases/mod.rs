//! `projectionDeadLetters` and `retryDeadLetter`: admins of the event's tenant only;
//! a retry applies the dead letter once its cause is fixed.

use domain::access::Role;
use serde_json::json;
use sqlx::PgPool;

use super::support::*;
use super::*;

const DEAD_LETTERS: &str = "query($projection: String) { projectionDeadLetters(projection: $projection) {
  edges { node { id projection position aggregateType aggregateId sequence eventType error attempts } } } }";
const RETRY: &str = "mutation($id: ID!) { retryDeadLetter(id: $id) { id projection position } }";

#[sqlx::test(migrations = "../migrations")]
async fn an_admin_retries_a_dead_letter_once_its_cause_is_fixed(pool: PgPool) {
    let app = app(pool.clone()).await;
    let admin = app.tenant.admin_token.clone();
    // A read-model rule the event breaks: the statement is refused, so the
    // event is poison and the projection stops on it.
    sqlx::query("ALTER TABLE integrations ADD CONSTRAINT test_no_poison CHECK (name <> 'Poison')")
        .execute(&pool)
        .await
        .unwrap();
    let (id, at) = register(&app, &admin, "Poison", "slack").await;
    let stale = app
        .gql_as(Some(&admin), INTEGRATION, json!({"id": id, "at": at}))
        .await;
    assert_eq!(error_code(&stale), "STALE", "{stale}");
    let letters = app
        .gql_as(
            Some(&admin),
            DEAD_LETTERS,
            json!({"projection": "integrations"}),
        )
        .await;
    let letter = &edges(&letters, "projectionDeadLetters")[0]["node"];
    assert_eq!(
        (&letter["aggregateId"], &letter["eventType"]),
        (&json!(id), &json!("IntegrationRegistered"))
    );
    assert_eq!(letter["position"], at);
    assert!(!letters.to_string().contains(SECRET), "{letters}");
    let letter_id = letter["id"].clone();

    let user = app.user_token(&app.tenant, Role::User).await;
    assert_eq!(
        error_code(
            &app.gql_as(Some(&user), RETRY, json!({"id": letter_id}))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&app.gql_as(Some(&user), DEAD_LETTERS, json!({})).await),
        "FORBIDDEN"
    );
    let other = app.new_tenant("Tenant B").await;
    let foreign = app
        .gql_as(Some(&other.admin_token), RETRY, json!({"id": letter_id}))
        .await;
    assert_eq!(error_code(&foreign), "NOT_FOUND");
    let foreign_list = app
        .gql_as(Some(&other.admin_token), DEAD_LETTERS, json!({}))
        .await;
    assert!(edges(&foreign_list, "projectionDeadLetters").is_empty());
    assert_eq!(
        error_code(&app.gql(RETRY, json!({"id": "987654321"})).await),
        "NOT_FOUND"
    );
    assert_eq!(
        error_code(&app.gql(RETRY, json!({"id": "not-a-number"})).await),
        "VALIDATION"
    );
    let still = app.gql(RETRY, json!({"id": letter_id})).await;
    assert_eq!(
        error_code(&still),
        "INVALID_STATE",
        "the cause is not fixed yet: {still}"
    );

    sqlx::query("ALTER TABLE integrations DROP CONSTRAINT test_no_poison")
        .execute(&pool)
        .await
        .unwrap();
    let retried = app.gql(RETRY, json!({"id": letter_id})).await;
    assert_eq!(
        retried["data"]["retryDeadLetter"]["projection"], "integrations",
        "{retried}"
    );
    let read = app
        .gql_as(Some(&admin), INTEGRATION, json!({"id": id, "at": at}))
        .await;
    assert_eq!(read["data"]["integration"]["name"], "Poison", "{read}");
    let (later, later_at) = register(&app, &admin, "After", "slack").await;
    let read = app
        .gql_as(
            Some(&admin),
            INTEGRATION,
            json!({"id": later, "at": later_at}),
        )
        .await;
    assert_eq!(
        read["data"]["integration"]["name"], "After",
        "the projection runs again: {read}"
    );
    let letters = app.gql(DEAD_LETTERS, json!({})).await;
    assert!(
        edges(&letters, "projectionDeadLetters").is_empty(),
        "{letters}"
    );
    assert_eq!(
        error_code(&app.gql(RETRY, json!({"id": letter_id})).await),
        "NOT_FOUND"
    );
}

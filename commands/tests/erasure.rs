//! Erasure by crypto-shredding against a real database: users' emails and
//! display names are sealed under per-subject keys in `events` and
//! `snapshots` (the relay's records: jobsprint/tests/erasure_records.rs),
//! load in plain text, and read as placeholders once `erase_subject`
//! destroyed the key; other users are unaffected and the events
//! themselves never change.

use std::sync::Arc;

use auth::jwt::{JwtConfig, JwtService, SigningKey};
use auth::tokens::generate_secret;
use auth::Secret;
use chrono::Utc;
use commands::cache::AggregateCache;
use commands::event_store::SnapshotStore;
use commands::identity::{Authenticated, Identity, IdentityConfig};
use commands::personal::{erased_email, ERASED_DISPLAY_NAME};
use commands::secrets::data_keys::DataKeys;
use commands::secrets::erasure::{erase_subject, EraseError};
use commands::secrets::master::MasterKeys;
use commands::secrets::subject_keys::SubjectKeys;
use commands::store::EventRepository;
use commands::{CommandConfig, Commands};
use cqrs_es::EventStore;
use domain::access::{Principal, Role};
use domain::identity::User;
use domain::ids::{TenantId, UserId};
use sqlx::PgPool;

const PASSWORD: &str = "correct horse battery staple";
const ADMIN_EMAIL: &str = "ada.lovelace@example.com";
const MEMBER_EMAIL: &str = "grace.hopper@example.com";
const MEMBER_NAME: &str = "Grace Canary Hopper";

/// One server: a command layer sealing with `keys`, snapshots every 2 events.
fn server(pool: &PgPool, keys: &Arc<DataKeys>) -> Identity {
    let commands = Arc::new(Commands::new(
        pool.clone(),
        CommandConfig {
            snapshot_every: 2,
            secrets: Some(keys.clone()),
            ..CommandConfig::default()
        },
    ));
    let config = JwtConfig::new(
        "jobsprint",
        "jobsprint-api",
        vec![SigningKey::new("k", generate_secret())],
        "k",
        JwtConfig::DEFAULT_TTL,
        JwtConfig::DEFAULT_LEEWAY,
    )
    .unwrap();
    Identity::new(commands, JwtService::new(config), IdentityConfig::default())
}

/// A user as a freshly started process loads it (no cached key or state).
async fn load(pool: &PgPool, keys: &Arc<DataKeys>, user: UserId) -> User {
    let subject_keys = Arc::new(SubjectKeys::new(pool.clone(), Some(keys.clone())));
    let store = SnapshotStore::<User>::new(
        EventRepository::sealing(pool.clone(), subject_keys),
        2,
        Arc::new(AggregateCache::new(0)),
    );
    store
        .load_aggregate(&user.to_string())
        .await
        .unwrap()
        .aggregate
}

/// Every row of `events` and `snapshots` as text.
async fn stored_text(pool: &PgPool) -> (String, String) {
    let events = sqlx::query_scalar(
        "SELECT coalesce(string_agg(e::text, '\n' ORDER BY e.global_position), '') FROM events e",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let snapshots = sqlx::query_scalar(
        "SELECT coalesce(string_agg(s::text, '\n' ORDER BY s.aggregate_id), '') FROM snapshots s",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    (events, snapshots)
}

fn assert_no_plaintext(text: &str, what: &str) {
    for personal in [
        ADMIN_EMAIL,
        MEMBER_EMAIL,
        "ada.lovelace",
        "grace.hopper",
        "Canary",
    ] {
        assert!(!text.contains(personal), "{what} shows {personal:?}");
    }
}

/// A tenant with an admin (created) and a member (invited, registered).
async fn tenant(identity: &Identity) -> (TenantId, UserId, UserId) {
    let made = identity
        .create_tenant("T", ADMIN_EMAIL, Some(&Secret::new(PASSWORD)))
        .await
        .unwrap();
    let admin = Authenticated {
        tenant_id: made.tenant_id,
        principal: Principal::User {
            user_id: made.user_id,
            role: Role::Admin,
        },
        session_id: None,
    };
    let invitation = identity
        .invite_user(&admin, MEMBER_EMAIL, Role::User, "t", Utc::now())
        .await
        .unwrap();
    identity
        .register(
            &invitation.token,
            MEMBER_NAME,
            &Secret::new(PASSWORD),
            "t",
            Utc::now(),
        )
        .await
        .unwrap();
    (made.tenant_id, made.user_id, invitation.user_id)
}

#[sqlx::test(migrations = "../migrations")]
async fn personal_data_is_sealed_then_erased_with_its_key(pool: PgPool) {
    let keys = Arc::new(DataKeys::new(pool.clone(), MasterKeys::generate("k1")));
    let identity = server(&pool, &keys);
    let (tenant_id, admin_id, member_id) = tenant(&identity).await;

    // Nothing personal in any stored row; the member has a snapshot.
    let (events, snapshots) = stored_text(&pool).await;
    assert_no_plaintext(&events, "events");
    assert_no_plaintext(&snapshots, "snapshots");
    let sealed_invitation: String = sqlx::query_scalar(
        "SELECT payload -> 'UserInvited' -> 'email' -> 'sealed' ->> 'key_id' FROM events
          WHERE event_type = 'UserInvited' AND aggregate_id = $1",
    )
    .bind(member_id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(sealed_invitation.starts_with("sk-"), "{sealed_invitation}");
    let member_snapshots: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM snapshots WHERE aggregate_type = 'User' AND aggregate_id = $1",
    )
    .bind(member_id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(member_snapshots, 1);

    // Loads (snapshot plus events) see plain values; sign-in works.
    let member = load(&pool, &keys, member_id).await;
    assert_eq!(member.email().map(|e| e.as_str()), Some(MEMBER_EMAIL));
    assert_eq!(member.display_name(), MEMBER_NAME);
    identity
        .login(
            tenant_id,
            MEMBER_EMAIL,
            &Secret::new(PASSWORD),
            "t",
            Utc::now(),
        )
        .await
        .expect("the member signs in");

    let (events, _) = stored_text(&pool).await;
    let erasure = erase_subject(&pool, tenant_id, member_id).await.unwrap();
    assert!(erasure.erased && erasure.key_destroyed && !erasure.already_erased);
    assert_eq!(erasure.subject, member_id.to_string());
    assert_eq!(erasure.snapshots_deleted, 1);

    // The events are exactly as they were; the member's key is gone.
    assert_eq!(stored_text(&pool).await.0, events);
    let wrapped: Option<String> =
        sqlx::query_scalar("SELECT wrapped_key FROM subject_keys WHERE subject_id = $1")
            .bind(member_id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(wrapped, None);

    // The member loads with placeholders; the admin is untouched.
    let member = load(&pool, &keys, member_id).await;
    let placeholder = erased_email(&member_id.to_string());
    assert_eq!(
        member.email().map(|e| e.as_str()),
        Some(placeholder.as_str())
    );
    assert_eq!(member.display_name(), ERASED_DISPLAY_NAME);
    assert_eq!(member.role(), Some(Role::User));
    let admin = load(&pool, &keys, admin_id).await;
    assert_eq!(admin.email().map(|e| e.as_str()), Some(ADMIN_EMAIL));
    assert_eq!(admin.display_name(), "Administrator");

    // A second erasure changes nothing and says so.
    let again = erase_subject(&pool, tenant_id, member_id).await.unwrap();
    assert!(again.erased && again.already_erased && !again.key_destroyed);
    assert_eq!(again.erased_at, erasure.erased_at);
    assert_eq!(again.snapshots_deleted, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_erased_user_keeps_working_without_personal_data(pool: PgPool) {
    let keys = Arc::new(DataKeys::new(pool.clone(), MasterKeys::generate("k1")));
    let (tenant_id, admin_id, member_id) = tenant(&server(&pool, &keys)).await;
    erase_subject(&pool, tenant_id, member_id).await.unwrap();

    // A restarted server changes the erased member's role: the new
    // snapshot holds placeholders only.
    let identity = server(&pool, &keys);
    let admin = Authenticated {
        tenant_id,
        principal: Principal::User {
            user_id: admin_id,
            role: Role::Admin,
        },
        session_id: None,
    };
    identity
        .change_role(&admin, member_id, Role::Viewer, None, "t")
        .await
        .unwrap();
    let (events, snapshots) = stored_text(&pool).await;
    assert_no_plaintext(&events, "events");
    assert_no_plaintext(&snapshots, "snapshots");
    assert!(snapshots.contains(&erased_email(&member_id.to_string())));
    let member = load(&pool, &keys, member_id).await;
    assert_eq!(member.role(), Some(Role::Viewer));
    assert_eq!(member.display_name(), ERASED_DISPLAY_NAME);

    // Re-inviting the erased address would record it again: refused.
    let invited = identity
        .invite_user(&admin, MEMBER_EMAIL, Role::User, "t", Utc::now())
        .await;
    assert!(invited.is_err(), "an erased subject is not written again");
    assert_no_plaintext(&stored_text(&pool).await.0, "events");
}

#[sqlx::test(migrations = "../migrations")]
async fn only_the_users_own_tenant_erases_it(pool: PgPool) {
    let keys = Arc::new(DataKeys::new(pool.clone(), MasterKeys::generate("k1")));
    let identity = server(&pool, &keys);
    let (tenant_id, _, member_id) = tenant(&identity).await;
    let other = identity
        .create_tenant("Other", "someone@example.org", None)
        .await
        .unwrap();

    for (tenant, user) in [
        (other.tenant_id, member_id),
        (tenant_id, UserId(uuid::Uuid::new_v4())),
    ] {
        let refused = erase_subject(&pool, tenant, user).await.unwrap_err();
        assert!(matches!(refused, EraseError::NotFound { .. }), "{refused}");
        assert_eq!(
            refused.to_string(),
            format!("user {user} does not exist in tenant {tenant}")
        );
    }
    let erased_at: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT erased_at FROM subject_keys WHERE subject_id = $1")
            .bind(member_id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(erased_at, None, "a refused erasure changed nothing");
    let member = load(&pool, &keys, member_id).await;
    assert_eq!(member.display_name(), MEMBER_NAME);
}

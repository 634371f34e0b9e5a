//! Identity across processes: two `Identity` instances over one database
//! stand in for two servers. Revocations reach the other server within the
//! directory's trust time; API tokens never outlive or outrank their creator;
//! bootstrap happens once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth::jwt::{JwtConfig, JwtService, SigningKey};
use auth::tokens::generate_secret;
use auth::Secret;
use chrono::Utc;
use commands::identity::{Authenticated, Identity, IdentityConfig};
use commands::{CommandConfig, Commands};
use domain::access::{Permission, Principal, Role, Scope};
use domain::ids::TenantId;
use sqlx::PgPool;

const PASSWORD: &str = "correct horse battery staple";

fn jwt(secret: &Secret) -> JwtService {
    let config = JwtConfig::new(
        "jobsprint",
        "jobsprint-api",
        vec![SigningKey::new("k", secret.clone())],
        "k",
        JwtConfig::DEFAULT_TTL,
        JwtConfig::DEFAULT_LEEWAY,
    )
    .unwrap();
    JwtService::new(config)
}

/// Two servers sharing a database and a signing key.
fn servers(pool: &PgPool, ttl: Duration) -> (Identity, Identity) {
    let key = generate_secret();
    let config = IdentityConfig {
        directory_ttl: ttl,
        ..IdentityConfig::default()
    };
    let server = || {
        let commands = Arc::new(Commands::new(pool.clone(), CommandConfig::default()));
        Identity::new(commands, jwt(&key), config.clone())
    };
    (server(), server())
}

fn admin_of(tenant_id: TenantId, user_id: domain::ids::UserId) -> Authenticated {
    Authenticated {
        tenant_id,
        principal: Principal::User {
            user_id,
            role: Role::Admin,
        },
        session_id: None,
    }
}

/// Polls `check` until it holds or `limit` passes; how long it took.
async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

#[sqlx::test(migrations = "../migrations")]
async fn a_logout_on_one_server_reaches_the_other_within_the_trust_time(pool: PgPool) {
    let ttl = Duration::from_millis(300);
    let (a, b) = servers(&pool, ttl);
    let made = a
        .create_tenant("T", "admin@example.com", Some(&Secret::new(PASSWORD)))
        .await
        .unwrap();
    let tokens = a
        .login(
            made.tenant_id,
            "admin@example.com",
            &Secret::new(PASSWORD),
            "t",
            Utc::now(),
        )
        .await
        .unwrap();
    let access = tokens.access_token.expose().to_owned();
    let caller = b
        .authenticate(&access, Utc::now())
        .await
        .expect("server b accepts the token");

    a.logout(&caller, "t").await.unwrap();
    assert!(
        a.authenticate(&access, Utc::now()).await.is_err(),
        "at once on the server that logged out"
    );
    let took = eventually(Duration::from_secs(5), async || {
        b.authenticate(&access, Utc::now()).await.is_err()
    })
    .await
    .expect("server b refuses the token in the end");
    // Bounded by the trust time (plus slack for a loaded machine): the
    // promise is "within 60 s", configured as 30 s.
    assert!(
        took <= ttl + Duration::from_secs(2),
        "refused after {took:?}, trust time {ttl:?}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn api_tokens_never_outrank_or_outlive_their_creator(pool: PgPool) {
    let (server, _) = servers(&pool, Duration::ZERO);
    let made = server
        .create_tenant("T", "admin@example.com", None)
        .await
        .unwrap();
    let admin = admin_of(made.tenant_id, made.user_id);

    // An admin member creates an admin:all token...
    let invitation = server
        .invite_user(&admin, "ops@example.com", Role::Admin, "t", Utc::now())
        .await
        .unwrap();
    let ops = server
        .register(
            &invitation.token,
            "Ops",
            &Secret::new(PASSWORD),
            "t",
            Utc::now(),
        )
        .await
        .unwrap();
    let ops_caller = server
        .authenticate(ops.access_token.expose(), Utc::now())
        .await
        .unwrap();
    let token = server
        .create_api_token(
            &ops_caller,
            "deploy",
            vec![Scope::AdminAll, Scope::WriteWorkflows],
            None,
            "t",
        )
        .await
        .unwrap();
    let as_token = server
        .authenticate(token.token.expose(), Utc::now())
        .await
        .unwrap();
    assert!(as_token.allows(Permission::ManageMembers));

    // ...is demoted: the token keeps only what a `user` could grant...
    server
        .change_role(&admin, ops.user_id, Role::User, None, "t")
        .await
        .unwrap();
    let as_token = server
        .authenticate(token.token.expose(), Utc::now())
        .await
        .unwrap();
    assert!(!as_token.allows(Permission::ManageMembers));
    assert!(as_token.allows(Permission::WriteWorkflows));

    // ...and is disabled: the token stops working.
    server.disable_user(&admin, ops.user_id, "t").await.unwrap();
    assert!(server
        .authenticate(token.token.expose(), Utc::now())
        .await
        .is_err());

    // A `user` cannot mint what it does not hold.
    let invitation = server
        .invite_user(&admin, "dev@example.com", Role::User, "t", Utc::now())
        .await
        .unwrap();
    let dev = server
        .register(
            &invitation.token,
            "Dev",
            &Secret::new(PASSWORD),
            "t",
            Utc::now(),
        )
        .await
        .unwrap();
    let dev_caller = server
        .authenticate(dev.access_token.expose(), Utc::now())
        .await
        .unwrap();
    let err = server
        .create_api_token(&dev_caller, "x", vec![Scope::AdminAll], None, "t")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("admin:all"), "{err}");
}

#[sqlx::test(migrations = "../migrations")]
async fn bootstrap_happens_once_even_when_raced(pool: PgPool) {
    let (a, b) = servers(&pool, Duration::ZERO);
    let (first, second) = tokio::join!(
        a.bootstrap("One", "one@example.com", None),
        b.bootstrap("Two", "two@example.com", None),
    );
    assert!(
        first.is_ok() != second.is_ok(),
        "exactly one bootstrap wins: {first:?} / {second:?}"
    );
    let err = a
        .bootstrap("Three", "three@example.com", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already bootstrapped"), "{err}");
    let tenants: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'TenantCreated'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tenants, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn passwords_follow_the_policy_and_wrong_ones_fail_alike(pool: PgPool) {
    let (server, _) = servers(&pool, Duration::ZERO);
    let err = server
        .create_tenant("T", "a@example.com", Some(&Secret::new("short")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("12"), "{err}");
    let made = server
        .create_tenant("T", "a@example.com", Some(&Secret::new(PASSWORD)))
        .await
        .unwrap();
    let wrong_password = server
        .login(
            made.tenant_id,
            "a@example.com",
            &Secret::new("not the password"),
            "t",
            Utc::now(),
        )
        .await
        .unwrap_err();
    let unknown_user = server
        .login(
            made.tenant_id,
            "nobody@example.com",
            &Secret::new(PASSWORD),
            "t",
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        wrong_password.to_string(),
        unknown_user.to_string(),
        "no hint of who exists"
    );
}

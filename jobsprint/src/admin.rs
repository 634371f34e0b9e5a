//! `jobsprint admin`: operator tasks that run once and exit.

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use commands::secrets::data_keys::DataKeys;
use commands::secrets::erasure::erase_subject;
use commands::secrets::generate_key;
use domain::ids::{TenantId, UserId};

use commands::identity::{Identity, IdentityConfig};

use crate::config::{DatabaseArgs, MasterKeyArgs};

/// Operator tasks.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// Creates the first tenant and its admin on a fresh installation, and
    /// prints (once) an `admin:all` API token as JSON. Refused once any
    /// tenant exists. The admin's password is read from standard input with
    /// --password-stdin; without it the admin has no usable password and
    /// signs in through the token.
    Bootstrap(TenantArgs),
    /// Creates another tenant with its admin, printed like `bootstrap`.
    CreateTenant(TenantArgs),
    /// Re-wraps every tenant data key under the active master key.
    ///
    /// The active key is JOBSPRINT_MASTER_KEY_ID; every key that wraps a data
    /// key today must still be in JOBSPRINT_MASTER_KEYS. Safe while servers
    /// run (give them both keys first) and safe to repeat. Prints one line:
    /// data keys re-wrapped, and already current.
    RotateKey(RotateKeyArgs),
    /// Prints a fresh random 32-byte key as base64, for JOBSPRINT_MASTER_KEYS.
    GenerateKey,
    /// Erases a user's personal data by destroying its key (crypto-shredding).
    ///
    /// Their email and display name, sealed in events, snapshots, Kafka
    /// records and exports, no longer open anywhere: they read as
    /// placeholders. Their snapshots are deleted; events are never changed,
    /// so the hash chain still verifies. Refuses a user of another tenant;
    /// safe to repeat. Prints JSON: subject, erased, erased_at, ...
    EraseSubject(EraseSubjectArgs),
}

/// Settings of `jobsprint admin erase-subject`.
#[derive(Args)]
pub struct EraseSubjectArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The user's tenant (a UUID).
    #[arg(long)]
    pub tenant: TenantId,
    /// The user to erase (their user id, a UUID).
    #[arg(long)]
    pub user: UserId,
}

/// Settings of `jobsprint admin bootstrap` and `create-tenant`.
#[derive(Args)]
pub struct TenantArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The tenant's display name.
    #[arg(long)]
    pub tenant_name: String,
    /// The admin's email (their sign-in name).
    #[arg(long)]
    pub email: String,
    /// Read the admin's password from standard input (at least 12 characters).
    #[arg(long)]
    pub password_stdin: bool,
    /// Seal the admin's email and name as `serve` does (without master
    /// keys they are stored unsealed and cannot be erased by key).
    #[command(flatten)]
    pub keys: MasterKeyArgs,
}

/// Settings of `jobsprint admin rotate-key`.
#[derive(Args)]
pub struct RotateKeyArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub keys: MasterKeyArgs,
}

/// Runs one admin task.
pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Bootstrap(args) => create_tenant(args, true).await,
        AdminCommand::CreateTenant(args) => create_tenant(args, false).await,
        AdminCommand::RotateKey(args) => rotate_key(args).await,
        AdminCommand::EraseSubject(args) => erase(args).await,
        AdminCommand::GenerateKey => {
            println!("{}", generate_key().expose());
            Ok(())
        }
    }
}

async fn rotate_key(args: RotateKeyArgs) -> anyhow::Result<()> {
    crate::telemetry::init(args.database.log_format);
    let master = args.keys.master_keys()?.context(
        "no master keys are configured: set JOBSPRINT_MASTER_KEYS and JOBSPRINT_MASTER_KEY_ID",
    )?;
    let pool = crate::connect(&args.database).await?;
    commands::migrate::run(&pool)
        .await
        .context("migrating the database")?;
    let report = DataKeys::new(pool, master)
        .rotate_master_key()
        .await
        .context("rotating the master key (rows re-wrapped so far stay re-wrapped; run again)")?;
    println!("{report}");
    Ok(())
}

async fn erase(args: EraseSubjectArgs) -> anyhow::Result<()> {
    crate::telemetry::init(args.database.log_format);
    let pool = crate::connect(&args.database).await?;
    commands::migrate::run(&pool)
        .await
        .context("migrating the database")?;
    let erasure = erase_subject(&pool, args.tenant, args.user)
        .await
        .context("erasing the subject (nothing was changed)")?;
    println!("{}", serde_json::to_string(&erasure)?);
    eprintln!(
        "Deleted {} snapshot row(s) of this user. Events are unchanged (append-only, \
         hash-chained); the personal data they hold is ciphertext no key opens any more. \
         Running servers stop opening it within {} s.",
        erasure.snapshots_deleted,
        commands::secrets::subject_keys::KEY_TTL.as_secs()
    );
    if !erasure.key_destroyed && !erasure.already_erased {
        eprintln!(
            "This user had no key: what was stored of them unsealed (written without \
             master keys) reads as erased from now on but is still in the events table."
        );
    }
    Ok(())
}

async fn create_tenant(args: TenantArgs, first: bool) -> anyhow::Result<()> {
    crate::telemetry::init(args.database.log_format);
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        Some(auth::Secret::new(line.trim_end_matches(['\r', '\n'])))
    } else {
        None
    };
    let pool = crate::connect(&args.database).await?;
    commands::migrate::run(&pool)
        .await
        .context("migrating the database")?;
    let config = commands::CommandConfig {
        secrets: args
            .keys
            .master_keys()?
            .map(|master| Arc::new(DataKeys::new(pool.clone(), master))),
        ..commands::CommandConfig::default()
    };
    let commands = Arc::new(commands::Commands::new(pool, config));
    // Creating a tenant signs no access token; the key is never used.
    let identity = Identity::new(
        commands,
        crate::access::ephemeral_service(),
        IdentityConfig::default(),
    );
    let made = if first {
        identity
            .bootstrap(&args.tenant_name, &args.email, password.as_ref())
            .await
    } else {
        identity
            .create_tenant(&args.tenant_name, &args.email, password.as_ref())
            .await
    }
    .map_err(|err| anyhow::anyhow!("{err}"))?;
    let printed = serde_json::json!({
        "tenant_id": made.tenant_id.to_string(),
        "user_id": made.user_id.to_string(),
        "api_token_id": made.api_token_id.to_string(),
        "api_token": made.api_token.expose(),
    });
    println!("{printed}");
    eprintln!(
        "Keep the api_token: it is shown this once. Use it as `Authorization: Bearer <api_token>`."
    );
    Ok(())
}

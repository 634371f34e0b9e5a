//! `jobsprint admin`: operator tasks that run once and exit.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use commands::secrets::data_keys::DataKeys;
use commands::secrets::generate_key;

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
    let commands = std::sync::Arc::new(commands::Commands::new(pool, Default::default()));
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

//! `trustloop token`: API tokens of the gateway — create (printed once), revoke, list.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_serve::gateway::tokens::{Role, TokenStore};

use crate::cli::OutputArgs;

/// Arguments of `trustloop token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    what: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it on standard output — the only time it is shown (only its
    /// SHA-256 is stored). Its id, tenant and roles go to standard error.
    Create {
        /// The tenant whose events the token writes and reads.
        #[arg(long)]
        tenant: String,
        /// Confine the token to one sub-service of the tenant: it writes events with this `source`
        /// only, and reads only those.
        #[arg(long)]
        service: Option<String>,
        /// What it may do (repeatable): `ingest` (post events), `read` (SQL, verdicts, replays),
        /// `admin` (both, and post policies and approvals).
        #[arg(long = "role", value_enum, required = true)]
        roles: Vec<RoleArg>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Revoke a token by its id: every gateway refuses it within a second.
    Revoke {
        /// The token's id (the 16 hex digits after `tl_`, as `create` and `list` show it).
        id: String,
    },
    /// List the tokens (ids, tenants, roles, revocations; never secrets).
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// A token's role, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RoleArg {
    /// Write events of its tenant (`POST /v1/events/{topic}`).
    Ingest,
    /// Read its tenant's events: SQL, verdicts, replays.
    Read,
    /// Everything `ingest` and `read` may, for its tenant.
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Ingest => Role::Ingest,
            RoleArg::Read => Role::Read,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// Runs `trustloop token`.
pub async fn run(backend_args: &BackendConfig, args: TokenArgs) -> Result<ExitCode> {
    let backend = Backend::open(backend_args).await?;
    let store = TokenStore::open(backend.log.clone()).await.context("cannot read the tokens")?;
    match args.what {
        TokenCommand::Create { tenant, service, roles, output } => {
            let roles: Vec<Role> = roles.into_iter().map(Role::from).collect();
            let (info, token) = store.create(&tenant, service.as_deref(), &roles).await?;
            if output.json {
                let mut v = serde_json::to_value(&info)?;
                v["token"] = serde_json::Value::String(token);
                println!("{v}");
            } else {
                let roles: Vec<String> = info.roles.iter().map(ToString::to_string).collect();
                eprintln!(
                    "token {} for tenant {}{} with role(s) {}: shown once, store it now",
                    info.id,
                    info.tenant,
                    info.service.as_deref().map(|s| format!(", service {s}")).unwrap_or_default(),
                    roles.join(", ")
                );
                println!("{token}");
            }
        }
        TokenCommand::Revoke { id } => {
            store.revoke(&id).await?;
            eprintln!("token {id} revoked");
        }
        TokenCommand::List { output } => {
            let tokens = store.list();
            if output.json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                for t in tokens {
                    let roles: Vec<String> = t.roles.iter().map(ToString::to_string).collect();
                    println!(
                        "{}  tenant={}{}  roles={}{}",
                        t.id,
                        t.tenant,
                        t.service.as_deref().map(|s| format!(" service={s}")).unwrap_or_default(),
                        roles.join(","),
                        if t.revoked_ms.is_some() { "  REVOKED" } else { "" }
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

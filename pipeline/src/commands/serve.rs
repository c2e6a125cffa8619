//! `trustloop serve`: the HTTP gateway ([`trustloop_serve::gateway`]) on its own, without the operators.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use tokio::sync::oneshot;

use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::ops::Ops;
use trustloop_runtime::snapshot::state_dir;
use trustloop_serve::gateway::Gateway;
use trustloop_serve::server::Server;

use crate::args::GatewayArgs;

/// How long open requests may take to finish once a stop signal came.
const GRACE: Duration = Duration::from_secs(10);

/// Arguments of `trustloop serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (`HOST:PORT`; port 0 picks a free one). The address is printed on
    /// standard error once the gateway listens.
    #[arg(long, env = "TRUSTLOOP_LISTEN", default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// Snapshots that replays start from (default: the embedded log's `snapshots/`; with Kafka,
    /// none unless given).
    #[arg(long, env = "TRUSTLOOP_STATE_DIR", value_name = "DIR")]
    state_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    gateway: GatewayArgs,
}

/// Runs the gateway until SIGINT or SIGTERM.
pub async fn run(backend_args: &BackendConfig, args: ServeArgs) -> Result<ExitCode> {
    let backend = Arc::new(Backend::open(backend_args).await?);
    let state_dir = state_dir(backend_args, args.state_dir.as_deref(), false);
    let gateway = Arc::new(Gateway::new(backend, &args.gateway.options()?, &args.listen, state_dir).await?);
    let background = gateway.spawn_background();
    let ops = Ops::new();
    ops.set_ready();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = Server::start_router(&args.listen, gateway.router(ops), async {
        let _ = stopped.await;
    })
    .await?;
    eprintln!("trustloop serve: listening on http://{}", server.local_addr());
    trustloop_runtime::supervisor::shutdown().await;
    gateway.close();
    let _ = stop.send(());
    let outcome = server.stopped(GRACE).await;
    drop(background);
    outcome?;
    Ok(ExitCode::SUCCESS)
}

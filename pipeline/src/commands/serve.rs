//! `trustloop serve`: the HTTP gateway ([`crate::gateway`]) on its own, without the operators.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use tokio::sync::oneshot;

use crate::backend::{Backend, BackendArgs};
use crate::gateway::{Gateway, GatewayArgs};
use crate::ops::Ops;
use crate::ops::server::Server;

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
pub async fn run(backend_args: &BackendArgs, args: ServeArgs) -> Result<ExitCode> {
    let backend = Arc::new(Backend::open(backend_args).await?);
    let state_dir =
        args.state_dir.or_else(|| backend_args.brokers.is_none().then(|| backend_args.data.join("snapshots")));
    let gateway = Arc::new(Gateway::new(backend, &args.gateway, &args.listen, state_dir).await?);
    let background = gateway.spawn_background();
    let ops = Ops::new();
    ops.set_ready();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = Server::start_router(&args.listen, gateway.router(ops), async {
        let _ = stopped.await;
    })
    .await?;
    eprintln!("trustloop serve: listening on http://{}", server.local_addr());
    super::run::shutdown().await;
    gateway.close();
    let _ = stop.send(());
    let outcome = server.stopped(GRACE).await;
    drop(background);
    outcome?;
    Ok(ExitCode::SUCCESS)
}

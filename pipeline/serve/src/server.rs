//! The HTTP server of the operations endpoints (axum, HTTP/1.1):
//!
//! - `GET /healthz` — 200 while the process runs;
//! - `GET /readyz` — 200 once every stage has caught up with the log at least once, else 503 and why;
//! - `GET /metrics` — the Prometheus text exposition ([`trustloop_runtime::ops::prometheus`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use trustloop_runtime::error::{Context, Result};

use trustloop_runtime::ops::{Ops, prometheus};

/// More metrics for `/metrics`: Prometheus text appended to the runtime's.
pub type ExtraMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// The routes, reading `ops`.
pub fn router(ops: Ops) -> Router {
    router_with(ops, None)
}

/// The routes, reading `ops`; `/metrics` also says what `extra` renders.
pub fn router_with(ops: Ops, extra: Option<ExtraMetrics>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state((ops, extra))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State((ops, _)): State<(Ops, Option<ExtraMetrics>)>) -> Response {
    match ops.snapshot().not_ready_reason() {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")).into_response(),
    }
}

async fn metrics(State((ops, extra)): State<(Ops, Option<ExtraMetrics>)>) -> Response {
    let mut text = prometheus::render(&ops.snapshot());
    if let Some(extra) = extra {
        text.push_str(&extra());
    }
    ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], text).into_response()
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds `addr` (`HOST:PORT`; port 0 picks a free one) and serves the endpoints on a task of
    /// their own until `stop` resolves; then it stops accepting and lets open requests finish.
    pub async fn start(addr: &str, ops: Ops, stop: impl Future<Output = ()> + Send + 'static) -> Result<Server> {
        Server::start_router(addr, router(ops), stop).await
    }

    /// [`Server::start`] serving `router`.
    pub async fn start_router(
        addr: &str,
        router: Router,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Server> {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr().context("the listener's address")?;
        let task = tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(stop).await });
        tracing::debug!(%addr, "serving HTTP");
        Ok(Server { addr, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits, at most `grace`, for the server to stop (its `stop` future must have resolved); one
    /// that has not stopped by then is aborted.
    pub async fn stopped(mut self, grace: Duration) -> Result<()> {
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(Ok(served)) => served.context("serving the operations endpoints"),
            Ok(Err(join)) => Err(join).context("the operations endpoints' task failed"),
            Err(_) => {
                self.task.abort();
                tracing::warn!(addr = %self.addr, ?grace, "the operations endpoints did not stop in time: aborted");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    #[tokio::test]
    async fn endpoints_answer_and_the_server_stops_with_its_signal() {
        let ops = Ops::new();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = Server::start("127.0.0.1:0", ops.clone(), async {
            let _ = stopped.await;
        })
        .await
        .expect("start");
        let addr = server.local_addr();

        assert_eq!(get(addr, "/healthz").await.0, 200);
        let (status, _, body) = get(addr, "/readyz").await;
        assert_eq!(status, 503);
        assert!(body.starts_with("not ready: starting"), "{body}");
        ops.set_ready();
        assert_eq!(get(addr, "/readyz").await.0, 200);
        let (status, head, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(head.contains("content-type: text/plain; version=0.0.4"), "{head}");
        assert!(body.lines().any(|l| l == "trustloop_ready 1"), "{body}");
        assert_eq!(get(addr, "/nothing").await.0, 404);

        stop.send(()).expect("the server is running");
        server.stopped(Duration::from_secs(5)).await.expect("a clean stop");
        assert!(TcpStream::connect(addr).await.is_err(), "nothing listens after the stop");
    }
}

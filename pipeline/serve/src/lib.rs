//! trustloop's services: what answers over HTTP and SQL, over what `trustloop-runtime` runs. It
//! never calls the command line: `trustloop serve`, `trustloop run --listen` and `trustloop views`
//! are thin commands over it.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`gateway`] | the HTTP gateway: event ingestion, SQL, verdicts, replays, the Schema Registry subset, the dashboard |
//! | [`server`] | the HTTP server and the operations endpoints (`/healthz`, `/readyz`, `/metrics`) |
//! | [`sql`] | SQL over the event history (DataFusion): every topic a table; answers as CSV or JSON |
//! | [`views`] | materialized views of the derived streams in SQLite or PostgreSQL (sqlx) |

pub mod gateway;
pub mod server;
pub mod sql;
pub mod views;

//! `trustloop topics`: topics, partitions and end offsets.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::cli::OutputArgs;
use trustloop_runtime::backend::{Backend, BackendConfig};

/// Arguments of `trustloop topics`.
#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    output: OutputArgs,
}

/// Lists every topic with its partitions and their start and end offsets.
pub async fn run(backend_args: &BackendConfig, args: TopicsArgs) -> Result<ExitCode> {
    let backend = Backend::open(backend_args).await?;
    let mut topics = backend.log.list_topics().await?;
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let mut rows = Vec::new();
    for t in &topics {
        let offsets = backend.log.offsets(&t.name).await?;
        let events: i64 = offsets.iter().map(|o| o.end - o.start).sum();
        rows.push((t, offsets, events));
    }
    if args.output.json {
        let json: Vec<_> = rows
            .iter()
            .map(|(t, offsets, events)| {
                serde_json::json!({
                    "topic": t.name,
                    "partitions": t.partitions,
                    "events": events,
                    "end_offsets": offsets.iter().map(|o| o.end).collect::<Vec<_>>(),
                    "start_offsets": offsets.iter().map(|o| o.start).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("{:<16} {:>10} {:>12}  end offsets", "TOPIC", "PARTITIONS", "EVENTS");
        for (t, offsets, events) in rows {
            let ends: Vec<String> = offsets.iter().map(|o| o.end.to_string()).collect();
            println!("{:<16} {:>10} {:>12}  {}", t.name, t.partitions, events, ends.join(" "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `trustloop consume --topic T`: a topic's events as JSON lines.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use trustloop_connectors::log::{StoredRecord, TopicPartitionOffset};

use trustloop_runtime::backend::{Backend, BackendConfig};

/// Arguments of `trustloop consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// The topic to read.
    #[arg(long, short = 't')]
    pub topic: String,
    /// Start at the first retained event (default: the group's committed position, or the end).
    #[arg(long)]
    pub from_beginning: bool,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// Consumer group: start from its committed offsets (a new group starts at the beginning) and
    /// commit what was printed.
    #[arg(long, short = 'g', value_name = "GROUP")]
    pub group: Option<String>,
    /// Keep waiting for new events instead of stopping at the end of the log.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

/// Prints events as JSON lines; undecodable records are reported on stderr (exit status 1).
pub async fn run(backend_args: &BackendConfig, args: ConsumeArgs) -> Result<ExitCode> {
    let backend = Backend::open(backend_args).await?;
    let log = &backend.log;
    let offsets = log.offsets(&args.topic).await.with_context(|| format!("topic {}", args.topic))?;
    let committed = match &args.group {
        Some(g) => log.committed_offsets(g, &args.topic).await?,
        None => vec![None; offsets.len()],
    };
    let mut next: Vec<i64> = offsets
        .iter()
        .zip(&committed)
        .map(|(o, c)| match (args.from_beginning, c, &args.group) {
            (true, _, _) => o.start,
            (false, Some(c), _) => (*c).max(o.start),
            (false, None, Some(_)) => o.start,
            (false, None, None) => o.end,
        })
        .collect();
    if !args.follow && args.group.is_none() && !args.from_beginning {
        eprintln!("note: starting at the end of {}; pass --from-beginning to read what is there", args.topic);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printed = 0u64;
    let mut undecodable = 0u64;
    let max = args.max.unwrap_or(u64::MAX);
    'outer: loop {
        let mut progressed = false;
        for (partition, pos) in next.iter_mut().enumerate() {
            let want = (max - printed).min(10_000) as usize;
            // A follower polls: nothing yet and the end are both "nothing now" (the read contract);
            // offsets with nothing to read (transaction markers) are stepped over.
            let batch = log.read(&args.topic, partition as u32, *pos, want).await?;
            if batch.records.is_empty() {
                *pos = (*pos).max(batch.next_offset);
                continue;
            }
            progressed = true;
            for record in &batch.records {
                match render(&backend, record) {
                    Ok(line) => writeln!(out, "{line}")?,
                    Err(e) => {
                        undecodable += 1;
                        eprintln!("{}/{}@{}: undecodable: {e:#}", record.topic, record.partition, record.offset);
                    }
                }
                *pos = record.offset + 1;
                printed += 1;
                if printed >= max {
                    break;
                }
            }
            if printed < max {
                *pos = (*pos).max(batch.next_offset);
            }
            out.flush()?;
            if let Some(g) = &args.group {
                let commit =
                    TopicPartitionOffset { topic: args.topic.clone(), partition: partition as u32, offset: *pos };
                log.commit_offsets(g, &[commit]).await?;
            }
            if printed >= max {
                break 'outer;
            }
        }
        if !progressed {
            if !args.follow {
                let ends = log.end_offsets(&args.topic).await?;
                if ends.iter().zip(&next).all(|(end, pos)| pos >= end) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    out.flush()?;
    Ok(if undecodable == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// One record as a JSON line: the event's JSON form plus its position in the log.
pub fn render(backend: &Backend, record: &StoredRecord) -> Result<String> {
    let event = backend.codec.decode(&record.value, &*backend.registry)?;
    let mut json = trustloop_schemas::json::event_to_json(&event);
    if let Some(obj) = json.as_object_mut() {
        obj.insert("_topic".into(), record.topic.as_ref().into());
        obj.insert("_partition".into(), record.partition.into());
        obj.insert("_offset".into(), record.offset.into());
        let log_time = chrono::DateTime::from_timestamp_millis(record.timestamp_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        obj.insert("_log_time".into(), log_time.into());
    }
    Ok(serde_json::to_string(&json)?)
}

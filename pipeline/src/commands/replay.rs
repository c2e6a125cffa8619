//! `trustloop replay`: reconstructs past decisions from the log, for audits.
//!
//! - `replay verdict EVENT_ID`: rebuilds the decision operator up to the verdict's recorded input
//!   frontier — from the newest snapshot at or before it, else from the start of the log — and
//!   compares the verdict it derives with the recorded one. Exit status 0 on a match, 1 on a
//!   mismatch.
//! - `replay --all --verify`: re-derives every output of every operator from the log and compares
//!   them all (see [`trustloop_runtime::verify`]).
//! - `replay --policy FILE [--with FILE…] [--shift DURATION]`, `replay --with FILE…`: what-if —
//!   history re-run under a candidate policy and with candidate feed inputs merged at their event
//!   times, compared with what was recorded (see [`trustloop_replay::whatif`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use trustloop_connectors::import::{any, kev};
use trustloop_replay::History;
use trustloop_replay::feed::Bounds;
use trustloop_replay::subject::subject_at;
use trustloop_replay::verdict::{VerdictReplay, by_kind};
use trustloop_replay::whatif::{Candidate, Conditions, duration_text, what_if as what_if_replay};
use trustloop_schemas::{Envelope, Event, EventId, EventTime, EventType, Policy, SubjectKind, derive_event_id};

use trustloop_runtime::audit::{Replayed, replay_any};
use trustloop_runtime::backend::{Backend, BackendConfig};
use trustloop_runtime::verify::{self, Verification};

use crate::cli::OutputArgs;

/// Arguments of `trustloop replay`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReplayArgs {
    /// What to replay.
    #[command(subcommand)]
    pub what: Option<ReplayCommand>,
    /// Re-derive every output of every operator (findings, trust scores, verdicts, actions and
    /// their lifecycle) from the log, as far as each operator's stage had committed.
    #[arg(long)]
    pub all: bool,
    /// With `--all`: compare each re-derived event with the recorded one (byte for byte, by their
    /// canonical encoding) and list every mismatch with its first differing field; exit status 1
    /// if there is any.
    #[arg(long, requires = "all")]
    pub verify: bool,
    /// What-if: re-run history under this candidate policy (YAML, as `policy apply` takes it) for
    /// `--tenant`: findings, trust scores and decisions are re-derived with the candidate in force
    /// from the start (instead of the tenant's recorded policies), and the subjects whose verdicts
    /// or requested actions would have differed are listed. Nothing is written.
    #[arg(long, value_name = "FILE", conflicts_with = "all")]
    pub policy: Option<PathBuf>,
    /// What-if with candidate inputs the log does not hold, merged into history at their own event
    /// times (with `--policy`, or under the recorded policies): CISA KEV catalogs (every entry
    /// listed at its dateAdded; what the log lists at the catalog's dateReleased and the catalog
    /// does not is taken back then, as importing it would), FIRST EPSS scores (.csv, .csv.gz), OSV advisories (.json, .yaml,
    /// .jsonl[.gz] history streams), CSAF advisories and VEX documents, files or directories; the
    /// kind of each is told by its name and content. A candidate comes just before the first
    /// recorded input that takes history's clock (the largest event time so far, in log order) past
    /// its event time; recorded inputs first on equal times; candidates among themselves by event
    /// time, then in the order given. A file with any bad part fails the command (with its place),
    /// before anything is re-run. Repeatable; several files after one `--with` work too.
    #[arg(long = "with", value_name = "FILE", num_args = 1.., conflicts_with = "all")]
    pub with: Vec<PathBuf>,
    /// Move every `--with` input's event time by this much: `-30d` (a month earlier), `+2w`,
    /// `-1d12h` (units ms, s, m, h, d, w; no sign: later). "Had this catalog arrived a month
    /// earlier": `--with kev.json --shift -30d`. Moved events get ids of their own.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, requires = "with")]
    pub shift: Option<String>,
    /// The tenant of `--policy` and `--with`: whose verdicts are compared, whose the candidate
    /// inputs are.
    #[arg(long, env = "TRUSTLOOP_TENANT", default_value = "default")]
    pub tenant: String,
    /// Compare only what happened at or after this event time (RFC 3339, e.g.
    /// `2026-03-03T00:00:00Z`); history before it is still replayed to rebuild the state.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// The things `trustloop replay` reconstructs.
#[derive(Debug, Subcommand)]
pub enum ReplayCommand {
    /// Rebuild the decision operator up to a verdict's recorded input frontier and compare the
    /// verdict it derives with the recorded one; print the inputs that determined it. An
    /// enforcement action's id works too: the operator that derived it is replayed and the action
    /// compared, with the input it was derived from.
    Verdict(VerdictArgs),
    /// A subject's decision as trustloop knew it at a time (`--at`: log time, when it learned
    /// things) of what had happened by a time (`--happened-by`: event time), with the inputs about it
    /// known then. Both default to everything.
    Subject(SubjectArgs),
}

/// Arguments of `trustloop replay subject`.
#[derive(Debug, Args)]
pub struct SubjectArgs {
    /// A release promotion `NAME@VERSION@ENVIRONMENT`, or an entity.
    pub subject: String,
    /// Its tenant.
    #[arg(long, env = "TRUSTLOOP_TENANT", default_value = "default")]
    pub tenant: String,
    /// What trustloop had learned by this time (log time, RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Of that, what had happened by this time (event time, RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub happened_by: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// Arguments of `trustloop replay verdict`.
#[derive(Debug, Args)]
pub struct VerdictArgs {
    /// The verdict's event id.
    pub event_id: String,
    /// Snapshots to start from (default: the embedded log's `snapshots/`; with Kafka, none unless
    /// given): the newest at or before the verdict's frontier is used, else the replay starts at
    /// the beginning of the log.
    #[arg(long, env = "TRUSTLOOP_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Replay from the beginning of the log, ignoring snapshots.
    #[arg(long)]
    pub no_snapshots: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `trustloop replay`.
pub async fn run(backend_args: &BackendConfig, args: ReplayArgs) -> Result<ExitCode> {
    let backend = Backend::open(backend_args).await?;
    match args.what {
        Some(ReplayCommand::Verdict(v)) => {
            let state_dir =
                trustloop_runtime::snapshot::state_dir(backend_args, v.state_dir.as_deref(), v.no_snapshots);
            verdict(&backend, &v, state_dir).await
        }
        Some(ReplayCommand::Subject(a)) => subject(&backend, &a).await,
        None if args.all => all(&backend, args.verify, since(args.since.as_deref())?, args.output.json).await,
        None if args.policy.is_some() || !args.with.is_empty() => what_if(&backend, &args).await,
        None => anyhow::bail!(
            "say what to replay: `replay verdict EVENT_ID`, `replay --all --verify`, `replay --policy FILE` or \
             `replay --with FILE`"
        ),
    }
}

async fn verdict(backend: &Backend, args: &VerdictArgs, state_dir: Option<PathBuf>) -> Result<ExitCode> {
    let id: EventId = args.event_id.parse().with_context(|| format!("{:?} is not an event id", args.event_id))?;
    let Some(replayed) = replay_any(backend, &id, state_dir.as_deref()).await? else {
        anyhow::bail!("no verdict or action with event id {id} in the log")
    };
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&replayed.to_json())?);
    } else {
        match &replayed {
            Replayed::Verdict(report) => print!("{}", render(report)),
            Replayed::Action(report) => print!("{}", render_action(report)),
        }
    }
    Ok(if replayed.matched() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The replay of an enforcement action, as text.
fn render_action(report: &trustloop_replay::event::EventReplay) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let r = &report.recorded;
    let _ = writeln!(
        out,
        "action {} ({} {} of {}, {}, attempt {}): recorded at {}/{}@{}, derived by the {} operator",
        r["event_id"].as_str().unwrap_or("?"),
        r["kind"].as_str().unwrap_or("?"),
        r["state"].as_str().unwrap_or("?"),
        r["subject"].as_str().unwrap_or("?"),
        r["event_time"].as_str().unwrap_or("?"),
        r["attempt"],
        report.recorded_at.0,
        report.recorded_at.1,
        report.recorded_at.2,
        report.operator
    );
    let _ = writeln!(out, "  reason: {}", r["reason"].as_str().unwrap_or(""));
    if let Some((topic, p, o, ty)) = &report.cause {
        let _ = writeln!(out, "  derived from {topic}/{p}@{o} (a {ty} event)");
    }
    let _ = writeln!(
        out,
        "replayed {} inputs ({} applied)\n{}",
        report.stats.read,
        report.stats.applied,
        match (&report.first_difference, report.matched) {
            (None, true) => "MATCH".to_string(),
            (d, _) => format!("MISMATCH: first difference at {}", d.as_deref().unwrap_or("(canonical bytes)")),
        }
    );
    out
}

/// The audit report of one verdict, as text.
pub fn render(r: &VerdictReplay) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let v = &r.recorded;
    let _ = writeln!(
        out,
        "verdict {} ({} {}): {} at {}, recorded at {}/{}@{}",
        v["event_id"].as_str().unwrap_or("?"),
        v["subject_kind"].as_str().unwrap_or("?"),
        v["subject"].as_str().unwrap_or("?"),
        v["outcome"].as_str().unwrap_or("?"),
        v["event_time"].as_str().unwrap_or("?"),
        r.recorded_at.0,
        r.recorded_at.1,
        r.recorded_at.2
    );
    let _ = writeln!(out, "policy digest: {}", v["policy_digest"].as_str().unwrap_or("?"));
    if let Some(reasons) = v["reasons"].as_array() {
        for reason in reasons {
            let _ = writeln!(
                out,
                "  reason {}: {}",
                reason["rule"].as_str().unwrap_or("?"),
                reason["message"].as_str().unwrap_or("")
            );
        }
    }
    let start = if r.from_snapshot { "from a snapshot" } else { "from the start of the log" };
    let task = r.task.map_or(String::new(), |(t, n)| format!(", as task {t} of {n}"));
    let _ = writeln!(
        out,
        "replayed {start}{task}: {} inputs read, {} applied, {} not applied (dead letters)",
        r.stats.read, r.stats.applied, r.stats.rejected
    );
    let _ = writeln!(
        out,
        "{}",
        match r.from_snapshot {
            true => "inputs that determined it, since the snapshot (earlier ones are in its state):",
            false => "inputs that determined it:",
        }
    );
    for (kind, inputs) in by_kind(&r.inputs) {
        let _ = writeln!(out, "  {kind} ({}):", inputs.len());
        // Findings can be many: the latest per advisory and package says what was known.
        let shown: Vec<&&trustloop_replay::InputRef> = match kind.as_str() {
            "finding" => {
                let mut latest = std::collections::BTreeMap::new();
                for i in &inputs {
                    let key: String = i.summary.split(", VEX").next().unwrap_or(&i.summary).to_string();
                    let key = key.split_once(": ").map_or(key.clone(), |(_, k)| k.to_string());
                    latest.insert(key, i);
                }
                latest.into_values().collect()
            }
            _ => inputs.iter().collect(),
        };
        for i in shown {
            let _ = writeln!(out, "    {}/{}@{} {}: {}", i.topic, i.partition, i.offset, i.event_id, i.summary);
        }
    }
    let verdict = if r.matched { "MATCH" } else { "MISMATCH" };
    let _ = writeln!(
        out,
        "{verdict}: evidence digest recorded {}, recomputed {}{}",
        r.recorded_evidence,
        r.recomputed_evidence.as_deref().unwrap_or("(none)"),
        match (&r.first_difference, r.identical_record) {
            (Some(d), _) => format!("; first difference at {d}"),
            (None, true) => "; the recorded bytes, exactly".to_string(),
            (None, false) => "; same canonical content (recorded by another encoding)".to_string(),
        }
    );
    out
}

async fn subject(backend: &Backend, args: &SubjectArgs) -> Result<ExitCode> {
    let time = |t: &Option<String>, flag: &str| t.as_deref().map(|t| super::parse_time(flag, t)).transpose();
    let bounds = Bounds {
        learned_by_ms: time(&args.at, "--at")?.map(|t| t.as_micros().div_euclid(1000)),
        happened_by: time(&args.happened_by, "--happened-by")?,
    };
    let history = History { log: &backend.log, codec: &backend.codec, writers: &*backend.registry };
    let at = subject_at(history, &args.tenant, &args.subject, bounds).await.context("replaying the decisions")?;
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&at)?);
    } else {
        let known = args.at.as_deref().unwrap_or("now");
        let happened = args.happened_by.as_deref().map_or(String::new(), |t| format!(", of what happened by {t}"));
        match at.outcome {
            Some(o) => println!("{} as known at {known}{happened}: {}", at.subject, outcome(o)),
            None => println!(
                "{} as known at {known}{happened}: no decision (no promotion requested, no trust score)",
                at.subject
            ),
        }
        for r in &at.reasons {
            println!("  reason {r}");
        }
        if let Some(d) = &at.policy_digest {
            println!("  policy digest {d}, evidence digest {}", at.evidence_digest.as_deref().unwrap_or("-"));
        }
        println!("  {} inputs applied ({} left out); about {}:", at.stats.applied, at.stats.rejected, at.subject);
        for i in &at.inputs {
            println!("    {}/{}@{} {}", i.topic, i.partition, i.offset, i.summary);
        }
    }
    Ok(if at.outcome.is_some() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// An outcome as the schema names it.
fn outcome(o: trustloop_schemas::Outcome) -> &'static str {
    match o {
        trustloop_schemas::Outcome::Pass => "PASS",
        trustloop_schemas::Outcome::Warn => "WARN",
        trustloop_schemas::Outcome::Fail => "FAIL",
    }
}

/// `--since`, parsed: the earliest event time compared.
fn since(text: Option<&str>) -> Result<EventTime> {
    match text {
        None => Ok(EventTime::from_micros(i64::MIN)),
        Some(t) => super::parse_time("--since", t),
    }
}

/// The candidate policy of `--policy FILE` for `tenant`, checked as `policy apply` checks it.
fn candidate_policy(file: &Path, tenant: &str) -> Result<Policy> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let doc = match trustloop_operators::policy::check(&text) {
        Ok(doc) => doc,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}:{e}", file.display());
            }
            anyhow::bail!("{}: {} problem(s); the policy is not valid", file.display(), errors.len());
        }
    };
    let digest = doc.digest();
    Ok(Policy {
        envelope: Envelope {
            event_id: derive_event_id("what-if-policy", &[tenant.as_bytes(), digest.as_bytes()]),
            tenant: tenant.into(),
            key: doc.name.as_str().into(),
            event_time: EventTime::from_micros(0),
            source: "trustloop replay --policy".into(),
            schema_version: EventType::Policy.schema_version(),
        },
        name: doc.name.clone(),
        version: i64::MAX,
        digest,
        format: "yaml".into(),
        document: text,
    })
}

/// `--shift`, in microseconds: `-30d`, `+2w`, `12h` (later).
fn shift(text: Option<&str>) -> Result<i64> {
    let Some(text) = text else { return Ok(0) };
    let t = text.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let d = trustloop_operators::policy::duration::Duration::parse(rest)
        .map_err(|e| anyhow::anyhow!("--shift {text:?}: {e} (with a sign: -30d is earlier, +30d later)"))?;
    Ok(sign * d.as_micros())
}

/// The documents of `--with`, every problem reported (nothing is re-run if there is one).
fn candidate_documents(paths: &[PathBuf], tenant: &str) -> Result<any::Documents> {
    match any::read_paths(paths, tenant) {
        Ok(docs) => Ok(docs),
        Err(any::Problems(problems)) => {
            for p in &problems {
                eprintln!("{p}");
            }
            anyhow::bail!("{} problem(s) in the --with inputs; nothing was re-run", problems.len())
        }
    }
}

/// What each candidate KEV catalog takes back: the CVEs the log lists for `tenant` when the catalog
/// is released (moved by `by`) that it does not list, removed at that time — as importing it then
/// would have.
async fn catalog_take_backs(backend: &Backend, docs: &any::Documents, tenant: &str, by: i64) -> Result<Vec<Candidate>> {
    if docs.documents.iter().all(|d| d.catalog.is_none()) {
        return Ok(Vec::new());
    }
    let log = backend.known_exploited(tenant).await?;
    let mut out = Vec::new();
    for d in &docs.documents {
        let Some(c) = &d.catalog else { continue };
        let at = c.released.as_micros().saturating_add(by);
        let listed = kev::listed_after(log.iter().filter(|k| k.envelope.event_time.as_micros() <= at));
        for e in kev::removals(&listed, &c.listed, c.released, &c.version, tenant) {
            out.push(Candidate::new(Event::KnownExploited(e), d.path.clone()).shifted(by));
        }
    }
    Ok(out)
}

async fn what_if(backend: &Backend, args: &ReplayArgs) -> Result<ExitCode> {
    let tenant = args.tenant.as_str();
    let since = since(args.since.as_deref())?;
    let json = args.output.json;
    let policy = args.policy.as_deref().map(|f| candidate_policy(f, tenant)).transpose()?;
    let by = shift(args.shift.as_deref())?;
    let docs = candidate_documents(&args.with, tenant)?;
    let mut candidates: Vec<Candidate> = docs
        .documents
        .iter()
        .flat_map(|d| d.events.iter().map(|e| Candidate::new(e.clone(), d.path.clone()).shifted(by)))
        .collect();
    candidates.extend(catalog_take_backs(backend, &docs, tenant, by).await?);
    let history = History { log: &backend.log, codec: &backend.codec, writers: &*backend.registry };
    let conditions = Conditions { tenant, policy: policy.as_ref(), candidates: &candidates, since };
    let report = what_if_replay(history, &conditions).await.context("re-running history")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    match &policy {
        Some(p) => println!("what-if under policy {} (digest {}) for tenant {tenant}", p.name, p.digest),
        None => println!("what-if under the recorded policies for tenant {tenant}"),
    }
    let moved = if by == 0 { String::new() } else { format!(", moved {}", duration_text(by)) };
    for d in &docs.documents {
        let times: Vec<EventTime> = d
            .events
            .iter()
            .map(|e| EventTime::from_micros(e.envelope().event_time.as_micros().saturating_add(by)))
            .collect();
        let span = match (times.iter().min(), times.iter().max()) {
            (Some(a), Some(b)) if a == b => format!(" at {a}"),
            (Some(a), Some(b)) => format!(" from {a} to {b}"),
            _ => String::new(),
        };
        let unresolved = match d.unresolved_products {
            0 => String::new(),
            n => format!("; {n} product(s) not placed in an OSV ecosystem, left out of `affected`"),
        };
        println!("  with {} ({}): {} event(s){span}{moved}{unresolved}", d.path, d.kind.as_str(), d.events.len());
    }
    if !docs.skipped.is_empty() {
        println!(
            "  not read ({} file(s) whose names say they are no feed document): {}",
            docs.skipped.len(),
            docs.skipped.join(", ")
        );
    }
    println!(
        "{} findings, {} trust scores and {} decision inputs re-run; {} subjects compared, {} would differ",
        report.findings,
        report.trust_scores,
        report.decision_inputs,
        report.subjects,
        report.differ.len()
    );
    if !report.differ.is_empty() {
        println!(
            "{:<40} {:<8} {:<22} {:<22} first difference",
            "subject", "kind", "recorded (last)", "candidate (last)"
        );
    }
    for d in &report.differ {
        let last = |steps: &[trustloop_replay::whatif::Step]| match steps.last() {
            Some(s) => format!("{} ({} verdicts)", outcome(s.outcome), steps.len()),
            None => "-".to_string(),
        };
        let step = |s: &trustloop_replay::whatif::Step| format!("{} at {}", outcome(s.outcome), s.at);
        let first = d.first_difference();
        let text = match first {
            Some((Some(a), Some(b))) => format!("recorded {}, candidate {} ({})", step(a), step(b), b.reason),
            Some((None, Some(b))) => format!("candidate {}, not recorded ({})", step(b), b.reason),
            Some((Some(a), None)) => format!("recorded {}, not derived by the candidate", step(a)),
            _ => "requested actions".to_string(),
        };
        let kind = match d.kind {
            SubjectKind::Release => "release",
            SubjectKind::Entity => "entity",
        };
        println!("{:<40} {kind:<8} {:<22} {:<22} {text}", d.subject, last(&d.recorded), last(&d.candidate));
        if let Some((_, Some(b))) = first {
            if let (Some(kind), Some(cause)) = (b.cause_kind, &b.cause) {
                println!("{:<40} derived from {kind}: {cause}", "");
            }
            const SHOWN: usize = 5;
            for c in b.candidates.iter().take(SHOWN) {
                println!("{:<40} candidate input: {c}", "");
            }
            if b.candidates.len() > SHOWN {
                println!("{:<40} … and {} more candidate inputs (--json lists them)", "", b.candidates.len() - SHOWN);
            }
        }
        if d.recorded_actions != d.candidate_actions {
            println!("{:<40} actions: recorded {:?}, candidate {:?}", "", d.recorded_actions, d.candidate_actions);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn all(backend: &Backend, verify: bool, since: EventTime, json: bool) -> Result<ExitCode> {
    let report: Vec<Verification> = verify::all(backend, since).await?;
    let mismatched: u64 = report.iter().map(Verification::problems).sum();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for v in &report {
            print!("{}", v.render());
        }
        let matched: u64 = report.iter().map(|v| v.matched).sum();
        println!("{matched} derived events re-derived identically, {mismatched} problems");
    }
    Ok(if verify && mismatched > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

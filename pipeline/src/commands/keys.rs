//! `trustloop keys`: the Ed25519 keys that sign the log's checkpoints — `generate` a new one,
//! print the `public` key of one.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use trustloop_schemas::transparency::checkpoint::{NoteSigner, NoteVerifier};

/// The environment variable that may hold the log's private key itself (instead of `--key FILE`).
pub const KEY_ENV: &str = "TRUSTLOOP_LOG_KEY";

/// Arguments of `trustloop keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    what: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate a key: the private key goes to `--out` (created with mode 0600, never overwritten),
    /// the public key (a vkey: `NAME+KEYID+BASE64`) to standard output — publish it, auditors
    /// verify with it.
    Generate {
        /// The key's name (no `+`, no whitespace), e.g. the host or service that signs.
        #[arg(long)]
        name: String,
        /// Where to write the private key.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Print the public key (vkey) of a private key file.
    Public {
        /// The private key file.
        #[arg(long)]
        key: PathBuf,
    },
}

/// The environment variable that may hold a witness's private key itself (instead of `--key FILE`).
pub const WITNESS_KEY_ENV: &str = "TRUSTLOOP_WITNESS_KEY";

/// Reads a private key from `path`, or else from [`KEY_ENV`].
pub fn signer(path: Option<&Path>) -> Result<NoteSigner> {
    signer_from(path, KEY_ENV)
}

/// Reads a private key from `path`, or else from the environment variable `env`.
pub fn signer_from(path: Option<&Path>, env: &str) -> Result<NoteSigner> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("cannot read the key file {}", p.display()))?,
        None => match std::env::var(env) {
            Ok(k) => k,
            Err(_) => {
                bail!("no signing key: give --key FILE or set {env} (make one with `trustloop keys generate`)")
            }
        },
    };
    let from = path.map_or_else(|| env.to_string(), |p| p.display().to_string());
    NoteSigner::from_skey(text.trim()).with_context(|| format!("the key in {from}"))
}

/// Reads a public key given as a vkey or as a file holding one.
pub fn verifier(text_or_path: &str) -> Result<NoteVerifier> {
    let text = if Path::new(text_or_path).is_file() {
        std::fs::read_to_string(text_or_path).with_context(|| format!("cannot read {text_or_path}"))?
    } else {
        text_or_path.to_string()
    };
    NoteVerifier::from_vkey(text.trim()).with_context(|| format!("the public key {text_or_path:?}"))
}

/// Runs `trustloop keys`.
pub fn run(args: KeysArgs) -> Result<ExitCode> {
    match args.what {
        KeysCommand::Generate { name, out } => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness for a new key: {e}"))?;
            let signer = NoteSigner::from_seed(&name, &seed)?;
            seed.fill(0);
            let mut file = {
                use std::os::unix::fs::OpenOptionsExt as _;
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&out).with_context(|| {
                    format!("cannot create {} (an existing key is never overwritten)", out.display())
                })?
            };
            writeln!(file, "{}", signer.to_skey()).with_context(|| format!("writing {}", out.display()))?;
            file.sync_all().with_context(|| format!("writing {}", out.display()))?;
            println!("{}", signer.verifier().to_vkey());
            eprintln!("private key written to {} (keep it secret); the line above is its public key", out.display());
        }
        KeysCommand::Public { key } => println!("{}", signer(Some(&key))?.verifier().to_vkey()),
    }
    Ok(ExitCode::SUCCESS)
}

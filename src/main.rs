//! The `unionfund` binary: `serve` (default), `serve --demo`, `migrate`, `openapi`, `audit`, `pii`,
//! `witness`.

use std::io::BufRead;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use unionfund::config::Config;
use unionfund::domain::witness::Policy;
use unionfund::{db, service, telemetry};

#[derive(Parser)]
#[command(name = "unionfund", version, about = "Earmarked money of a city trade-union federation")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve {
        /// Load the 2022 demo data into an empty database first.
        #[arg(long)]
        demo: bool,
    },
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Audit-trail tools for auditors.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Personal-data tools.
    Pii {
        #[command(subcommand)]
        command: PiiCommand,
    },
    /// Run a witness of other parties' logs (c2sp.org/tlog-witness): it cosigns a log's
    /// checkpoint only when it extends the one it cosigned last. Its key is read from
    /// UNIONFUND_WITNESS_KEY (base64 of a 32-byte seed), never from the command line.
    Witness(WitnessArgs),
}

#[derive(clap::Args)]
struct WitnessArgs {
    /// The witness's key name, e.g. `finance-bureau.example/witness`.
    #[arg(long, env = "UNIONFUND_WITNESS_NAME")]
    name: Option<String>,
    /// The verifier keys of the logs it follows, comma-separated.
    #[arg(long, env = "UNIONFUND_WITNESS_LOGS")]
    logs: Option<String>,
    /// Its state file (created if missing; a corrupt one is a refusal to start).
    #[arg(long, env = "UNIONFUND_WITNESS_STATE")]
    state: Option<std::path::PathBuf>,
    /// Listen address.
    #[arg(long, env = "UNIONFUND_WITNESS_BIND", default_value = unionfund::config::witness::DEFAULT_WITNESS_BIND)]
    bind: String,
    /// Cosign with the public development key (cosignatures that prove nothing).
    #[arg(long)]
    dev_key: bool,
    /// Print the witness's verifier key (`name+keyid+base64(0x04 || key)`) and exit.
    #[arg(long)]
    print_verifier_key: bool,
}

#[derive(Subcommand)]
enum PiiCommand {
    /// Re-seal every value sealed under an older key with the current one (the first of
    /// UNIONFUND_PII_KEYS), so that the older keys can be dropped. One transaction, audited.
    Reseal,
}

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // the subcommands are `verify-export`, `verify-consistency`, `verify-proof`
enum AuditCommand {
    /// Verify an NDJSON export (GET /api/v1/audit/export) offline: every hash, every chain;
    /// with --checkpoint and --key, also the signed checkpoint and the Merkle root of the
    /// exported events at its size.
    VerifyExport {
        /// The export file.
        file: std::path::PathBuf,
        /// A signed checkpoint note you kept (the `note` of a checkpoint).
        #[arg(long, requires = "key")]
        checkpoint: Option<std::path::PathBuf>,
        /// The log's verifier key (`name+keyid+base64key`, GET /api/v1/audit/log-key).
        #[arg(long)]
        key: Option<String>,
        /// A trust policy (C2SP tlog-policy: the `policy` of GET /api/v1/audit/log-key): the
        /// note must carry its witnesses' quorum of cosignatures.
        #[arg(long, requires = "checkpoint")]
        policy: Option<std::path::PathBuf>,
    },
    /// Verify a consistency proof (GET /api/v1/audit/consistency) between two signed
    /// checkpoint notes you kept: both signatures, and that the older tree is a prefix of the newer.
    VerifyConsistency {
        /// The older checkpoint note.
        old: std::path::PathBuf,
        /// The newer checkpoint note.
        new: std::path::PathBuf,
        /// The proof (JSON, as the API answers it).
        proof: std::path::PathBuf,
        /// The log's verifier key.
        #[arg(long)]
        key: String,
        /// A trust policy: both notes must carry its witnesses' quorum.
        #[arg(long)]
        policy: Option<std::path::PathBuf>,
    },
    /// Verify a C2SP tlog-proof bundle of one event (GET
    /// /api/v1/audit/events/{seq}/proof?format=tlog-proof) offline: the event's hash, its
    /// inclusion in the signed checkpoint, the log's signature, and with --policy the witnesses.
    VerifyProof {
        /// The bundle file.
        bundle: std::path::PathBuf,
        /// The log's verifier key.
        #[arg(long)]
        key: String,
        /// A trust policy: the checkpoint must carry its witnesses' quorum.
        #[arg(long)]
        policy: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Openapi => {
            print!("{}", unionfund::http::openapi::json());
            ExitCode::SUCCESS
        }
        Command::Audit { command: AuditCommand::VerifyExport { file, checkpoint, key, policy } } => {
            verify_export(&file, checkpoint.as_deref(), key.as_deref(), policy.as_deref())
        }
        Command::Audit { command: AuditCommand::VerifyConsistency { old, new, proof, key, policy } } => {
            verify_consistency(&old, &new, &proof, &key, policy.as_deref())
        }
        Command::Audit { command: AuditCommand::VerifyProof { bundle, key, policy } } => {
            verify_proof(&bundle, &key, policy.as_deref())
        }
        Command::Pii { command: PiiCommand::Reseal } => run(|config| {
            config.refuse_development_pii_keys()?;
            telemetry::init(config.log_json);
            let pool = db::pool::open(&db::pool::Settings { size: 1, ..config.database() }, |_| Ok(()))?;
            let report = service::personal_data::reseal(&pool, &config.pii)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }),
        Command::Migrate => run(|config| {
            telemetry::init(config.log_json);
            db::pool::open(&db::pool::Settings { size: 1, ..config.database() }, |_| Ok(()))?;
            tracing::info!("database ready, migrations applied, runtime role granted");
            Ok(())
        }),
        Command::Serve { demo } => run(move |config| serve(config, demo)),
        Command::Witness(args) => match witness(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("unionfund: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn witness(args: WitnessArgs) -> anyhow::Result<()> {
    use unionfund::config::witness::{WitnessArgs as Settings, WitnessConfig};
    let print = args.print_verifier_key;
    let config = WitnessConfig::from_args(Settings {
        name: args.name,
        logs: args.logs,
        state: args.state,
        bind: Some(args.bind),
        dev_key: args.dev_key,
    })?;
    if print {
        println!("{}", config.cosigner().verifier_key());
        return Ok(());
    }
    let (logs, state) = config.to_serve()?;
    telemetry::init(config.log_json);
    if config.development_key {
        tracing::warn!(
            "--dev-key: cosigning with the public development key; anyone can make these cosignatures, they prove nothing"
        );
    }
    let witness = service::witness::Witness::open(config.cosigner(), logs.to_vec(), state)?;
    let (verifier_key, cosigned, followed) = (witness.verifier_key(), witness.logs_cosigned(), logs.len());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let running = unionfund::http::witness::start(std::sync::Arc::new(witness), &config.bind, 2)?;
        tracing::info!(address = %running.addr, verifier_key, logs = followed, cosigned, "witness listening");
        running.server.await?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn run(f: impl FnOnce(Config) -> anyhow::Result<()>) -> ExitCode {
    let result = Config::from_env().map_err(anyhow::Error::from).and_then(f);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unionfund: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    // Before anything is opened or bound: outside the demo, public keys protect nothing.
    if !demo {
        config.refuse_development_keys()?;
    }
    telemetry::init(config.log_json);
    if config.jwt.generated {
        tracing::warn!("UNIONFUND_JWT_SECRET is not set: using a random key for this process; tokens die with it");
    }
    if config.pii_development {
        tracing::warn!(
            "UNIONFUND_PII_KEYS is not set: personal data is sealed with the public development keys; never use them for real data"
        );
    }
    if config.log_key_development {
        tracing::warn!(
            "UNIONFUND_LOG_KEY is not set or is the development key: audit-log checkpoints are signed with the public development key; they prove nothing"
        );
    }
    if !demo && config.runtime_database_url.is_none() {
        tracing::warn!(
            role = %config.runtime_role,
            "UNIONFUND_RUNTIME_DATABASE_URL is not set: the pool logs in as the owner and switches with SET ROLE, \
             which a session could undo; give the runtime role a login of its own in production (README, \"Database roles\")"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Under the migration lock: a second process starting at the same instant waits, then finds
    // the demo loaded and the admin made, instead of loading a second federation.
    let pool = db::pool::open(&config.database(), |pool| {
        if demo {
            runtime.block_on(service::demo::load(pool, config.pii.clone()))?;
        }
        service::demo::ensure_first_admin(pool, config.first_admin.as_ref())?;
        Ok(())
    })?;
    runtime.block_on(async move {
        let running = unionfund::start(&config, pool)?;
        tracing::info!(address = %running.addr, "listening; API docs at http://{}/docs/", running.addr);
        running.server.await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Prints a verdict as one line of JSON — byte for byte what `tools/verify_trail.py` prints for
/// the same input — and maps it to the exit code: 0 ok, 1 broken, 2 unreadable, when the line is
/// `{"ok":false,"error":"<what>: <problem>"}`.
fn verdict<T: serde::Serialize>(result: Result<(bool, T), String>) -> ExitCode {
    #[derive(serde::Serialize)]
    struct Unreadable<'a> {
        ok: bool,
        error: &'a str,
    }
    let (line, code) = match &result {
        Ok((ok, v)) => (serde_json::to_string(v), if *ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }),
        Err(e) => (serde_json::to_string(&Unreadable { ok: false, error: e }), ExitCode::from(2)),
    };
    println!("{}", line.unwrap_or_default());
    code
}

/// A whole file as UTF-8 text (a note, a proof); `Err` names the file and the problem.
fn read(path: &std::path::Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {}", path.display(), service::audit::read_problem(&e)))?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))
}

/// A checkpoint note file, opened with `key` (and the policy, when one is given).
fn note(
    path: &std::path::Path,
    key: &unionfund::domain::note::VerifierKey,
    policy: Option<&Policy>,
) -> Result<service::audit::KeptNote, String> {
    service::audit::open_checkpoint(&read(path)?, key, policy).map_err(|e| format!("{}: {e}", path.display()))
}

/// A policy file, checked against the log's key.
fn policy(
    path: Option<&std::path::Path>,
    key: &unionfund::domain::note::VerifierKey,
) -> Result<Option<Policy>, String> {
    path.map(|p| service::audit::read_policy(&read(p)?, key).map_err(|e| format!("{}: {e}", p.display()))).transpose()
}

fn verify_export(
    path: &std::path::Path,
    checkpoint: Option<&std::path::Path>,
    key: Option<&str>,
    policy_path: Option<&std::path::Path>,
) -> ExitCode {
    if checkpoint.is_none() && key.is_some() {
        eprintln!("unionfund: --key is the key of a --checkpoint note; give both or neither");
        return ExitCode::from(2);
    }
    verdict((|| {
        // Read in the Python verifier's order (key, policy, note, export), so that both name
        // the same problem first.
        let key = key.map(service::audit::read_verifier_key).transpose()?;
        let policy = key.as_ref().map(|k| policy(policy_path, k)).transpose()?.flatten();
        let signed = checkpoint.zip(key.as_ref()).map(|(p, key)| note(p, key, policy.as_ref())).transpose()?;
        let shown = |e| format!("{}: {e}", path.display());
        let file = std::fs::File::open(path).map_err(|e| shown(service::audit::read_problem(&e).to_owned()))?;
        let v = service::audit::verify_export_against(std::io::BufReader::new(file).lines(), signed.as_ref())
            .map_err(shown)?;
        Ok((v.ok, v))
    })())
}

fn verify_consistency(
    old: &std::path::Path,
    new: &std::path::Path,
    proof: &std::path::Path,
    key: &str,
    policy_path: Option<&std::path::Path>,
) -> ExitCode {
    verdict((|| {
        let key = service::audit::read_verifier_key(key)?;
        let policy = policy(policy_path, &key)?;
        let (old, new) = (note(old, &key, policy.as_ref())?, note(new, &key, policy.as_ref())?);
        let proof =
            service::audit::read_consistency_proof(&read(proof)?).map_err(|e| format!("{}: {e}", proof.display()))?;
        let v = service::audit::verify_consistency(&old, &new, &proof);
        Ok((v.ok, v))
    })())
}

fn verify_proof(bundle: &std::path::Path, key: &str, policy_path: Option<&std::path::Path>) -> ExitCode {
    verdict((|| {
        let key = service::audit::read_verifier_key(key)?;
        let policy = policy(policy_path, &key)?;
        let v = service::audit::verify_bundle(&read(bundle)?, &key, policy.as_ref())
            .map_err(|e| format!("{}: {e}", bundle.display()))?;
        Ok((v.ok, v))
    })())
}

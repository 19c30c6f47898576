//! The `unionfund` binary: `serve` (default), `serve --demo`, `migrate`, `openapi`, `audit`, `pii`.

use std::io::BufRead;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use unionfund::config::Config;
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
}

#[derive(Subcommand)]
enum PiiCommand {
    /// Re-seal every value sealed under an older key with the current one (the first of
    /// UNIONFUND_PII_KEYS), so that the older keys can be dropped. One transaction, audited.
    Reseal,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify an NDJSON export (GET /api/v1/audit/export) offline: every hash, every chain.
    VerifyExport {
        /// The export file.
        file: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Openapi => {
            print!("{}", unionfund::http::openapi::json());
            ExitCode::SUCCESS
        }
        Command::Audit { command: AuditCommand::VerifyExport { file } } => verify_export(&file),
        Command::Pii { command: PiiCommand::Reseal } => run(|config| {
            telemetry::init(config.log_json);
            let pool = db::pool::connect(config.database_url(), 1)?;
            let report = service::personal_data::reseal(&pool, &config.pii)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }),
        Command::Migrate => run(|config| {
            telemetry::init(config.log_json);
            db::pool::connect(config.database_url(), 1)?;
            tracing::info!("database ready, migrations applied");
            Ok(())
        }),
        Command::Serve { demo } => run(move |config| serve(config, demo)),
    }
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
    telemetry::init(config.log_json);
    if config.jwt.generated {
        tracing::warn!("UNIONFUND_JWT_SECRET is not set: using a random key for this process; tokens die with it");
    }
    if config.pii_development {
        tracing::warn!(
            "UNIONFUND_PII_KEYS is not set: personal data is sealed with the public development keys; never use them for real data"
        );
    }
    let pool = db::pool::connect(config.database_url(), config.pool_size)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if demo {
        runtime.block_on(service::demo::load(&pool, config.pii.clone()))?;
    }
    service::demo::ensure_first_admin(&pool, config.first_admin.as_ref())?;
    runtime.block_on(async move {
        let running = unionfund::start(&config, pool)?;
        tracing::info!(address = %running.addr, "listening; API docs at http://{}/docs/", running.addr);
        running.server.await?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn verify_export(path: &std::path::Path) -> ExitCode {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("unionfund: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    match service::audit::verify_export(std::io::BufReader::new(file).lines()) {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            if v.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("unionfund: {e}");
            ExitCode::from(2)
        }
    }
}

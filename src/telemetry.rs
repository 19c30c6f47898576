//! Logging: one subscriber, text for people or JSON lines for machines. Request spans come from
//! `tracing-actix-web` and carry the request id, so every line of a request can be found by it.
//! Nothing logs bodies, tokens, passwords or ID numbers: handlers and services are instrumented
//! with `skip_all`, and secrets are wrapped types that print as `[redacted]`.

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber. `RUST_LOG` filters (default `info`). Each request's span is
/// logged when it closes, with its status and timing: that line is the access log.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    // A second init (tests start many apps in one process) keeps the first subscriber.
    drop(install(json, filter, std::io::stdout, ansi));
}

/// Installs the global subscriber writing to `writer`: what `init` does, and what a test uses to
/// capture every line the service logs (colours only on a terminal: a log file or a collector
/// gets plain text).
pub fn install<W>(
    json: bool,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Result<(), tracing_subscriber::util::TryInitError>
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_span_events(FmtSpan::CLOSE)
                    .with_writer(writer),
            )
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_target(false).with_ansi(ansi).with_span_events(FmtSpan::CLOSE).with_writer(writer))
            .try_init()
    }
}

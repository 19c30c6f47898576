//! Logging: one subscriber, text for people or JSON lines for machines. Request spans come from
//! `tracing-actix-web` and carry the request id, so every line of a request can be found by it.
//! Nothing logs bodies, tokens, passwords or ID numbers: handlers and services are instrumented
//! with `skip_all`, and secrets are wrapped types that print as `[redacted]`. Whatever a request
//! brings into a field (a route, a parse error) cannot start a line of its own: every line break
//! inside an event is written as `\n` (JSON escapes it anyway), so a forged `ERROR request{…}`
//! stays inside the line of the event that carried it.

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
    let writer = OneLinePerEvent(writer);
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

/// A writer that keeps each event on one line: the formatter writes an event as one buffer
/// ending in a newline; every CR or LF before that end is written escaped.
struct OneLinePerEvent<M>(M);

impl<'a, M: fmt::MakeWriter<'a>> fmt::MakeWriter<'a> for OneLinePerEvent<M> {
    type Writer = EscapeBreaks<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        EscapeBreaks(self.0.make_writer())
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        EscapeBreaks(self.0.make_writer_for(meta))
    }
}

/// See [`OneLinePerEvent`].
pub struct EscapeBreaks<W>(W);

/// `buf` with every CR and LF escaped, except one final LF.
pub fn escape_breaks(buf: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let (body, end) = match buf.split_last() {
        Some((b'\n', body)) => (body, &b"\n"[..]),
        _ => (buf, &b""[..]),
    };
    if !body.iter().any(|b| matches!(b, b'\n' | b'\r')) {
        return std::borrow::Cow::Borrowed(buf);
    }
    let mut out = Vec::with_capacity(buf.len() + 16);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
    out.extend_from_slice(end);
    std::borrow::Cow::Owned(out)
}

impl<W: std::io::Write> std::io::Write for EscapeBreaks<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(&escape_breaks(buf))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::escape_breaks;

    #[test]
    fn a_line_break_inside_an_event_is_escaped_and_the_last_one_kept() {
        let forged = b"WARN request{route=/x?a=1\nERROR request{forged}\r\n}: failed\n";
        let out = escape_breaks(forged);
        assert_eq!(&*out, &b"WARN request{route=/x?a=1\\nERROR request{forged}\\r\\n}: failed\n"[..]);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(&*escape_breaks(b"plain\n"), b"plain\n");
    }
}

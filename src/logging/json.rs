//! The line format of `--log-format json`: one JSON object per event, with `timestamp`
//! (RFC 3339, UTC, microseconds), `level`, the event's fields in the order the event
//! records them (`message` among them), and `target` last. Spans are left out, because
//! storebridge opens no spans of its own.
//!
//! Written by hand for speed, because the access log writes one line per proxied request.
//! Under callgrind, on a proxied 2 KB GET, tracing-subscriber 0.3's JSON format took about
//! 20,000 instructions per line (14% of the request), json-subscriber 0.3 more, and this
//! format about 9,000. It writes straight into tracing-subscriber's line buffer, escapes
//! only what JSON requires, and formats the date and time of day once a second per thread.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON line event format, for `tracing_subscriber::fmt().event_format(..)`.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Records bridged from the `log` crate (rustls logs this way) carry their real
        // target and level in fields, which the normalized metadata holds.
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());

        writer.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut writer, SystemTime::now())?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(metadata.level().as_str())?;
        writer.write_char('"')?;

        let mut fields = FieldWriter {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;

        writer.write_str(",\"target\":")?;
        write_string(&mut writer, metadata.target())?;
        writer.write_str("}\n")
    }
}

/// Writes each recorded field as `,"name":value`.
struct FieldWriter<'a, 'w> {
    writer: &'a mut Writer<'w>,
    /// The first write error. `Visit` methods cannot return one.
    result: fmt::Result,
}

impl FieldWriter<'_, '_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            self.writer.write_char(',')?;
            write_string(self.writer, field.name())?;
            self.writer.write_char(':')?;
            value(self.writer)
        })();
    }
}

impl Visit for FieldWriter<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |writer| write_string(writer, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |writer| {
            writer.write_str(if value { "true" } else { "false" })
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |writer| write!(writer, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |writer| write!(writer, "{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.field(field, |writer| write!(writer, "{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.field(field, |writer| write!(writer, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity. `Debug` of a finite f64 is a valid JSON number that
        // keeps a fraction (`2.0`, not `2`) and uses an exponent only at the extremes.
        self.field(field, |writer| {
            if value.is_finite() {
                write!(writer, "{value:?}")
            } else {
                writer.write_str("null")
            }
        });
    }

    /// Also receives `message`, `%value` (as its `Display`) and errors.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |writer| {
            writer.write_char('"')?;
            write!(Escaped(writer), "{value:?}")?;
            writer.write_char('"')
        });
    }
}

/// Writes `text` as a JSON string, quotes included.
fn write_string(writer: &mut impl Write, text: &str) -> fmt::Result {
    writer.write_char('"')?;
    write_escaped(writer, text)?;
    writer.write_char('"')
}

/// Escapes what JSON requires inside a string: the quote, the backslash and control
/// characters. Everything else, non-ASCII included, is written as it is.
fn write_escaped(writer: &mut impl Write, text: &str) -> fmt::Result {
    let mut plain_from = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // `index` is at an ASCII byte, so both slices end on character boundaries.
        writer.write_str(&text[plain_from..index])?;
        if escape.is_empty() {
            write!(writer, "\\u{byte:04x}")?;
        } else {
            writer.write_str(escape)?;
        }
        plain_from = index + 1;
    }
    writer.write_str(&text[plain_from..])
}

/// A writer that escapes what goes through it, for values formatted with `Debug`.
struct Escaped<'a, W>(&'a mut W);

impl<W: Write> Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_escaped(self.0, text)
    }
}

thread_local! {
    /// The Unix second last formatted on this thread, and its `YYYY-MM-DDTHH:MM:SS.`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Writes `now` as `2026-12-05T06:36:04.151948Z` (UTC), without quotes.
fn write_timestamp(writer: &mut impl Write, now: SystemTime) -> fmt::Result {
    // A clock before 1970 is written as the epoch rather than failing the line.
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != seconds {
            let (_, prefix) = &mut *cached;
            prefix.clear();
            write_second(prefix, seconds)?;
            cached.0 = seconds;
        }
        writer.write_str(&cached.1)
    })?;
    write!(writer, "{:06}Z", since_epoch.subsec_micros())
}

/// Writes the date and time of day of a Unix second, then the decimal point. A second past
/// the year 9999, which the `time` crate cannot represent here, is written as the epoch.
fn write_second(out: &mut String, seconds: u64) -> fmt::Result {
    let moment = i64::try_from(seconds)
        .ok()
        .and_then(|seconds| time::OffsetDateTime::from_unix_timestamp(seconds).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.",
        moment.year(),
        u8::from(moment.month()),
        moment.day(),
        moment.hour(),
        moment.minute(),
        moment.second()
    )
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use serde_json::Value;
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::EnvFilter;

    use super::*;

    /// Collects every line written, for the test to read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .expect("capture lock")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Runs `emit` under a subscriber with the JSON line format and returns what it wrote.
    fn capture(emit: impl FnOnce()) -> String {
        capture_filtered(EnvFilter::new("trace"), emit)
    }

    fn capture_filtered(filter: EnvFilter, emit: impl FnOnce()) -> String {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(captured.clone())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = captured.0.lock().expect("capture lock").clone();
        String::from_utf8(bytes).expect("log output is UTF-8")
    }

    fn parse_line(output: &str) -> serde_json::Map<String, Value> {
        assert!(
            output.ends_with('\n'),
            "a line ends with a newline: {output:?}"
        );
        assert_eq!(
            output.lines().count(),
            1,
            "one event is one line: {output:?}"
        );
        match serde_json::from_str(output.trim_end()) {
            Ok(Value::Object(object)) => object,
            other => panic!("not a JSON object: {other:?} from {output:?}"),
        }
    }

    #[test]
    fn fields_keep_types_and_order() {
        let output = capture(|| {
            tracing::info!(
                target: "storebridge::access",
                method = "GET",
                status = 200u16,
                delta = -3i64,
                mapped = true,
                elapsed_ms = 1.25f64,
                upstream_ms = Option::<f64>::None,
                "request"
            );
        });

        // serde_json's map sorts its keys, so the order is checked on the text.
        assert!(output.starts_with("{\"timestamp\":\""), "{output}");
        assert!(output.contains("Z\",\"level\":\"INFO\",\"message\":\"request\",\"method\""));
        assert!(
            output.ends_with(",\"target\":\"storebridge::access\"}\n"),
            "{output}"
        );

        let line = parse_line(&output);
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "request");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["status"], 200);
        assert_eq!(line["delta"], -3);
        assert_eq!(line["mapped"], true);
        assert_eq!(line["elapsed_ms"], 1.25);
        assert!(
            !line.contains_key("upstream_ms"),
            "an empty Option is left out"
        );
        assert_eq!(line["target"], "storebridge::access");
    }

    #[test]
    fn strings_are_escaped() {
        let awkward = "quote \" backslash \\ newline \n tab \t bell \u{7} é";
        let output = capture(|| {
            tracing::warn!(text = awkward, shown = %awkward, debugged = ?awkward, "see {}", awkward);
        });
        let line = parse_line(&output);
        assert_eq!(line["text"], awkward);
        assert_eq!(line["shown"], awkward);
        assert_eq!(line["debugged"], format!("{awkward:?}"));
        assert_eq!(line["message"], format!("see {awkward}"));
        assert!(
            output.contains("\\u0007"),
            "a control character is escaped: {output}"
        );
        assert_eq!(line["level"], "WARN");
    }

    #[test]
    fn non_finite_floats_become_null() {
        let output = capture(|| {
            tracing::info!(nan = f64::NAN, infinite = f64::INFINITY, "numbers");
        });
        let line = parse_line(&output);
        assert_eq!(line["nan"], Value::Null);
        assert_eq!(line["infinite"], Value::Null);
    }

    #[test]
    fn floats_stay_floats() {
        let output = capture(|| {
            tracing::info!(whole = 2.0f64, huge = 1e300f64, tiny = 5e-324f64, "numbers");
        });
        let line = parse_line(&output);
        assert!(output.contains("\"whole\":2.0"), "{output}");
        assert!(line["whole"].is_f64());
        assert_eq!(line["huge"], 1e300);
        assert_eq!(line["tiny"], 5e-324);
    }

    #[test]
    fn errors_are_written_with_display() {
        let error = io::Error::other("disk \"full\"");
        let output = capture(|| {
            tracing::error!(
                error = &error as &(dyn std::error::Error + 'static),
                "write failed"
            );
        });
        let line = parse_line(&output);
        assert_eq!(line["error"], "disk \"full\"");
    }

    #[test]
    fn default_filter_drops_handshake_warnings() {
        let filter = EnvFilter::new(crate::logging::default_directives("info"));
        let output = capture_filtered(filter, || {
            tracing::warn!(target: "rustls::msgs::handshake", "Illegal SNI extension");
            tracing::warn!(target: "rustls::server::hs", "another rustls warning");
            tracing::info!(target: "storebridge::server", "listening");
            tracing::debug!(target: "storebridge::server", "detail");
        });
        assert!(!output.contains("Illegal SNI"), "{output}");
        assert!(output.contains("another rustls warning"), "{output}");
        assert!(output.contains("listening"), "{output}");
        assert!(!output.contains("detail"), "{output}");
    }

    #[test]
    fn timestamp_is_rfc3339_utc() {
        let moment = UNIX_EPOCH + Duration::new(1_796_452_564, 151_948_123);
        let mut out = String::new();
        write_timestamp(&mut out, moment).expect("write to a String");
        assert_eq!(out, "2026-12-05T06:36:04.151948Z");

        // The cached second is not reused for the next one.
        let mut next = String::new();
        write_timestamp(&mut next, moment + Duration::from_secs(1)).expect("write");
        assert_eq!(next, "2026-12-05T06:36:05.151948Z");

        let mut early = String::new();
        write_timestamp(&mut early, UNIX_EPOCH - Duration::from_secs(5)).expect("write");
        assert_eq!(early, "1970-01-01T00:00:00.000000Z");
    }
}

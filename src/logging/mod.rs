//! Logging set-up. `RUST_LOG` overrides the default level, as in most Rust services.
//!
//! Level policy:
//! - `error`: a request or a webhook delivery was lost, or may have been (an upstream
//!   failure after the request was sent, a loop);
//! - `warn`: something failed and was recovered or can simply be retried (upstream
//!   unreachable before anything was sent, an accept error, a response left untranslated);
//! - `info`: lifecycle (listening, reloads, shutdown), plus the access log: one event per
//!   request under the target `storebridge::access`, which `RUST_LOG=info,storebridge::access=off`
//!   turns off;
//! - `debug`: per-request detail (rejections of bad client input, connection events).
//!
//! No level logs credentials, tokens or query values: the access log carries the route
//! template, never the query string.
//!
//! Lines go to standard error through [`BatchedStderr`], written by hand because no
//! well-kept crate batches this way. `tracing-appender` hands every line to its writer
//! thread, which then wakes once per line and costs more than the `write` it saves.

mod json;

pub use json::JsonLines;

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Bytes collected before the logging thread writes them itself.
const BATCH_BYTES: usize = 32 * 1024;
/// How long a line may wait in the buffer when little is logged.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Installs the global subscriber, writing to standard error.
///
/// Keep the returned guard until the process ends: dropping it writes the lines still
/// buffered. Drop it before printing a final error with `eprintln!`, so that the logs come
/// first.
#[must_use = "dropping the guard stops the log flusher and writes what is buffered"]
pub fn init(json: bool, default_level: &str) -> FlushGuard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_directives(default_level)));
    // Colour codes only for a terminal: in a file or a log collector they are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = BatchedStderr::start();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    if json {
        builder.event_format(json::JsonLines).init();
    } else {
        builder.init();
    }
    guard
}

/// Builds the filter used when `RUST_LOG` is not set: `level`, but only errors from rustls's
/// ClientHello parser. rustls 0.23 warns there once per connection about client quirks,
/// such as an IP address sent as the TLS server name (wrk does), which it ignores. A
/// handshake it rejects is still logged at debug by the listener. Under the level policy
/// above these are debug detail, not warnings.
fn default_directives(level: &str) -> String {
    format!("{level},rustls::msgs::handshake=error")
}

/// Standard error behind a shared buffer.
///
/// At tens of thousands of requests a second, one blocking `write` per access-log line on
/// the runtime's worker threads was a measurable share of the proxy's CPU (see
/// `bench/notes.md`). Here a line is copied into the buffer under a lock. The thread that
/// fills it past `BATCH_BYTES` writes the batch, and a flusher thread writes whatever is
/// left every `FLUSH_EVERY`, so a quiet process still shows its lines promptly. No line
/// is dropped: when standard error blocks, logging waits.
#[derive(Clone)]
pub struct BatchedStderr {
    shared: Arc<Shared>,
}

struct Shared {
    buffer: Mutex<Vec<u8>>,
    stopped: Mutex<bool>,
    stop: Condvar,
}

impl Shared {
    fn buffer(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while a line was being copied leaves at worst a partial line.
        self.buffer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn flush(&self) {
        let mut buffer = self.buffer();
        write_out(&mut buffer);
    }
}

/// Writes the buffer to standard error and empties it. A failed write is ignored because
/// there is nowhere left to report it.
fn write_out(buffer: &mut Vec<u8>) {
    if !buffer.is_empty() {
        let _ = std::io::stderr().lock().write_all(buffer);
        buffer.clear();
    }
}

impl BatchedStderr {
    fn start() -> (Self, FlushGuard) {
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Vec::with_capacity(BATCH_BYTES * 2)),
            stopped: Mutex::new(false),
            stop: Condvar::new(),
        });
        let flusher = Arc::clone(&shared);
        // NOTE: if the flusher thread cannot start, lines appear only once a batch is full
        // or at exit.
        let thread = std::thread::Builder::new()
            .name("storebridge-log".into())
            .spawn(move || flush_until_stopped(&flusher))
            .ok();
        let writer = Self {
            shared: Arc::clone(&shared),
        };
        (writer, FlushGuard { shared, thread })
    }
}

fn flush_until_stopped(shared: &Shared) {
    let mut stopped = shared
        .stopped
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    while !*stopped {
        stopped = match shared.stop.wait_timeout(stopped, FLUSH_EVERY) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
        shared.flush();
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

/// Copies one formatted event into the shared buffer.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self.shared.buffer();
        buffer.extend_from_slice(bytes);
        if buffer.len() >= BATCH_BYTES {
            write_out(&mut buffer);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops the flusher thread and writes what is still buffered.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        *self
            .shared
            .stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.stop.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.flush();
    }
}

//! A lean `log` backend: one line per record on stderr, with the time since start.
//!
//! The level comes from `-v`: none shows this tool's warnings and errors (and the
//! libraries' errors); `-v` adds this tool's information (connections, their ends) and the
//! libraries' warnings; `-vv` adds debug output, rustls's included; `-vvv` everything.
//! The libraries' warnings wait for `-v` because a peer can provoke them at will: under a
//! load tool that sends an IP address as SNI, rustls warns once per connection.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLogger {
    level: LevelFilter,
    start: Instant,
}

/// Installs the logger for `verbosity` (the number of `-v`).
pub fn init(verbosity: u8) {
    static LOGGER: OnceLock<StderrLogger> = OnceLock::new();
    let level = match verbosity {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let logger = LOGGER.get_or_init(|| StderrLogger {
        level,
        start: Instant::now(),
    });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // The libraries (rustls) count one level lower: their warnings from -v on, their
        // information from -vv on.
        let library = !metadata.target().starts_with("sslfile");
        let level = match (library, metadata.level()) {
            (true, Level::Warn) => Level::Info,
            (true, Level::Info) => Level::Debug,
            (_, level) => level,
        };
        level <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let elapsed = self.start.elapsed();
        let target = record.target();
        // "sslfile::serve::callback" → "serve::callback": the binary's name is implied.
        let target = target.strip_prefix("sslfile::").unwrap_or(target);
        let _ = writeln!(
            std::io::stderr().lock(),
            "[{:>4}.{:03}s {:<5} {target}] {}",
            elapsed.as_secs(),
            elapsed.subsec_millis(),
            record.level(),
            record.args()
        );
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

//! A lean `log` backend: one line per record on stderr, with the time since start.
//!
//! The level comes from `-v`: none shows warnings and errors; `-v` adds this tool's
//! information (connections, their ends); `-vv` adds debug output, rustls's included;
//! `-vvv` everything.

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
        // rustls logs its own information at info level: shown from -vv on.
        let library = !metadata.target().starts_with("sslfile");
        let level = if library && metadata.level() == Level::Info {
            Level::Debug
        } else {
            metadata.level()
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

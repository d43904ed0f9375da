//! Process limits: enough descriptors for a thousand clients and more.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Raises the soft limit on open descriptors (RLIMIT_NOFILE) to the hard limit, so that a
/// server can hold as many connections as the system lets this process have. Returns the
/// limit now in force (`None`: unlimited).
pub fn raise_open_files_limit() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                log::debug!(
                    "open descriptor limit raised from {:?} to {:?}",
                    limit.current,
                    limit.maximum
                );
                return limit.maximum;
            }
            Err(e) => log::warn!("cannot raise the open descriptor limit: {e}"),
        }
    }
    limit.current
}

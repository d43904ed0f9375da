//! SIGHUP reloads the server's identity: the certificate, key and client CAs are read again
//! from their files into a new context for the connections accepted from then on. A file
//! that does not load is refused with a message and the old context stays in service;
//! connections already open keep the context they started with.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use signal_hook::consts::SIGHUP;
use signal_hook::iterator::Signals;
use sslfile::{Context, Port};

use crate::failure::{Context as _, Failure};

/// The context new connections get, and the port that must follow it (blocking mode).
pub struct CurrentContext {
    ctx: Mutex<Context>,
    port: Mutex<Option<Arc<Port>>>,
}

impl CurrentContext {
    /// Starts with `ctx`.
    pub fn new(ctx: Context) -> CurrentContext {
        CurrentContext {
            ctx: Mutex::new(ctx),
            port: Mutex::new(None),
        }
    }

    /// The context for a connection accepted now.
    pub fn get(&self) -> Context {
        self.ctx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A port that accepts with the current context, now and after each reload.
    pub fn follow(&self, port: Arc<Port>) {
        port.set_context(&self.get());
        *self.port.lock().unwrap_or_else(PoisonError::into_inner) = Some(port);
    }

    fn replace(&self, ctx: Context) {
        if let Some(port) = &*self.port.lock().unwrap_or_else(PoisonError::into_inner) {
            port.set_context(&ctx);
        }
        *self.ctx.lock().unwrap_or_else(PoisonError::into_inner) = ctx;
    }
}

/// On each SIGHUP, builds a new context with `rebuild` (`None`: there are no files to
/// reload, and `nothing` says why) and puts it in service, or keeps the old one and says
/// why. Runs on a thread of its own.
pub fn reload_on_sighup(
    current: Arc<CurrentContext>,
    rebuild: Option<Box<dyn Fn() -> Result<Context, Failure> + Send>>,
    source: String,
) -> Result<(), Failure> {
    let mut signals = Signals::new([SIGHUP]).context(|| "cannot install the SIGHUP handler")?;
    thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            for _ in signals.forever() {
                let Some(rebuild) = &rebuild else {
                    eprintln!(
                        "sslfile: SIGHUP: nothing to reload: the certificate was made at \
                         start (serve --cert FILE --key FILE to reload from files)"
                    );
                    continue;
                };
                match rebuild() {
                    Ok(ctx) => {
                        current.replace(ctx);
                        eprintln!(
                            "sslfile: SIGHUP: reloaded {source}; new connections use it, \
                             open ones keep theirs"
                        );
                    }
                    Err(e) => eprintln!(
                        "sslfile: SIGHUP: kept the certificate in service, since {source} \
                         did not load: {e}"
                    ),
                }
            }
        })
        .context(|| "cannot start the reload thread")?;
    Ok(())
}

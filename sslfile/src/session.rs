//! Client-side session resumption: [`Session`] (Pike's `SSL.Session`), the context-wide
//! cache that makes reconnecting resume automatically, and the per-connection store that
//! lets `session()` / `connect_with_session()` work as in Pike.
//!
//! rustls keeps resumption data in a [`ClientSessionStore`] keyed by server name. To hand a
//! connection's session to the user (and back), each client connection gets its own small
//! store ([`ConnectionSessions`]): it files what the server issues on this connection into
//! the connection's [`Session`], and answers rustls's look-ups from the session the user
//! passed in, or else from the context's cache ([`ClientSessionCache`]), which remembers the
//! latest session per server name. The context's cache and the user's handles share one
//! [`Session`] value, so a TLS 1.3 ticket is used at most once whichever way it is reached
//! (RFC 8446 C.4: tickets should not be reused).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::NamedGroup;

/// TLS 1.3 tickets kept per session (the server decides how many it sends; rustls and
/// OpenSSL send two).
const TICKETS_PER_SESSION: usize = 8;

/// What a client needs to resume a TLS session with a server (Pike's `SSL.Session`).
///
/// Get one from [`SslFile::session`](crate::SslFile::session) after a handshake (and, with
/// TLS 1.3, after the first data was read: the server sends its tickets after the
/// handshake), and pass it to [`SslFile::connect_with_session`](crate::SslFile::connect_with_session)
/// to resume. Reconnecting with the same [`Context`](crate::Context) to the same server name
/// resumes without it too (the context's client cache), so this is only needed to choose
/// the session explicitly, e.g. when the cache is off.
///
/// A session resumes only with the context that made it (rustls refuses resumption with
/// another certificate verifier or client certificate), and only for its server name.
/// A TLS 1.3 ticket is used once: cloning a `Session` shares its tickets. The type is
/// opaque, cheap to clone, `Send` and `Sync`.
///
/// ```
/// fn assert_send_sync<T: Send + Sync + Clone>() {}
/// assert_send_sync::<sslfile::Session>();
/// ```
#[derive(Clone)]
pub struct Session {
    inner: Arc<SessionData>,
}

struct SessionData {
    server_name: ServerName<'static>,
    material: Mutex<Material>,
    /// The server's chain as verified in the full handshake the session comes from: rustls
    /// does not verify it again when the session resumes.
    verified_chain: Mutex<Option<Vec<CertificateDer<'static>>>>,
}

#[derive(Default)]
struct Material {
    tls12: Option<Tls12ClientSessionValue>,
    tls13: VecDeque<Tls13ClientSessionValue>,
}

impl Session {
    pub(crate) fn new(server_name: ServerName<'static>) -> Session {
        Session {
            inner: Arc::new(SessionData {
                server_name,
                material: Mutex::new(Material::default()),
                verified_chain: Mutex::new(None),
            }),
        }
    }

    /// The server name (or IP address) the session was made with; it resumes only there.
    pub fn server_name(&self) -> String {
        self.inner.server_name.to_str().into_owned()
    }

    /// True if the session still holds something to resume with: a TLS 1.2 session, or a
    /// TLS 1.3 ticket not used yet. (Whether the server still accepts it is only known by
    /// trying: a refused session gives a full handshake, not an error.)
    pub fn is_resumable(&self) -> bool {
        let material = self.material();
        material.tls12.is_some() || !material.tls13.is_empty()
    }

    /// How many unused TLS 1.3 tickets the session holds.
    pub fn tls13_tickets(&self) -> usize {
        self.material().tls13.len()
    }

    pub(crate) fn is_for(&self, name: &ServerName<'_>) -> bool {
        self.inner.server_name == *name
    }

    fn same_as(&self, other: &Session) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn verified_chain(&self) -> MutexGuard<'_, Option<Vec<CertificateDer<'static>>>> {
        self.inner
            .verified_chain
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn material(&self) -> MutexGuard<'_, Material> {
        self.inner
            .material
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let material = self.material();
        f.debug_struct("Session")
            .field("server_name", &self.inner.server_name)
            .field("tls12", &material.tls12.is_some())
            .field("tls13_tickets", &material.tls13.len())
            .finish()
    }
}

/// The context's client cache: the latest session and key-exchange hint per server name,
/// for at most `capacity` names (the oldest name is forgotten first). Capacity 0: off.
pub(crate) struct ClientSessionCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_name: HashMap<ServerName<'static>, Entry>,
    order: VecDeque<ServerName<'static>>,
}

#[derive(Default)]
struct Entry {
    latest: Option<Session>,
    kx_hint: Option<NamedGroup>,
}

impl ClientSessionCache {
    pub(crate) fn new(capacity: usize) -> ClientSessionCache {
        ClientSessionCache {
            capacity,
            entries: Mutex::new(Entries::default()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, name: &ServerName<'static>, change: impl FnOnce(&mut Entry)) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries();
        if !entries.by_name.contains_key(name) {
            while entries.by_name.len() >= self.capacity {
                let Some(oldest) = entries.order.pop_front() else {
                    break;
                };
                entries.by_name.remove(&oldest);
            }
            entries.order.push_back(name.clone());
        }
        change(entries.by_name.entry(name.clone()).or_default());
    }

    fn latest(&self, name: &ServerName<'_>) -> Option<Session> {
        self.entries().by_name.get(name)?.latest.clone()
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.entries().by_name.get(name)?.kx_hint
    }
}

impl fmt::Debug for ClientSessionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSessionCache")
            .field("capacity", &self.capacity)
            .field("names", &self.entries().by_name.len())
            .finish()
    }
}

/// One client connection's view of resumption (rustls's store for that connection).
pub(crate) struct ConnectionSessions {
    cache: Arc<ClientSessionCache>,
    /// The session passed to `connect_with_session`: the only one this connection resumes.
    offered: Option<Session>,
    /// What the server issued on this connection.
    received: Session,
    /// False when the connection cannot negotiate TLS 1.3: its tickets are left for others.
    tls13: bool,
    /// The session rustls last took resumption material from, if any.
    resumed_from: Mutex<Option<Session>>,
}

impl ConnectionSessions {
    pub(crate) fn new(
        cache: Arc<ClientSessionCache>,
        server_name: ServerName<'static>,
        offered: Option<Session>,
        tls13: bool,
    ) -> ConnectionSessions {
        ConnectionSessions {
            cache,
            offered,
            received: Session::new(server_name),
            tls13,
            resumed_from: Mutex::new(None),
        }
    }

    /// The full handshake verified `chain`: the sessions it makes carry it.
    pub(crate) fn set_verified_chain(&self, chain: Option<Vec<CertificateDer<'static>>>) {
        *self.received.verified_chain() = chain;
    }

    /// The connection resumed: the chain verified when its session was made (carried on to
    /// the sessions this connection makes).
    pub(crate) fn resumed_verified_chain(&self) -> Option<Vec<CertificateDer<'static>>> {
        let from = self
            .resumed_from
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        let chain = from.verified_chain().clone();
        self.set_verified_chain(chain.clone());
        chain
    }

    /// Where resumption material was taken from: `source`, if it gave some.
    fn taking<T>(&self, source: Session, material: Option<T>) -> Option<T> {
        if material.is_some() {
            *self.resumed_from.lock().unwrap_or_else(|e| e.into_inner()) = Some(source);
        }
        material
    }

    /// The session this connection made (or refreshed), once the server issued one.
    pub(crate) fn session(&self) -> Option<Session> {
        let material = self.received.material();
        (material.tls12.is_some() || !material.tls13.is_empty()).then(|| self.received.clone())
    }

    /// Where resumption material for `name` comes from: the offered session, else the cache.
    fn source(&self, name: &ServerName<'_>) -> Option<Session> {
        match &self.offered {
            Some(offered) => offered.is_for(name).then(|| offered.clone()),
            None => self.cache.latest(name),
        }
    }

    fn remember(&self, name: ServerName<'static>) {
        let received = self.received.clone();
        self.cache
            .update(&name, |entry| entry.latest = Some(received));
    }
}

impl fmt::Debug for ConnectionSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSessions")
            .field("offered", &self.offered)
            .field("received", &self.received)
            .finish()
    }
}

impl ClientSessionStore for ConnectionSessions {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.cache
            .update(&server_name, |entry| entry.kx_hint = Some(group));
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.cache.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.received.material().tls12 = Some(value);
        self.remember(server_name);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        let source = self.source(server_name)?;
        let material = source.material().tls12.clone();
        self.taking(source, material)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        if let Some(source) = self.source(server_name) {
            if !source.same_as(&self.received) {
                source.material().tls12 = None;
            }
        }
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        {
            let mut material = self.received.material();
            if material.tls13.len() >= TICKETS_PER_SESSION {
                material.tls13.pop_front();
            }
            material.tls13.push_back(value);
        }
        self.remember(server_name);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        if !self.tls13 {
            return None;
        }
        // Newest first: the oldest tickets are the likeliest to have expired.
        let source = self.source(server_name)?;
        let ticket = source.material().tls13.pop_back();
        self.taking(source, ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ServerName<'static> {
        ServerName::try_from(s.to_string()).unwrap()
    }

    #[test]
    fn the_cache_forgets_the_oldest_name_first() {
        let cache = ClientSessionCache::new(2);
        for host in ["a.test", "b.test", "c.test"] {
            cache.update(&name(host), |e| e.kx_hint = Some(NamedGroup::X25519));
        }
        assert_eq!(cache.kx_hint(&name("a.test")), None);
        assert_eq!(cache.kx_hint(&name("b.test")), Some(NamedGroup::X25519));
        assert_eq!(cache.kx_hint(&name("c.test")), Some(NamedGroup::X25519));
    }

    #[test]
    fn a_cache_of_size_zero_keeps_nothing() {
        let cache = ClientSessionCache::new(0);
        cache.update(&name("a.test"), |e| e.kx_hint = Some(NamedGroup::X25519));
        assert_eq!(cache.kx_hint(&name("a.test")), None);
    }

    #[test]
    fn an_offered_session_is_used_only_for_its_name() {
        let cache = Arc::new(ClientSessionCache::new(4));
        let offered = Session::new(name("a.test"));
        let conn = ConnectionSessions::new(cache, name("a.test"), Some(offered), true);
        assert!(conn.source(&name("a.test")).is_some());
        assert!(conn.source(&name("b.test")).is_none());
        assert!(conn.session().is_none(), "nothing received yet");
    }
}

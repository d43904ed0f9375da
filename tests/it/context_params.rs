//! Context protocol parameters: cipher-suite selection (and whose order wins), key-exchange
//! groups (with the HelloRetryRequest they may cost, and the hint that avoids it next
//! time), and the record size limit, measured on the wire.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::thread;

use common::certs::TestPki;
use common::openssl::{SClient, SClientOpts, TlsVer};
use common::pair::{exchange, Exchange, Transport};
use common::{accept_timeout, random_bytes, TIMEOUT};
use sslfile::{
    AlertDescription, CipherSuite, Context, ContextBuilder, Error, File, HandshakeKind, NamedGroup,
    SslFile, TlsVersion,
};

struct Pki {
    pki: TestPki,
    id: common::certs::Identity,
}

impl Pki {
    fn new() -> Pki {
        let pki = TestPki::new();
        let id = pki.leaf(&["localhost", "127.0.0.1"]);
        Pki { pki, id }
    }

    fn server(&self) -> ContextBuilder {
        Context::builder()
            .certificate_chain_pem(self.id.chain_pem.as_bytes(), self.id.key_pem.as_bytes())
            .unwrap()
    }

    fn client(&self) -> ContextBuilder {
        Context::builder()
            .trust_pem(self.pki.ca_pem.as_bytes())
            .unwrap()
    }
}

fn run(server: &Context, client: &Context) -> Exchange {
    exchange(server, client, Transport::SocketPair, |f| {
        f.connect("localhost")
    })
}

/// Both sides' view of a successful connection.
fn ok(done: Exchange) -> (SslFile, SslFile) {
    let client = done.client.expect("client handshake");
    assert_eq!(done.client_read.expect("client read"), b"hello");
    (client, done.server.expect("server"))
}

fn only(version: TlsVersion, builder: ContextBuilder) -> ContextBuilder {
    builder.versions(version, version).unwrap()
}

#[test]
fn the_client_can_choose_the_cipher_suite() {
    let p = Pki::new();
    let server = p.server().build().unwrap();
    for (version, suite) in [
        (
            TlsVersion::Tls1_3,
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (TlsVersion::Tls1_3, CipherSuite::TLS13_AES_128_GCM_SHA256),
        (
            TlsVersion::Tls1_2,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            TlsVersion::Tls1_2,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
    ] {
        let client = only(version, p.client())
            .cipher_suites([suite])
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(client.cipher_suites(), vec![suite]);
        let (c, s) = ok(run(&server, &client));
        assert_eq!(c.cipher_suite(), Some(suite));
        assert_eq!(s.cipher_suite(), Some(suite));
        assert_eq!(c.protocol_version(), Some(version));
    }
}

/// A server that sets its suites applies its own order; otherwise the client's wins.
#[test]
fn a_server_with_chosen_suites_prefers_its_own_order() {
    let p = Pki::new();
    let client_order = [
        CipherSuite::TLS13_AES_256_GCM_SHA384,
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    let client = only(TlsVersion::Tls1_3, p.client())
        .cipher_suites(client_order)
        .unwrap()
        .build()
        .unwrap();
    let default_server = p.server().build().unwrap();
    let (c, _) = ok(run(&default_server, &client));
    assert_eq!(
        c.cipher_suite(),
        Some(CipherSuite::TLS13_AES_256_GCM_SHA384)
    );

    let picky = only(TlsVersion::Tls1_3, p.server())
        .cipher_suites([
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS13_AES_256_GCM_SHA384,
        ])
        .unwrap()
        .build()
        .unwrap();
    let (c, s) = ok(run(&picky, &client));
    assert_eq!(
        c.cipher_suite(),
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
    assert_eq!(
        s.cipher_suite(),
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
}

#[test]
fn no_cipher_suite_in_common_fails_readably_on_both_sides() {
    let p = Pki::new();
    let server = only(TlsVersion::Tls1_3, p.server())
        .cipher_suites([CipherSuite::TLS13_AES_128_GCM_SHA256])
        .unwrap()
        .build()
        .unwrap();
    let client = only(TlsVersion::Tls1_3, p.client())
        .cipher_suites([CipherSuite::TLS13_CHACHA20_POLY1305_SHA256])
        .unwrap()
        .build()
        .unwrap();
    let done = run(&server, &client);
    let server_err = done.server.expect_err("refused");
    assert_eq!(
        server_err.to_string(),
        "no cipher suite in common with the peer"
    );
    let client_err = done.client.expect_err("refused");
    assert!(
        matches!(
            client_err,
            Error::PeerAlert {
                alert: AlertDescription::HandshakeFailure,
                ..
            }
        ),
        "{client_err:?}"
    );
    assert_eq!(
        client_err.to_string(),
        "the peer sent a fatal alert (handshake_failure): it found no acceptable security parameters"
    );
}

#[test]
fn the_key_exchange_group_can_be_chosen() {
    let p = Pki::new();
    let server = p.server().build().unwrap();
    for version in [TlsVersion::Tls1_2, TlsVersion::Tls1_3] {
        for group in [
            NamedGroup::secp384r1,
            NamedGroup::secp256r1,
            NamedGroup::X25519,
        ] {
            let client = only(version, p.client())
                .kx_groups([group])
                .unwrap()
                .build()
                .unwrap();
            assert_eq!(client.kx_groups(), vec![group]);
            let (c, s) = ok(run(&server, &client));
            assert_eq!(c.key_exchange_group(), Some(group), "{version}");
            assert_eq!(s.key_exchange_group(), Some(group), "{version}");
            assert_eq!(c.handshake_kind(), Some(HandshakeKind::Full));
        }
    }
}

/// `crypto_provider` replaces the whole provider: its suites and groups are what the
/// context offers, and the provider's random numbers are the ones used (a provider whose
/// generator fails makes the handshake fail), in both roles.
#[test]
fn a_context_uses_the_crypto_provider_it_was_given() {
    use sslfile::rustls::crypto::{aws_lc_rs, CryptoProvider, GetRandomFailed, SecureRandom};

    let p = Pki::new();
    let narrow = Arc::new(CryptoProvider {
        cipher_suites: vec![aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256],
        kx_groups: vec![aws_lc_rs::kx_group::SECP384R1],
        ..aws_lc_rs::default_provider()
    });
    // TLS 1.3 only: the provider has no TLS 1.2 suite (the range is checked against it).
    let client = only(TlsVersion::Tls1_3, p.client())
        .crypto_provider(narrow.clone())
        .build()
        .unwrap();
    assert_eq!(
        client.cipher_suites(),
        vec![CipherSuite::TLS13_CHACHA20_POLY1305_SHA256]
    );
    assert_eq!(client.kx_groups(), vec![NamedGroup::secp384r1]);
    let server = p.server().build().unwrap();
    let (c, s) = ok(run(&server, &client));
    assert_eq!(
        c.cipher_suite(),
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
    assert_eq!(s.key_exchange_group(), Some(NamedGroup::secp384r1));
    // The server side too: the key is loaded with the provider given before it.
    let server = only(TlsVersion::Tls1_3, Context::builder())
        .crypto_provider(narrow)
        .certificate_chain_pem(p.id.chain_pem.as_bytes(), p.id.key_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let (c, _) = ok(run(&server, &p.client().build().unwrap()));
    assert_eq!(c.key_exchange_group(), Some(NamedGroup::secp384r1));

    #[derive(Debug)]
    struct Broken;
    impl SecureRandom for Broken {
        fn fill(&self, _: &mut [u8]) -> Result<(), GetRandomFailed> {
            Err(GetRandomFailed)
        }
    }
    static BROKEN: Broken = Broken;
    let broken = Arc::new(CryptoProvider {
        secure_random: &BROKEN,
        ..aws_lc_rs::default_provider()
    });
    let client = p.client().crypto_provider(broken).build().unwrap();
    let done = run(&p.server().build().unwrap(), &client);
    assert!(
        done.client.is_err(),
        "a client without random numbers connected"
    );
}

/// A TLS 1.3 client's first key share for a group the server does not take costs a
/// HelloRetryRequest; the client remembers the server's group and sends the right share
/// the next time.
#[test]
fn an_unwanted_key_share_costs_one_retry_then_the_hint_avoids_it() {
    let p = Pki::new();
    let server = p
        .server()
        .kx_groups([NamedGroup::secp384r1])
        .unwrap()
        .session_tickets(false)
        .server_session_cache(0) // full handshakes every time
        .build()
        .unwrap();
    let client = only(TlsVersion::Tls1_3, p.client())
        .kx_groups([NamedGroup::X25519, NamedGroup::secp384r1])
        .unwrap()
        .build()
        .unwrap();
    let (c, s) = ok(run(&server, &client));
    assert_eq!(
        c.handshake_kind(),
        Some(HandshakeKind::FullWithHelloRetryRequest)
    );
    assert_eq!(
        s.handshake_kind(),
        Some(HandshakeKind::FullWithHelloRetryRequest)
    );
    assert_eq!(c.key_exchange_group(), Some(NamedGroup::secp384r1));
    let (c, s) = ok(run(&server, &client));
    assert_eq!(c.handshake_kind(), Some(HandshakeKind::Full));
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
}

#[test]
fn no_key_exchange_group_in_common_fails_readably() {
    let p = Pki::new();
    let server = p
        .server()
        .kx_groups([NamedGroup::X25519])
        .unwrap()
        .build()
        .unwrap();
    let client = p
        .client()
        .kx_groups([NamedGroup::secp384r1])
        .unwrap()
        .build()
        .unwrap();
    let done = run(&server, &client);
    let server_err = done.server.expect_err("refused");
    assert_eq!(
        server_err.to_string(),
        "no key exchange group in common with the peer"
    );
    assert!(done.client.is_err());
}

/// `openssl s_client -ciphersuites` / `-cipher` against a server restricted to ChaCha20:
/// the suite both report is the one chosen.
#[test]
fn openssl_s_client_negotiates_the_chosen_suite() {
    let p = Pki::new();
    let server = p
        .server()
        .cipher_suites([
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ])
        .unwrap()
        .build()
        .unwrap();
    for (ver, flag, openssl_name, suite) in [
        (
            TlsVer::Tls13,
            "-ciphersuites",
            "TLS_CHACHA20_POLY1305_SHA256",
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (
            TlsVer::Tls12,
            "-cipher",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut opts = SClientOpts::new(listener.local_addr().unwrap().port());
        opts.tls = Some(ver);
        opts.quiet = false;
        opts.extra_args = vec![flag.into(), openssl_name.into()];
        let mut client = SClient::spawn(opts);
        let sock = accept_timeout(&listener, TIMEOUT).expect("s_client connects");
        let tls = SslFile::new(File::try_from(sock).unwrap(), &server);
        tls.set_blocking();
        tls.set_timeout(Some(TIMEOUT));
        tls.accept()
            .unwrap_or_else(|e| panic!("{e}\n{}", client.describe()));
        assert_eq!(tls.cipher_suite(), Some(suite));
        client.close_stdin();
        let mut rest = Vec::new();
        let _ = (&tls).read_to_end(&mut rest);
        assert!(
            client.wait_with_timeout(TIMEOUT).is_some(),
            "{}",
            client.describe()
        );
        let out = client.stdout_text();
        assert!(out.contains(&format!("Cipher is {openssl_name}")), "{out}");
    }
}

// ----- record size -----------------------------------------------------------------------

/// The TLS records seen on the wire in one direction: (content type, length).
#[derive(Default)]
struct RecordLog {
    header: Vec<u8>,
    body_left: usize,
    records: Vec<(u8, usize)>,
}

impl RecordLog {
    fn observe(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len());
                self.body_left -= n;
                data = &data[n..];
                continue;
            }
            let n = (5 - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.header.len() == 5 {
                let len = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                self.records.push((self.header[0], len));
                self.body_left = len;
                self.header.clear();
            }
        }
    }

    /// The lengths of the application-data records (type 23).
    fn application_data(&self) -> Vec<usize> {
        self.records
            .iter()
            .filter(|(kind, _)| *kind == 23)
            .map(|(_, len)| *len)
            .collect()
    }
}

/// Copies `from` to `to`, logging the records, until `from` ends.
fn tap(
    mut from: UnixStream,
    mut to: UnixStream,
    log: Arc<Mutex<RecordLog>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 65536];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    log.lock().unwrap().observe(&buf[..n]);
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    })
}

/// Sends 20000 bytes each way through a tap; returns the lengths of the application-data
/// records (client → server, server → client).
fn record_lengths(server_ctx: &Context, client_ctx: &Context) -> (Vec<usize>, Vec<usize>) {
    let (client_end, tap_c) = UnixStream::pair().unwrap();
    let (tap_s, server_end) = UnixStream::pair().unwrap();
    let up = Arc::new(Mutex::new(RecordLog::default()));
    let down = Arc::new(Mutex::new(RecordLog::default()));
    let t1 = tap(
        tap_c.try_clone().unwrap(),
        tap_s.try_clone().unwrap(),
        up.clone(),
    );
    let t2 = tap(tap_s, tap_c, down.clone());
    let data = random_bytes(20000, 7);
    let server_ctx = server_ctx.clone();
    let expected = data.clone();
    let server = thread::spawn(move || {
        let tls = SslFile::server(File::try_from(server_end).unwrap(), &server_ctx).unwrap();
        tls.set_timeout(Some(TIMEOUT));
        let mut got = vec![0u8; expected.len()];
        (&tls).read_exact(&mut got).unwrap();
        assert_eq!(got, expected);
        (&tls).write_all(&got).unwrap();
        tls.close().unwrap();
    });
    let tls =
        SslFile::client(File::try_from(client_end).unwrap(), client_ctx, "localhost").unwrap();
    tls.set_timeout(Some(TIMEOUT));
    (&tls).write_all(&data).unwrap();
    let mut echo = Vec::new();
    (&tls).read_to_end(&mut echo).unwrap();
    assert_eq!(echo, data);
    tls.close().unwrap();
    server.join().unwrap();
    t1.join().unwrap();
    t2.join().unwrap();
    let up = up.lock().unwrap().application_data();
    let down = down.lock().unwrap().application_data();
    (up, down)
}

/// The record size limit bounds every record we send (plaintext + the AEAD's overhead),
/// on the client and on the server, with TLS 1.2 and 1.3; without it records are large.
#[test]
fn the_record_size_limit_bounds_the_records_on_the_wire() {
    let p = Pki::new();
    const LIMIT: usize = 512;
    // Ciphertext overhead: TLS 1.3 adds the content type byte and a 16-byte tag; TLS 1.2
    // AES-GCM an 8-byte explicit nonce and the tag.
    const OVERHEAD: usize = 24;
    for version in [TlsVersion::Tls1_2, TlsVersion::Tls1_3] {
        let limited_server = p
            .server()
            .record_size_limit(LIMIT)
            .unwrap()
            .build()
            .unwrap();
        let limited_client = only(version, p.client())
            .record_size_limit(LIMIT)
            .unwrap()
            .build()
            .unwrap();
        let (up, down) = record_lengths(&limited_server, &limited_client);
        for (dir, lens) in [("client → server", &up), ("server → client", &down)] {
            let max = *lens.iter().max().unwrap();
            assert!(
                max <= LIMIT + OVERHEAD,
                "{version} {dir}: a record of {max} bytes"
            );
            assert!(
                lens.len() >= 20000 / LIMIT,
                "{version} {dir}: only {} records",
                lens.len()
            );
        }

        let server = p.server().build().unwrap();
        let client = only(version, p.client()).build().unwrap();
        let (up, down) = record_lengths(&server, &client);
        for (dir, lens) in [("client → server", &up), ("server → client", &down)] {
            let max = *lens.iter().max().unwrap();
            assert!(
                max > 16 * 1024,
                "{version} {dir}: unlimited records reach 16 KiB ({max})"
            );
        }
    }
}

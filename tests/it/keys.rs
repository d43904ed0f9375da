//! Secrets and keying material, checked against OpenSSL's own view of the same connection:
//! the key log (`ContextBuilder::key_log_file`) and the exporter
//! (`SslFile::export_keying_material`), with TLS 1.3 and 1.2.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use common::openssl::{SClient, SClientOpts, SServer, SServerOpts, TlsVer};
use common::pair::Setup;
use common::TIMEOUT;
use sslfile::{Context, File, SslFile};

/// The line of `log` that starts with `label`.
fn line<'a>(log: &'a str, label: &str) -> Option<&'a str> {
    log.lines().find(|l| l.starts_with(label))
}

#[test]
fn our_key_log_holds_the_lines_of_openssl_s_server_for_the_same_connection() {
    let setup = Setup::new();
    let dir = common::tempdir();
    let files = setup
        .pki
        .leaf(&["localhost"])
        .write_to(dir.path(), "server");
    for (tls, label) in [
        (TlsVer::Tls13, "CLIENT_TRAFFIC_SECRET_0 "),
        (TlsVer::Tls12, "CLIENT_RANDOM "),
    ] {
        let theirs = dir.path().join(format!("theirs-{label}.log"));
        let ours = dir.path().join(format!("ours-{label}.log"));
        let s_server = SServer::spawn({
            let mut opts = SServerOpts::new(&files);
            opts.naccept = None;
            opts.tls = Some(tls);
            opts.extra_args = vec!["-keylogfile".into(), theirs.display().to_string()];
            opts
        });
        let ctx = Context::builder()
            .trust_pem(setup.pki.ca_pem.as_bytes())
            .unwrap()
            .key_log_file(&ours)
            .unwrap()
            .build()
            .unwrap();
        let tcp = File::connect(("127.0.0.1", s_server.port())).unwrap();
        let tls_file = SslFile::client(tcp, &ctx, "localhost").unwrap();
        (&tls_file).write_all(b"logged\n").unwrap();
        // s_server printed it: its side of the handshake is done, its log written.
        assert!(s_server.stdout().wait_for(b"logged", TIMEOUT));
        tls_file.close().unwrap();
        let ours = std::fs::read_to_string(&ours).unwrap();
        let theirs = std::fs::read_to_string(&theirs).unwrap();
        let our_line = line(&ours, label).unwrap_or_else(|| panic!("{label}: {ours}"));
        assert!(
            theirs.lines().any(|l| l == our_line),
            "{label}\nours:\n{ours}\ntheirs:\n{theirs}"
        );
    }
}

#[test]
fn exported_keying_material_equals_openssl_s_clients() {
    let setup = Setup::new();
    const LABEL: &str = "EXPERIMENTAL-sslfile-test";
    for tls in [TlsVer::Tls13, TlsVer::Tls12] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server_ctx = setup.server_ctx.clone();
        let server = thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let tls_file = SslFile::server(File::try_from(socket).unwrap(), &server_ctx).unwrap();
            tls_file.set_timeout(Some(TIMEOUT));
            let exported = tls_file
                .export_keying_material(LABEL.as_bytes(), None, 32)
                .unwrap();
            // Until s_client is done: its close_notify or its end.
            let mut sink = Vec::new();
            let _ = (&tls_file).read_to_end(&mut sink);
            exported
        });
        let mut s_client = SClient::spawn({
            let mut opts = SClientOpts::new(port);
            opts.tls = Some(tls);
            opts.quiet = false;
            opts.extra_args = vec![
                "-keymatexport".into(),
                LABEL.into(),
                "-keymatexportlen".into(),
                "32".into(),
            ];
            opts
        });
        assert!(
            s_client.stdout().wait_for(b"Keying material: ", TIMEOUT),
            "{}",
            s_client.describe()
        );
        // The whole line: the material, then its newline.
        let theirs = common::pair::eventually(|| {
            let text = s_client.stdout_text();
            let at = text.find("Keying material: ")? + "Keying material: ".len();
            let rest = &text[at..];
            let end = rest.find('\n')?;
            Some(rest[..end].trim().to_ascii_lowercase())
        });
        s_client.close_stdin();
        let ours: String = server
            .join()
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(ours, theirs, "{tls:?}");
    }
}

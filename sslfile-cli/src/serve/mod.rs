//! `sslfile serve`: HTTPS (or echo) in any of the library's modes, on a certificate made at
//! start unless one is given.
//!
//! * [`service`]: what is said on a connection (bytes in, bytes out), shared by the modes;
//!   [`http`] is the page server.
//! * [`callback`]: nonblocking connections with callbacks, one backend per thread.
//! * [`blocking`]: one connection at a time, or a thread per connection.
//! * [`connections`]: the open connections, closed with close_notify on Ctrl-C.
//! * [`reload`]: SIGHUP reads the certificate files again, for new connections.

mod blocking;
mod callback;
mod connections;
mod plaintext;
mod reload;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use sslfile::{ClientAuth, Context, Port};

use crate::cert::SelfSigned;
use crate::failure::{Context as _, Failure};
use crate::limits;
use crate::tls_options::TlsOptions;
use connections::Connections;
use reload::CurrentContext;
use sslfile_cli::service::Protocol;

/// `sslfile serve` options.
#[derive(Debug, Args)]
#[command(
    after_help = "Without --cert, a certificate for localhost, 127.0.0.1 and ::1 is made \
at start and written to a temporary file, whose path is printed with a curl command line that \
trusts it. Ctrl-C (or SIGTERM) closes every connection with close_notify and exits with status 0. \
SIGHUP reads --cert, --key, --client-ca, --crl and --ocsp again for the connections accepted from then on (open \
ones keep theirs); files that do not load are refused with a message, and the old certificate \
stays in service."
)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, short, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    listen: String,

    /// Answer each HTTP request with a page naming the connection's TLS version, cipher
    /// suite, ALPN protocol and SNI name; keep-alive as HTTP/1.1 says (the default).
    #[arg(long, conflicts_with = "echo")]
    http: bool,

    /// Echo every byte back (until the client's close_notify).
    #[arg(long)]
    echo: bool,

    /// How connections are served.
    #[arg(long, value_enum, default_value_t = Mode::Callback)]
    mode: Mode,

    /// Backend threads for --mode callback [default: one per CPU core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,

    /// Require a client certificate issued by a CA in this PEM file.
    #[arg(long, value_name = "PEM")]
    client_ca: Option<PathBuf>,

    /// Staple this DER OCSP response (from the CA, e.g. openssl ocsp -respout) to --cert;
    /// read again with it on SIGHUP.
    #[arg(long, value_name = "DER", requires = "cert")]
    ocsp: Option<PathBuf>,

    /// Seconds after which an idle connection, or a handshake not done, is closed.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    timeout: f64,

    #[command(flatten)]
    tls: TlsOptions,
}

/// How `serve` drives its connections: each of the library's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Nonblocking connections driven by callbacks, on one event loop (Backend) per thread.
    Callback,
    /// One connection at a time, blocking, on the main thread (Port::accept).
    Blocking,
    /// A thread per connection, each blocking.
    Threads,
}

/// What every mode needs to serve a connection.
pub struct Server {
    /// The server's TLS configuration (SIGHUP replaces it).
    pub ctx: Arc<CurrentContext>,
    /// HTTP or echo.
    pub protocol: Protocol,
    /// The open connections.
    pub connections: Arc<Connections>,
    /// Idle and handshake timeout.
    pub timeout: Duration,
}

/// Runs `sslfile serve` until Ctrl-C (which exits the process with status 0).
pub fn run(args: ServeArgs) -> Result<(), Failure> {
    let open_files = limits::raise_open_files_limit();
    let protocol = if args.echo {
        Protocol::Echo
    } else {
        Protocol::Http
    };
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| Failure::new("--timeout must be a positive number of seconds"))?;
    if args.threads.is_some() && args.mode != Mode::Callback {
        return Err(Failure::new("--threads is for --mode callback"));
    }
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );

    let self_signed = match args.tls.cert {
        Some(_) => None,
        None => Some(SelfSigned::localhost()?),
    };
    let ctx = build_context(
        &args.tls,
        args.client_ca.as_deref(),
        args.ocsp.as_deref(),
        protocol,
        self_signed.as_ref(),
    )?;

    // Blocking mode accepts with the library's Port; the others take the plain listener.
    let listening = match args.mode {
        Mode::Blocking => Port::bind(&args.listen, &ctx).map(|p| Listening::Port(Arc::new(p))),
        Mode::Callback | Mode::Threads => TcpListener::bind(&args.listen).map(Listening::Tcp),
    }
    .map_err(|e| cannot_listen(&args.listen, e))?;
    let local = match &listening {
        Listening::Tcp(listener) => listener.local_addr(),
        Listening::Port(port) => port.local_addr(),
    }
    .context(|| "cannot read the listening address")?;

    let connections = Arc::new(Connections::default());
    connections::stop_on_signal(
        connections.clone(),
        self_signed.as_ref().map(|c| c.path().to_path_buf()),
    )?;
    let current = Arc::new(CurrentContext::new(ctx));
    if let Listening::Port(port) = &listening {
        current.follow(port.clone());
    }
    let rebuild: Option<Box<dyn Fn() -> Result<Context, Failure> + Send>> = match self_signed {
        Some(_) => None,
        None => {
            let (tls, client_ca) = (args.tls.clone(), args.client_ca.clone());
            let ocsp = args.ocsp.clone();
            Some(Box::new(move || {
                build_context(&tls, client_ca.as_deref(), ocsp.as_deref(), protocol, None)
            }))
        }
    };
    let source = match (&args.tls.cert, &args.client_ca) {
        (Some(cert), None) => format!("the certificate from {}", cert.display()),
        (Some(cert), Some(ca)) => format!(
            "the certificate from {} and the client CAs from {}",
            cert.display(),
            ca.display()
        ),
        (None, _) => String::new(),
    };
    reload::reload_on_sighup(current.clone(), rebuild, source)?;
    print_banner(&args, protocol, local, threads, self_signed.as_ref());
    log::debug!("open descriptor limit: {open_files:?}");

    let server = Arc::new(Server {
        ctx: current,
        protocol,
        connections,
        timeout,
    });
    match listening {
        Listening::Port(port) => blocking::serve_one_at_a_time(port, &server),
        Listening::Tcp(listener) if args.mode == Mode::Threads => {
            blocking::serve_with_threads(listener, server)
        }
        Listening::Tcp(listener) => callback::serve(listener, server, threads),
    }
}

/// The server's context from the command line: the certificate made at start or the
/// files given (read again on each SIGHUP), ALPN, versions, client CAs, OCSP staple.
fn build_context(
    tls: &TlsOptions,
    client_ca: Option<&Path>,
    ocsp: Option<&Path>,
    protocol: Protocol,
    self_signed: Option<&SelfSigned>,
) -> Result<Context, Failure> {
    let mut builder = Context::builder();
    if let Some(cert) = self_signed {
        builder =
            builder.certificate_chain_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes())?;
    }
    let mut builder = tls.apply(builder, protocol.default_alpn())?;
    if let Some(response) = ocsp {
        builder = builder.ocsp_response_file(response)?;
    }
    if let Some(ca) = client_ca {
        builder = builder
            .client_auth(ClientAuth::Required)
            .client_ca_pem_file(ca)?;
    }
    Ok(builder.build()?)
}

/// The listening socket, as the mode wants it.
enum Listening {
    Tcp(TcpListener),
    Port(Arc<Port>),
}

fn cannot_listen(addr: &str, e: std::io::Error) -> Failure {
    let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
        " (another server runs there: choose another port, or --listen 127.0.0.1:0 for any free one)"
    } else {
        ""
    };
    Failure::new(format!("cannot listen on {addr}: {e}{hint}"))
}

/// What the server listens on and how to try it, on stdout.
fn print_banner(
    args: &ServeArgs,
    protocol: Protocol,
    local: SocketAddr,
    threads: usize,
    self_signed: Option<&SelfSigned>,
) {
    let what = match protocol {
        Protocol::Http => "HTTPS",
        Protocol::Echo => "TLS echo",
    };
    let how = match args.mode {
        Mode::Callback => format!("callback mode, {threads} backend thread(s)"),
        Mode::Blocking => "blocking mode, one connection at a time".into(),
        Mode::Threads => "threads mode, a thread per connection".into(),
    };
    println!(
        "sslfile {}: serving {what} on {local} ({how})",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(ca) = &args.client_ca {
        println!(
            "client certificates: required, issued by a CA in {}",
            ca.display()
        );
    }
    let host = url_host(local.ip());
    let port = local.port();
    let trust = match self_signed {
        Some(cert) => {
            println!(
                "certificate: self-signed for localhost, 127.0.0.1 and ::1, made now: {}",
                cert.path().display()
            );
            Some(cert.path().display().to_string())
        }
        None => None,
    };
    let identity = if args.client_ca.is_some() {
        " --cert CLIENT_CERT --key CLIENT_KEY"
    } else {
        ""
    };
    println!("try:");
    match (protocol, trust) {
        (Protocol::Http, Some(file)) => {
            println!("  curl --cacert {file}{identity} https://{host}:{port}/")
        }
        (Protocol::Http, None) => println!("  curl{identity} https://{host}:{port}/"),
        (Protocol::Echo, trust) => {
            let me = std::env::args().next().unwrap_or_else(|| "sslfile".into());
            let trust = trust.map_or_else(String::new, |file| format!(" --cafile {file}"));
            println!("  {me} connect {host}:{port}{trust}{identity}");
        }
    }
    println!("Ctrl-C closes every connection (with close_notify) and stops.");
}

/// The host to put in a URL for a server listening on `ip`: the name the self-signed
/// certificate has for loopback and wildcard addresses.
fn url_host(ip: IpAddr) -> String {
    match ip {
        ip if ip.is_loopback() || ip.is_unspecified() => "localhost".into(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

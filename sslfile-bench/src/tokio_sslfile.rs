//! sslfile's async form (`sslfile::tokio::TlsStream`) on the same current-thread runtimes
//! as the tokio-rustls baseline, with the same loops (`super::tokio`'s sink, source and
//! echo): only the TLS stream differs.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use sslfile::tokio::TlsStream;
use sslfile::File;

use super::contenders::Bulk;
use super::echo::{EchoServer, Running};
use super::progress::Progress;
use super::setup::{Setup, SERVER_NAME};
use super::tokio::{echo, runtime, serve_echo, sink, source};

/// sslfile's tokio stream on a current-thread runtime.
pub struct SslfileTokio;

impl Bulk for SslfileTokio {
    fn name(&self) -> &'static str {
        "sslfile tokio"
    }

    fn sink(
        &self,
        listener: &TcpListener,
        setup: &Setup,
        progress: &Progress,
    ) -> io::Result<(u64, Duration)> {
        let (socket, _) = listener.accept()?;
        runtime()?.block_on(async move {
            let tls = TlsStream::accept(File::try_from(socket)?, &setup.sslfile_server).await?;
            sink(tls, progress).await
        })
    }

    fn source(
        &self,
        addr: SocketAddr,
        setup: &Setup,
        total: u64,
        chunk: usize,
    ) -> io::Result<String> {
        runtime()?.block_on(async move {
            let socket = File::connect(addr)?;
            let tls = TlsStream::connect(socket, &setup.sslfile_client, SERVER_NAME).await?;
            let suite = tls
                .ssl_file()
                .cipher_suite()
                .map_or_else(|| "?".into(), |s| format!("{s:?}"));
            source(tls, total, chunk).await?;
            Ok(suite)
        })
    }
}

impl EchoServer for SslfileTokio {
    fn name(&self) -> &'static str {
        "sslfile tokio"
    }

    fn start(&self, setup: &Setup) -> io::Result<(SocketAddr, Box<dyn Running>)> {
        let ctx = setup.sslfile_server.clone();
        serve_echo(move |socket| {
            let ctx = ctx.clone();
            async move { echo(TlsStream::accept(socket.try_into()?, &ctx).await?).await }
        })
    }
}

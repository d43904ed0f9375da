//! TLS 1.3 early data ("0-RTT") on a file: what the user asks for and what became of it.
//! The protocol side is in `crate::early_data`.

use super::SslFile;
use crate::early_data::EarlyData;
use crate::error::Error;
use crate::stream::Stream;

impl<S: Stream + 'static> SslFile<S> {
    /// Client: `data` is the start of the stream, to be sent as TLS 1.3 early data with the
    /// ClientHello when the connection resumes a session that allows it (the context must
    /// have [`early_data`](crate::ContextBuilder::early_data) on, and so must the server).
    /// Call it before [`connect`](Self::connect).
    ///
    /// Nothing is lost either way: what does not fit in the early data, and all of it if
    /// the session allows none or the server refuses it, is sent as ordinary data once the
    /// handshake completes, before anything written later. [`early_data`](Self::early_data)
    /// tells what happened.
    ///
    /// # Errors
    /// `Error::Misuse` once the handshake has started.
    ///
    /// # Examples
    ///
    /// The second connection resumes the first one's session and sends its request as
    /// early data:
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use sslfile::{Context, EarlyData, File, SslFile};
    ///
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let server_ctx = Context::builder()
    ///     .certificate_chain_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?
    ///     .early_data(16 * 1024)?
    ///     .build()?;
    /// let client_ctx = Context::builder()
    ///     .trust_pem(cert.cert.pem().as_bytes())?
    ///     .early_data(16 * 1024)?
    ///     .build()?;
    ///
    /// for round in 0..2 {
    ///     let (a, b) = File::pipe()?;
    ///     let server_ctx = server_ctx.clone();
    ///     let server = std::thread::spawn(move || -> Result<(Vec<u8>, EarlyData), sslfile::Error> {
    ///         let tls = SslFile::new(b, &server_ctx);
    ///         tls.set_blocking();
    ///         tls.set_accept_early_data(true)?; // this application may act on a replay
    ///         tls.accept()?;
    ///         let mut request = vec![0; 4];
    ///         (&tls).read_exact(&mut request)?;
    ///         (&tls).write_all(b"pong")?;
    ///         Ok((request, tls.early_data()))
    ///     });
    ///     let tls = SslFile::new(a, &client_ctx);
    ///     tls.set_blocking();
    ///     tls.set_early_data(b"ping")?;
    ///     tls.connect("localhost")?;
    ///     let mut reply = vec![0; 4];
    ///     (&tls).read_exact(&mut reply)?; // also takes the session ticket
    ///     let (request, on_server) = server.join().unwrap()?;
    ///     assert_eq!((&request[..], &reply[..]), (&b"ping"[..], &b"pong"[..]));
    ///     if round == 1 {
    ///         assert_eq!(tls.early_data(), EarlyData::Accepted { bytes: 4 });
    ///         assert_eq!(on_server, EarlyData::Accepted { bytes: 4 });
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_early_data(&self, data: &[u8]) -> Result<(), Error> {
        let mut st = self.shared.lock();
        if st.engine.is_some() {
            return Err(Error::Misuse(
                "early data must be given before the handshake starts",
            ));
        }
        st.early_data = data.to_vec();
        Ok(())
    }

    /// Server: whether this connection takes TLS 1.3 early data from a client that resumes
    /// a session (the context must have [`early_data`](crate::ContextBuilder::early_data)
    /// on). Off by default: early data can be a **replay** of another connection's first
    /// flight, so only an application that can live with that (an idempotent request)
    /// should opt in. Call it before [`accept`](Self::accept). The early data reads as the
    /// start of the stream, as soon as it is decrypted; [`early_data`](Self::early_data)
    /// says how many bytes came that way.
    ///
    /// # Errors
    /// `Error::Misuse` once the handshake has started.
    pub fn set_accept_early_data(&self, accept: bool) -> Result<(), Error> {
        let mut st = self.shared.lock();
        if st.engine.is_some() {
            return Err(Error::Misuse(
                "early data must be accepted before the handshake starts",
            ));
        }
        st.accept_early_data = accept;
        Ok(())
    }

    /// What became of TLS 1.3 early data on this connection (see
    /// [`set_early_data`](Self::set_early_data) and
    /// [`set_accept_early_data`](Self::set_accept_early_data)).
    pub fn early_data(&self) -> EarlyData {
        let st = self.shared.lock();
        st.engine
            .as_ref()
            .map_or(EarlyData::None, |engine| engine.early_data())
    }
}

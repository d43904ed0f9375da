//! `serve --http`: HTTP/1.1 requests parsed with httparse, each answered with a small page
//! naming the connection's TLS version, cipher suite, ALPN protocol and SNI name.
//!
//! Keep-alive follows HTTP/1.1 (RFC 9112 §9.3): an HTTP/1.1 connection stays open unless
//! the request says `Connection: close`; an HTTP/1.0 one closes unless it says
//! `Connection: keep-alive`. Pipelined requests are answered in order. Request bodies with a
//! `Content-Length` are skipped (without being stored); chunked bodies are refused. A
//! request head larger than [`MAX_HEAD`] is refused: memory per connection stays bounded.

use httparse::{Request, Status, EMPTY_HEADER};

use super::{ConnInfo, Next, Service};

/// The largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most headers a request may have.
const MAX_HEADERS: usize = 64;

/// One connection's HTTP state.
pub struct HttpService {
    info: ConnInfo,
    /// Received bytes not yet parsed (at most one incomplete head).
    pending: Vec<u8>,
    /// Bytes of a request body still to skip.
    skip: u64,
    /// Requests answered so far on this connection.
    answered: u64,
    /// An answer said `Connection: close`: ignore what follows.
    done: bool,
}

/// The parts of a request the answer depends on.
struct Head {
    method: String,
    path: String,
    keep_alive: bool,
    body: Result<u64, &'static str>,
}

impl HttpService {
    /// A fresh connection's state.
    pub fn new(info: ConnInfo) -> HttpService {
        HttpService {
            info,
            pending: Vec::new(),
            skip: 0,
            answered: 0,
            done: false,
        }
    }

    /// How many received bytes the connection holds (an incomplete head, at most about
    /// [`MAX_HEAD`]).
    pub fn held(&self) -> usize {
        self.pending.len()
    }

    fn page(&self, head: &Head) -> String {
        format!(
            "hello from sslfile {version} ({mode} mode)\n\
             TLS version:  {tls}\n\
             cipher suite: {suite}\n\
             key exchange: {group}\n\
             ALPN:         {alpn}\n\
             SNI:          {sni}\n\
             client cert:  {client}\n\
             request:      {method} {path} (number {number} on this connection)\n",
            version = env!("CARGO_PKG_VERSION"),
            mode = self.info.mode,
            tls = self.info.version,
            suite = self.info.suite,
            group = self.info.group,
            alpn = self.info.alpn,
            sni = self.info.sni,
            client = self.info.client_cert,
            method = head.method,
            path = head.path,
            number = self.answered + 1,
        )
    }

    /// Answers one complete request head.
    fn answer(&mut self, head: &Head, out: &mut Vec<u8>) -> Next {
        let body_len = match head.body {
            Ok(len) => len,
            Err(why) => {
                let status = if why.contains("chunked") {
                    "501 Not Implemented"
                } else {
                    "400 Bad Request"
                };
                return self.refuse(status, why, out);
            }
        };
        let page = self.page(head);
        self.answered += 1;
        self.skip = body_len;
        respond(out, "200 OK", &page, head.method == "HEAD", head.keep_alive);
        if head.keep_alive {
            Next::Continue
        } else {
            self.done = true;
            Next::Close
        }
    }

    /// Answers with an error status and ends the connection.
    fn refuse(&mut self, status: &str, why: &str, out: &mut Vec<u8>) -> Next {
        log::info!("refused a request: {status}: {why}");
        respond(out, status, &format!("{why}\n"), false, false);
        self.done = true;
        Next::Close
    }
}

impl Service for HttpService {
    fn on_data(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Next {
        loop {
            if self.done {
                return Next::Close;
            }
            // Skip a body as it arrives, without keeping it.
            if self.skip > 0 {
                let from_pending = self.pending.len().min(clamp(self.skip));
                self.pending.drain(..from_pending);
                self.skip -= from_pending as u64;
                let from_data = data.len().min(clamp(self.skip));
                data = &data[from_data..];
                self.skip -= from_data as u64;
                if self.skip > 0 {
                    return Next::Continue;
                }
            }
            self.pending.extend_from_slice(data);
            data = &[];
            let mut headers = [EMPTY_HEADER; MAX_HEADERS];
            let mut request = Request::new(&mut headers);
            match request.parse(&self.pending) {
                // However it arrived: all at once, or in pieces (refused below once the
                // pending part passes the limit).
                Ok(Status::Complete(len)) if len > MAX_HEAD => {
                    return self.refuse(
                        "431 Request Header Fields Too Large",
                        "the request head is too large",
                        out,
                    );
                }
                Ok(Status::Complete(len)) => {
                    let head = Head::from(&request);
                    self.pending.drain(..len);
                    if self.answer(&head, out) == Next::Close {
                        return Next::Close;
                    }
                }
                Ok(Status::Partial) if self.pending.len() > MAX_HEAD => {
                    return self.refuse(
                        "431 Request Header Fields Too Large",
                        "the request head is too large",
                        out,
                    );
                }
                Ok(Status::Partial) => return Next::Continue,
                Err(httparse::Error::TooManyHeaders) => {
                    return self.refuse(
                        "431 Request Header Fields Too Large",
                        "the request has too many headers",
                        out,
                    );
                }
                Err(e) => {
                    return self.refuse(
                        "400 Bad Request",
                        &format!("not an HTTP/1.x request: {e}"),
                        out,
                    );
                }
            }
        }
    }
}

impl Head {
    fn from(request: &Request<'_, '_>) -> Head {
        let header = |name: &str| {
            request
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
                .collect::<Vec<_>>()
        };
        let connection = header("connection").join(",");
        let has_token = |token: &str| connection.split(',').any(|t| t.trim() == token);
        let keep_alive = match request.version {
            Some(1) => !has_token("close"),
            _ => has_token("keep-alive"),
        };
        let lengths = header("content-length");
        let body = if !header("transfer-encoding").is_empty() {
            Err("chunked (Transfer-Encoding) request bodies are not supported")
        } else {
            match lengths.as_slice() {
                [] => Ok(0),
                [one] => one.trim().parse().map_err(|_| "invalid Content-Length"),
                _ => Err("more than one Content-Length"),
            }
        };
        Head {
            method: request.method.unwrap_or("?").to_string(),
            path: request.path.unwrap_or("?").to_string(),
            keep_alive,
            body,
        }
    }
}

fn respond(out: &mut Vec<u8>, status: &str, body: &str, head_only: bool, keep_alive: bool) {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\n\
             Connection: {connection}\r\n\
             Server: sslfile/{}\r\n\r\n",
            body.len(),
            env!("CARGO_PKG_VERSION"),
        )
        .as_bytes(),
    );
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
}

fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> HttpService {
        HttpService::new(ConnInfo {
            version: "TLS 1.3".into(),
            suite: "TLS13_AES_128_GCM_SHA256".into(),
            group: "X25519MLKEM768".into(),
            alpn: "http/1.1".into(),
            sni: "localhost".into(),
            client_cert: "(none)".into(),
            mode: "test",
        })
    }

    fn feed(s: &mut HttpService, data: &[u8]) -> (String, Next) {
        let mut out = Vec::new();
        let next = s.on_data(data, &mut out);
        (String::from_utf8(out).unwrap(), next)
    }

    #[test]
    fn a_request_split_anywhere_gets_one_page_naming_the_connection() {
        let request = b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n";
        for split in 0..request.len() {
            let mut s = service();
            let (first, next) = feed(&mut s, &request[..split]);
            assert_eq!((first.as_str(), next), ("", Next::Continue));
            let (page, next) = feed(&mut s, &request[split..]);
            assert_eq!(next, Next::Continue);
            assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
            assert!(page.contains("Connection: keep-alive"), "{page}");
            assert!(page.contains("TLS version:  TLS 1.3\n"), "{page}");
            assert!(page.contains("SNI:          localhost\n"), "{page}");
            assert!(
                page.contains("GET /x (number 1 on this connection)"),
                "{page}"
            );
        }
    }

    #[test]
    fn pipelined_requests_are_numbered_and_close_ends() {
        let mut s = service();
        let (out, next) = feed(
            &mut s,
            b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
        );
        assert_eq!(next, Next::Close);
        assert!(out.contains("GET /a (number 1"), "{out}");
        assert!(out.contains("GET /b (number 2"), "{out}");
        assert!(!out.contains("/c"), "{out}");
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2);
        assert!(out.ends_with("on this connection)\n"));
    }

    #[test]
    fn http_1_0_closes_unless_keep_alive_is_asked() {
        let (_, next) = feed(&mut service(), b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(next, Next::Close);
        let (out, next) = feed(
            &mut service(),
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        );
        assert_eq!(next, Next::Continue);
        assert!(out.contains("Connection: keep-alive"));
    }

    #[test]
    fn bodies_are_skipped_even_when_split() {
        let mut s = service();
        let (out, _) = feed(
            &mut s,
            b"POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123",
        );
        assert!(out.contains("POST /p (number 1"));
        let (out, next) = feed(&mut s, b"456789GET /q HTTP/1.1\r\n\r\n");
        assert_eq!(next, Next::Continue);
        assert!(out.contains("GET /q (number 2"), "{out}");
    }

    #[test]
    fn head_gets_no_body() {
        let (out, _) = feed(&mut service(), b"HEAD / HTTP/1.1\r\n\r\n");
        assert!(out.ends_with("\r\n\r\n"), "{out}");
        assert!(out.contains("Content-Length: "), "{out}");
    }

    #[test]
    fn bad_requests_are_refused_and_end_the_connection() {
        let (out, next) = feed(&mut service(), b"\x16\x03\x01garbage\r\n\r\n");
        assert_eq!(next, Next::Close);
        assert!(out.starts_with("HTTP/1.1 400 Bad Request"), "{out}");

        let (out, next) = feed(
            &mut service(),
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert_eq!(next, Next::Close);
        assert!(out.starts_with("HTTP/1.1 501"), "{out}");

        let mut s = service();
        let mut out = Vec::new();
        let mut next = Next::Continue;
        let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        s.on_data(b"GET / HTTP/1.1\r\n", &mut out);
        for _ in 0..(2 * MAX_HEAD / line.len()) {
            next = s.on_data(line, &mut out);
            if next == Next::Close {
                break;
            }
        }
        assert_eq!(next, Next::Close);
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 431"));
        assert!(s.pending.len() <= MAX_HEAD + line.len());
    }

    #[test]
    fn a_head_over_the_limit_is_refused_even_when_it_arrives_whole() {
        // Few headers (a long one), so that only the size can refuse it.
        let mut request = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        request.resize(MAX_HEAD + 100, b'a');
        request.extend_from_slice(b"\r\n\r\n");
        let (whole, next) = feed(&mut service(), &request);
        assert_eq!(next, Next::Close);
        assert!(whole.starts_with("HTTP/1.1 431"), "{whole}");
        let mut s = service();
        let mut pieces = String::new();
        for piece in request.chunks(1000) {
            let (out, next) = feed(&mut s, piece);
            pieces += &out;
            if next == Next::Close {
                break;
            }
        }
        assert_eq!(pieces, whole, "the same answer however the bytes arrive");
    }
}

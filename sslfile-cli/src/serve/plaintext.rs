//! Clients that speak plain HTTP to the TLS port get an HTTP answer that says to use
//! `https://` (as nginx's "The plain HTTP request was sent to HTTPS port"), in every mode:
//! the library hands over the transport and the request instead of sending a TLS alert.

use std::io::Write;
use std::time::Duration;

use sslfile::File;

use sslfile_cli::service::Protocol;

/// How long the answer may take to leave.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers a client that sent `request` in plain text, then closes its transport. Only an
/// HTTP server answers, and only what looks like an HTTP request.
pub fn answer(protocol: Protocol, plain: File, request: &[u8]) {
    let peer = plain
        .peer_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string());
    match (protocol, http_answer(request)) {
        (Protocol::Http, Some(answer)) => {
            log::info!("{peer}: a plain HTTP request on the TLS port: told to use https://");
            plain.set_blocking();
            plain.set_timeout(Some(ANSWER_TIMEOUT));
            if let Err(e) = (&plain).write_all(&answer) {
                log::debug!("{peer}: the plain HTTP answer: {e}");
            }
        }
        _ => log::info!("{peer}: the client does not speak TLS: closed"),
    }
    let _ = plain.close();
}

/// The answer to a plain HTTP request, or `None` if `request` does not look like one.
fn http_answer(request: &[u8]) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(request) {
        Ok(_) if parsed.method.is_some() => {}
        // A request head cut short is still an HTTP request, as long as it starts like one.
        Err(httparse::Error::TooManyHeaders) => {}
        _ => return None,
    }
    let host = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .filter(|h| h.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or("localhost");
    let path = parsed
        .path
        .filter(|p| p.starts_with('/') && p.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or("/");
    let body = format!(
        "This is an HTTPS server: the plain HTTP request was sent to its TLS port.\n\
         Use https://{host}{path} instead.\n"
    );
    Some(
        format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_request_gets_a_400_naming_the_https_url() {
        let answer = http_answer(b"GET /page?x=1 HTTP/1.1\r\nHost: example.test:8443\r\n\r\n")
            .expect("an answer");
        let answer = String::from_utf8(answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(
            answer.contains("https://example.test:8443/page?x=1"),
            "{answer}"
        );
        let partial = http_answer(b"GET / HTTP/1.1\r\nHost: a").expect("a partial head");
        assert!(String::from_utf8(partial)
            .unwrap()
            .contains("https://localhost/"));
    }

    #[test]
    fn what_is_not_http_gets_nothing() {
        assert!(http_answer(b"\x00\x01binary").is_none());
        assert!(http_answer(b"SSH-2.0-OpenSSH_9.2\r\n").is_none());
    }
}

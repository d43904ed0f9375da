//! Just enough HTTP/1.1 for curl: find where a request ends, split a response.

/// The total length of the HTTP request at the start of `data` (headers, blank line and a
/// `Content-Length` body), once its headers are complete.
pub fn request_len(data: &[u8]) -> Option<usize> {
    let head_end = find(data, b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&data[..head_end]);
    let body_len = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    Some(head_end + body_len)
}

/// The body of a complete request (what follows the blank line).
pub fn request_body(request: &[u8]) -> &[u8] {
    match find(request, b"\r\n\r\n") {
        Some(i) => &request[i + 4..],
        None => &[],
    }
}

/// The request line and headers, as text (for assertion messages and checks).
pub fn request_head(request: &[u8]) -> String {
    let end = find(request, b"\r\n\r\n").unwrap_or(request.len().min(512));
    String::from_utf8_lossy(&request[..end]).into_owned()
}

/// A `200 OK` response carrying `body`, closing the connection afterwards.
pub fn response(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

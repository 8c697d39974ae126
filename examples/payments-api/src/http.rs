//! HTTP/1.1 request reading and response writing for one request per connection (RFC 9112).
//!
//! Owns: reading a request head and a `Content-Length` body from a byte stream under fixed
//! limits, `Expect: 100-continue`, and writing a JSON response with `Connection: close`.
//! Does not: keep connections alive, decode chunked bodies (501), accept absolute-form
//! targets, or percent-decode paths. Every limit below answers with a status, not a hang.

use std::io::{self, Read, Write};

/// Most bytes in the request head: request line, header fields and the blank line.
/// A request line alone past this is answered 414, a larger head 431.
pub const REQUEST_HEAD_BYTES_MAX: usize = 8 * 1024;
/// Most header fields in one request; more is answered 431.
pub const HEADER_COUNT_MAX: usize = 64;
/// Most bytes in a request body; a larger `Content-Length` is answered 413 before reading.
pub const BODY_BYTES_MAX: usize = 16 * 1024;

/// A request line and header fields. Header names are lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The origin-form target as sent, query included.
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The value of the first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }
}

#[derive(Debug)]
pub struct Request {
    pub head: RequestHead,
    pub body: Vec<u8>,
}

/// Why no request could be read. [`RequestError::response`] is what the client is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The peer closed the connection before a complete request; nothing to answer.
    Closed,
    /// Reading failed; nothing useful can be sent back.
    Io(io::ErrorKind),
    /// The request deadline passed (408).
    TimedOut,
    /// The request breaks the HTTP/1.1 grammar (400).
    Malformed(&'static str),
    /// No end of the request line within [`REQUEST_HEAD_BYTES_MAX`] (414).
    RequestLineTooLong,
    /// No end of the head within [`REQUEST_HEAD_BYTES_MAX`] (431).
    HeadTooLarge,
    /// More than [`HEADER_COUNT_MAX`] header fields (431).
    TooManyHeaders,
    /// `Content-Length` above [`BODY_BYTES_MAX`] (413).
    BodyTooLarge,
    /// A `Transfer-Encoding` header; only `Content-Length` bodies are read (501).
    TransferEncoding,
    /// Not HTTP/1.0 or HTTP/1.1 (505).
    VersionNotSupported,
}

impl RequestError {
    /// The response to send, or `None` when the connection is already unusable.
    pub fn response(&self) -> Option<Response> {
        let (status, code, message) = match self {
            RequestError::Closed | RequestError::Io(_) => return None,
            RequestError::TimedOut => (
                408,
                "request-timeout",
                "the request was not received in time",
            ),
            RequestError::Malformed(reason) => (400, "bad-request", *reason),
            RequestError::RequestLineTooLong => {
                (414, "uri-too-long", "the request line is too long")
            }
            RequestError::HeadTooLarge => {
                (431, "headers-too-large", "the request head is too large")
            }
            RequestError::TooManyHeaders => (
                431,
                "headers-too-large",
                "the request has too many header fields",
            ),
            RequestError::BodyTooLarge => (413, "body-too-large", "the request body is too large"),
            RequestError::TransferEncoding => (
                501,
                "not-implemented",
                "transfer-encoding is not supported; send content-length",
            ),
            RequestError::VersionNotSupported => (
                505,
                "http-version-not-supported",
                "only HTTP/1.0 and HTTP/1.1 are supported",
            ),
        };
        Some(Response::error(status, code, message))
    }
}

/// Checks the announced body length, answers `Expect: 100-continue` once it is acceptable,
/// and reads the body; `received` is what arrived with the head.
pub fn receive_body<S: Read + Write>(
    stream: &mut S,
    head: &RequestHead,
    received: Vec<u8>,
) -> Result<Vec<u8>, RequestError> {
    let length = body_length(head)?;
    let expects_continue = head
        .header("expect")
        .is_some_and(|value| value.eq_ignore_ascii_case("100-continue"));
    if expects_continue && received.len() < length && head.version == "HTTP/1.1" {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|error| RequestError::Io(error.kind()))?;
    }
    read_body(stream, received, length)
}

/// Reads up to the blank line ending the head. Returns the head and any body bytes that
/// arrived with it.
pub fn read_head<R: Read>(reader: &mut R) -> Result<(RequestHead, Vec<u8>), RequestError> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            if end + 4 > REQUEST_HEAD_BYTES_MAX {
                return Err(too_large(&buffer));
            }
            let head = parse_head(&buffer[..end])?;
            return Ok((head, buffer[end + 4..].to_vec()));
        }
        if buffer.len() >= REQUEST_HEAD_BYTES_MAX {
            return Err(too_large(&buffer));
        }
        match reader.read(&mut chunk) {
            Ok(0) => return Err(RequestError::Closed),
            Ok(count) => buffer.extend_from_slice(&chunk[..count]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(read_error(error)),
        }
    }
}

fn too_large(buffer: &[u8]) -> RequestError {
    let within_limit = &buffer[..buffer.len().min(REQUEST_HEAD_BYTES_MAX)];
    if find(within_limit, b"\r\n").is_some() {
        RequestError::HeadTooLarge
    } else {
        RequestError::RequestLineTooLong
    }
}

fn read_error(error: io::Error) -> RequestError {
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => RequestError::TimedOut,
        kind => RequestError::Io(kind),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Parses the head, without its final blank line.
pub fn parse_head(bytes: &[u8]) -> Result<RequestHead, RequestError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| RequestError::Malformed("the request head is not valid UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    if request_line.contains(['\r', '\n']) {
        return Err(RequestError::Malformed("bare CR or LF in the request line"));
    }
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Malformed(
            "the request line must be `METHOD /path HTTP/1.1`",
        ));
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(RequestError::Malformed("the method is not a token"));
    }
    if !target.starts_with('/') || !target.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(RequestError::Malformed(
            "the target must be a path starting with `/`",
        ));
    }
    let requires_host = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ if version.starts_with("HTTP/") => return Err(RequestError::VersionNotSupported),
        _ => {
            return Err(RequestError::Malformed(
                "the request line must end with an HTTP version",
            ))
        }
    };

    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == HEADER_COUNT_MAX {
            return Err(RequestError::TooManyHeaders);
        }
        headers.push(parse_header_line(line)?);
    }
    let host_count = headers.iter().filter(|(name, _)| name == "host").count();
    if host_count > 1 || (requires_host && host_count == 0) {
        return Err(RequestError::Malformed(
            "an HTTP/1.1 request needs exactly one host header",
        ));
    }
    Ok(RequestHead {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers,
    })
}

fn parse_header_line(line: &str) -> Result<(String, String), RequestError> {
    if line.starts_with([' ', '\t']) {
        return Err(RequestError::Malformed(
            "obsolete line folding is not accepted",
        ));
    }
    let Some((name, value)) = line.split_once(':') else {
        return Err(RequestError::Malformed("a header field has no colon"));
    };
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(RequestError::Malformed(
            "a header field name is not a token",
        ));
    }
    let value = value.trim_matches([' ', '\t']);
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(RequestError::Malformed(
            "a header field value holds a control character",
        ));
    }
    Ok((name.to_ascii_lowercase(), value.to_owned()))
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// The body length the head announces, checked against [`BODY_BYTES_MAX`].
pub fn body_length(head: &RequestHead) -> Result<usize, RequestError> {
    if head.header("transfer-encoding").is_some() {
        return Err(RequestError::TransferEncoding);
    }
    let mut length = None;
    for (_, value) in head
        .headers
        .iter()
        .filter(|(name, _)| name == "content-length")
    {
        if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(RequestError::Malformed("content-length is not a number"));
        }
        // Digits only, so the one possible parse failure is overflow.
        let parsed = value.parse::<u64>().unwrap_or(u64::MAX);
        if length.is_some_and(|previous| previous != parsed) {
            return Err(RequestError::Malformed(
                "conflicting content-length headers",
            ));
        }
        length = Some(parsed);
    }
    match length {
        Some(length) if length > BODY_BYTES_MAX as u64 => Err(RequestError::BodyTooLarge),
        Some(length) => Ok(length as usize),
        None => Ok(0),
    }
}

/// Reads the rest of a body of `length` bytes, `received` of which came with the head.
/// Bytes past `length` (a pipelined request) are dropped: the connection closes anyway.
pub fn read_body<R: Read>(
    reader: &mut R,
    mut received: Vec<u8>,
    length: usize,
) -> Result<Vec<u8>, RequestError> {
    received.truncate(length);
    let mut chunk = [0u8; 4096];
    while received.len() < length {
        let wanted = (length - received.len()).min(chunk.len());
        match reader.read(&mut chunk[..wanted]) {
            Ok(0) => return Err(RequestError::Closed),
            Ok(count) => received.extend_from_slice(&chunk[..count]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(read_error(error)),
        }
    }
    Ok(received)
}

/// A JSON response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

impl Response {
    pub fn json(status: u16, body: String) -> Response {
        Response {
            status,
            body,
            allow: None,
        }
    }

    /// The one error shape clients see: `{"error":{"code":…,"message":…}}`.
    /// `message` must never hold request data or internal detail.
    pub fn error(status: u16, code: &str, message: &str) -> Response {
        let body = format!(
            "{{\"error\":{{\"code\":{},\"message\":{}}}}}",
            crate::json::quote(code),
            crate::json::quote(message)
        );
        Response::json(status, body)
    }

    /// The full message: status line, headers and body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\n",
            self.status,
            reason_phrase(self.status),
            self.body.len()
        );
        if let Some(allow) = self.allow {
            head.push_str(&format!("allow: {allow}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_request<S: Read + Write>(stream: &mut S) -> Result<Request, RequestError> {
        let (head, received) = read_head(stream)?;
        let body = receive_body(stream, &head, received)?;
        Ok(Request { head, body })
    }

    fn head_of(text: &str) -> Result<RequestHead, RequestError> {
        read_head(&mut text.as_bytes()).map(|(head, _)| head)
    }

    /// A stream that reads from `input` and records what is written.
    struct Duplex<'a> {
        input: &'a [u8],
        output: Vec<u8>,
    }

    impl Read for Duplex<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            self.input.read(buffer)
        }
    }

    impl Write for Duplex<'_> {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.output.write(bytes)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn reads_a_request_with_a_body() {
        let mut stream = Duplex {
            input: b"POST /v1/charges?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Empty:\r\n\r\nhello+pipelined",
            output: Vec::new(),
        };
        let request = read_request(&mut stream).unwrap();
        assert_eq!(request.head.method, "POST");
        assert_eq!(request.head.path(), "/v1/charges");
        assert_eq!(request.head.header("content-length"), Some("5"));
        assert_eq!(request.head.header("x-empty"), Some(""));
        assert_eq!(request.body, b"hello");
        assert!(stream.output.is_empty());
    }

    #[test]
    fn answers_expect_100_continue_only_when_the_body_is_pending() {
        let mut stream = Duplex {
            input:
                b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
            output: Vec::new(),
        };
        // The body is missing: the peer closed after the head.
        assert_eq!(read_request(&mut stream).unwrap_err(), RequestError::Closed);
        assert_eq!(stream.output, b"HTTP/1.1 100 Continue\r\n\r\n");

        let mut stream = Duplex {
            input: b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 99999\r\n\r\n",
            output: Vec::new(),
        };
        assert_eq!(
            read_request(&mut stream).unwrap_err(),
            RequestError::BodyTooLarge
        );
        assert!(stream.output.is_empty());
    }

    #[test]
    fn head_size_limit_boundary() {
        let request_line = "GET / HTTP/1.1\r\nHost: a\r\n";
        let filler = |total: usize| {
            let value_length = total - request_line.len() - "X: \r\n\r\n".len();
            format!("{request_line}X: {}\r\n\r\n", "a".repeat(value_length))
        };
        let at_limit = filler(REQUEST_HEAD_BYTES_MAX);
        assert_eq!(at_limit.len(), REQUEST_HEAD_BYTES_MAX);
        assert!(head_of(&at_limit).is_ok());
        assert_eq!(
            head_of(&filler(REQUEST_HEAD_BYTES_MAX + 1)).unwrap_err(),
            RequestError::HeadTooLarge
        );
    }

    #[test]
    fn request_line_limit_boundary() {
        let line = |total: usize| {
            let path = "a".repeat(total - "GET / HTTP/1.1\r\n".len());
            format!("GET /{path} HTTP/1.1\r\nHost: a\r\n\r\n")
        };
        // Fits: request line at the limit minus the rest of the head.
        let fits = line(REQUEST_HEAD_BYTES_MAX - "Host: a\r\n\r\n".len());
        assert_eq!(fits.len(), REQUEST_HEAD_BYTES_MAX);
        assert!(head_of(&fits).is_ok());
        // No CRLF within the limit at all.
        assert_eq!(
            head_of(&line(REQUEST_HEAD_BYTES_MAX + 1)).unwrap_err(),
            RequestError::RequestLineTooLong
        );
    }

    #[test]
    fn header_count_limit_boundary() {
        let with_headers = |count: usize| {
            let mut text = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
            for index in 1..count {
                text.push_str(&format!("X-{index}: v\r\n"));
            }
            text + "\r\n"
        };
        assert_eq!(
            head_of(&with_headers(HEADER_COUNT_MAX))
                .unwrap()
                .headers
                .len(),
            HEADER_COUNT_MAX
        );
        assert_eq!(
            head_of(&with_headers(HEADER_COUNT_MAX + 1)).unwrap_err(),
            RequestError::TooManyHeaders
        );
    }

    #[test]
    fn body_size_limit_boundary() {
        let head = |length: usize| {
            head_of(&format!(
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {length}\r\n\r\n"
            ))
            .unwrap()
        };
        assert_eq!(body_length(&head(BODY_BYTES_MAX)), Ok(BODY_BYTES_MAX));
        assert_eq!(
            body_length(&head(BODY_BYTES_MAX + 1)),
            Err(RequestError::BodyTooLarge)
        );
        let huge = head_of(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        )
        .unwrap();
        assert_eq!(body_length(&huge), Err(RequestError::BodyTooLarge));
    }

    #[test]
    fn body_length_rules() {
        let length = |headers: &str| {
            body_length(&head_of(&format!("POST / HTTP/1.1\r\nHost: a\r\n{headers}\r\n")).unwrap())
        };
        assert_eq!(length(""), Ok(0));
        assert_eq!(length("Content-Length: 3\r\nContent-Length: 3\r\n"), Ok(3));
        assert_eq!(
            length("Content-Length: 3\r\nContent-Length: 4\r\n"),
            Err(RequestError::Malformed(
                "conflicting content-length headers"
            ))
        );
        assert_eq!(
            length("Content-Length: -1\r\n"),
            Err(RequestError::Malformed("content-length is not a number"))
        );
        assert_eq!(
            length("Transfer-Encoding: chunked\r\n"),
            Err(RequestError::TransferEncoding)
        );
    }

    #[test]
    fn rejects_malformed_heads() {
        let cases = [
            (
                "GET /\r\n\r\n",
                "the request line must be `METHOD /path HTTP/1.1`",
            ),
            (
                "GET  / HTTP/1.1\r\n\r\n",
                "the request line must be `METHOD /path HTTP/1.1`",
            ),
            (
                "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
                "the method is not a token",
            ),
            (
                "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
                "the target must be a path starting with `/`",
            ),
            (
                "GET / FTP/1.1\r\nHost: a\r\n\r\n",
                "the request line must end with an HTTP version",
            ),
            (
                "GET / HTTP/1.1\r\n\r\n",
                "an HTTP/1.1 request needs exactly one host header",
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                "an HTTP/1.1 request needs exactly one host header",
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
                "obsolete line folding is not accepted",
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
                "a header field has no colon",
            ),
            (
                "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
                "a header field name is not a token",
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
                "a header field value holds a control character",
            ),
            (
                "GET / HTTP/1.1\nHost: a\r\n\r\n",
                "bare CR or LF in the request line",
            ),
        ];
        for (input, reason) in cases {
            assert_eq!(
                head_of(input).unwrap_err(),
                RequestError::Malformed(reason),
                "{input:?}"
            );
        }
        assert_eq!(
            head_of("GET / HTTP/2.0\r\n\r\n").unwrap_err(),
            RequestError::VersionNotSupported
        );
        assert!(head_of("GET / HTTP/1.0\r\n\r\n").is_ok());
        assert_eq!(
            head_of("GET / HTTP/1.1\r\nHost: a").unwrap_err(),
            RequestError::Closed
        );
        assert_eq!(head_of("").unwrap_err(), RequestError::Closed);
    }

    #[test]
    fn every_client_error_has_a_json_response() {
        let expected = [
            (RequestError::TimedOut, 408),
            (RequestError::Malformed("x"), 400),
            (RequestError::RequestLineTooLong, 414),
            (RequestError::HeadTooLarge, 431),
            (RequestError::TooManyHeaders, 431),
            (RequestError::BodyTooLarge, 413),
            (RequestError::TransferEncoding, 501),
            (RequestError::VersionNotSupported, 505),
        ];
        for (error, status) in expected {
            let response = error.response().unwrap();
            assert_eq!(response.status, status);
            assert!(response.body.starts_with("{\"error\":{\"code\":"));
        }
        assert_eq!(RequestError::Closed.response(), None);
    }

    #[test]
    fn writes_a_complete_response() {
        let mut response = Response::error(405, "method-not-allowed", "use GET");
        response.allow = Some("GET");
        let text = String::from_utf8(response.to_bytes()).unwrap();
        let body = r#"{"error":{"code":"method-not-allowed","message":"use GET"}}"#;
        assert_eq!(
            text,
            format!(
                "HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\ncache-control: no-store\r\n\
                 x-content-type-options: nosniff\r\nallow: GET\r\n\r\n{body}",
                body.len()
            )
        );
    }
}

//! Runs the real binary on a free port and talks HTTP to it over loopback.
//!
//! The point of this test is the PCI DSS promise: a test card number sent in a body, a path
//! and a query string appears nowhere in what the service writes to stdout or stderr.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

const TEST_PAN: &str = "4242424242424242";

struct Server {
    child: Child,
    stderr: BufReader<ChildStderr>,
    address: SocketAddr,
    log: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_payments-api"))
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting payments-api");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let port: u16 = first
            .trim_end()
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in the startup line {first:?}"));
        Server {
            child,
            stderr,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            log: first,
        }
    }

    /// Sends `request` raw, returns the status and body, and waits for its log line.
    fn exchange(&mut self, request: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
        let mut line = String::new();
        self.stderr.read_line(&mut line).unwrap();
        assert!(line.contains(&format!("status={status} ")), "{line}");
        self.log.push_str(&line);
        (status, body)
    }

    fn stop(mut self) -> (String, String) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).unwrap();
        (stdout, self.log + &rest)
    }
}

fn post(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn serves_every_endpoint_and_never_writes_a_card_number() {
    let mut server = Server::start();

    let (status, body) = server.exchange(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));

    let (status, body) = server.exchange(b"GET /version HTTP/1.0\r\n\r\n");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        format!(
            r#"{{"name":"payments-api","version":"{}"}}"#,
            env!("CARGO_PKG_VERSION")
        )
    );

    let charge = format!(r#"{{"card_number":"{TEST_PAN}","amount_cents":1234,"currency":"EUR"}}"#);
    let (status, body) = server.exchange(&post(&format!("/v1/charges?card={TEST_PAN}"), &charge));
    assert_eq!(status, 201, "{body}");
    assert!(body.contains(r#""card":"424242******4242","amount_cents":1234,"currency":"EUR","status":"authorized""#), "{body}");

    let bad_card = charge.replace(TEST_PAN, "4242424242424241");
    let (status, body) = server.exchange(&post("/v1/charges", &bad_card));
    assert_eq!(status, 422);
    assert!(body.contains("invalid-card-number"), "{body}");

    let (status, _) = server.exchange(&post("/v1/charges", &"x".repeat(16 * 1024 + 1)));
    assert_eq!(status, 413);

    let (status, _) =
        server.exchange(format!("GET /cards/{TEST_PAN} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    assert_eq!(status, 404);

    let (status, _) = server.exchange(b"DELETE /health HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(status, 405);

    let (status, _) = server.exchange(b"GET /health HTTP/1.1\r\n\r\n");
    assert_eq!(status, 400);

    let (stdout, stderr) = server.stop();
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("method=POST path=/v1/charges status=201 "),
        "{stderr}"
    );
    assert!(
        stderr.contains("method=GET path=/cards/**************** status=404 "),
        "{stderr}"
    );
    for output in [&stdout, &stderr] {
        assert!(!output.contains(TEST_PAN), "card number written: {output}");
        assert!(!output.contains("424242"), "card digits written: {output}");
    }
}

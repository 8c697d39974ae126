//! The health check: `GET /health` on the instance's loopback port must answer 200 in time.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Most bytes of a health response read (the status line is all that counts).
pub const HEALTH_RESPONSE_BYTES_MAX: u64 = 64 * 1024;

/// One HTTP GET of `path` on 127.0.0.1:`port`; true when the status is 200.
pub fn http_ok(port: u16, path: &str, timeout: Duration) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, timeout) else {
        return false;
    };
    if stream.set_read_timeout(Some(timeout)).is_err()
        || stream.set_write_timeout(Some(timeout)).is_err()
    {
        return false;
    }
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = Vec::new();
    if (&mut stream)
        .take(HEALTH_RESPONSE_BYTES_MAX)
        .read_to_end(&mut response)
        .is_err()
        && response.is_empty()
    {
        return false;
    }
    let status_line = response.split(|byte| *byte == b'\n').next().unwrap_or(&[]);
    let mut parts = status_line.split(|byte| *byte == b' ');
    matches!(
        (parts.next(), parts.next()),
        (Some(version), Some(b"200")) if version.starts_with(b"HTTP/1.")
    )
}

/// Poll [`http_ok`] until it holds or `limit` passes; true when healthy.
pub fn wait_healthy(port: u16, path: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if http_ok(port, path, Duration::from_secs(1)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(response: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(response);
        });
        port
    }

    #[test]
    fn only_a_200_is_healthy() {
        let port = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert!(http_ok(port, "/health", Duration::from_secs(2)));
        let port = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert!(!http_ok(port, "/health", Duration::from_secs(2)));
        let port = serve_once(b"garbage 200\r\n\r\n");
        assert!(!http_ok(port, "/health", Duration::from_secs(2)));
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        assert!(!http_ok(port, "/health", Duration::from_millis(200)));
    }
}

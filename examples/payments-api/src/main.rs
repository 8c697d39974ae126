//! payments-api: the example card-payment service that `stamp demo` builds into a scratch
//! image. A small HTTP/1.1 server on `std::net` with no dependencies.
//!
//! Owns: settings (`--port` > `$PORT` > 8080), the accept loop, the per-connection deadline,
//! and the one log line per request (PCI DSS requirement 10.2: who asked for what, when,
//! with what result; never the body, never a card number).
//! Does not: handle SIGTERM. The runtime stops the process; every request is a single
//! short exchange on its own connection, so nothing is lost that a client would not retry.
//!
//! Exit codes: 0 after `--help`/`--version`, 2 on a usage error, 3 when the port cannot be
//! bound or the workers cannot start. `--health` asks the running service on the same port
//! for `GET /health` (a health check by command: `stamp deploy` runs it inside the instance)
//! and exits 0 when it answers 200, 1 otherwise.

mod charges;
mod http;
mod json;
mod pool;
mod routes;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::{Request, Response};
use crate::pool::ThreadPool;

/// Port used when neither `--port` nor `$PORT` is given.
const DEFAULT_PORT: u16 = 8080;
/// Threads handling connections.
const WORKER_COUNT: usize = 8;
/// Accepted connections allowed to wait for a worker; past this a client gets 503.
const QUEUE_LENGTH_MAX: usize = 64;
/// Time allowed to receive a whole request, head and body, from accept.
const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Time allowed for each write of the response.
const WRITE_TIMEOUT_MS: u64 = 5_000;
/// After answering, how long to keep reading (and discarding) what the client still sends,
/// so that closing with unread data does not reset the connection before the client has
/// read the response (e.g. a 413 sent before an upload finished).
const LINGER_TIMEOUT_MS: u64 = 1_000;
/// Most bytes discarded while lingering.
const LINGER_BYTES_MAX: usize = 64 * 1024;

const USAGE: &str = "\
payments-api: example card-payment HTTP service

usage: payments-api [--port N] [--health]

  --port N       port to listen on (default: $PORT, else 8080)
  --health       check the service on that port: exit 0 when GET /health answers 200
  -h, --help     print this help
  -V, --version  print the version

endpoints: GET /health, GET /version, POST /v1/charges";

fn main() -> ExitCode {
    let port = match parse_args(std::env::args().skip(1), std::env::var("PORT").ok()) {
        Ok(Command::Serve { port }) => port,
        Ok(Command::Health { port }) => {
            return if health_ok(port) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Ok(Command::Print(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\nhint: run `payments-api --help` for usage");
            return ExitCode::from(2);
        }
    };
    match serve(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(3)
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve { port: u16 },
    Health { port: u16 },
    Print(String),
}

/// Time allowed for the whole `--health` exchange.
const HEALTH_CHECK_TIMEOUT_MS: u64 = 2_000;

/// `GET /health` on 127.0.0.1:`port` answers `HTTP/1.x 200`.
fn health_ok(port: u16) -> bool {
    let timeout = Duration::from_millis(HEALTH_CHECK_TIMEOUT_MS);
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if stream.write_all(request).is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let mut filled = 0;
    while filled < head.len() {
        match stream.read(&mut head[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(read) => filled += read,
        }
    }
    let head = &head[..filled];
    head.starts_with(b"HTTP/1.1 200 ") || head.starts_with(b"HTTP/1.0 200 ")
}

/// Resolves the port: `--port N` or `--port=N`, then `$PORT`, then [`DEFAULT_PORT`].
fn parse_args(
    mut args: impl Iterator<Item = String>,
    port_variable: Option<String>,
) -> Result<Command, String> {
    let mut port_flag = None;
    let mut health = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Print(USAGE.to_owned())),
            "--health" => health = true,
            "-V" | "--version" => {
                let version = concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION"));
                return Ok(Command::Print(version.to_owned()));
            }
            "--port" => {
                let value = args.next().ok_or("`--port` needs a value")?;
                port_flag = Some(parse_port(&value, "--port")?);
            }
            _ => match arg.strip_prefix("--port=") {
                Some(value) => port_flag = Some(parse_port(value, "--port")?),
                None => return Err(format!("unexpected argument `{arg}`")),
            },
        }
    }
    let port = match (port_flag, port_variable) {
        (Some(port), _) => port,
        (None, Some(value)) if !value.is_empty() => parse_port(&value, "$PORT")?,
        (None, _) => DEFAULT_PORT,
    };
    Ok(if health {
        Command::Health { port }
    } else {
        Command::Serve { port }
    })
}

fn parse_port(value: &str, source: &str) -> Result<u16, String> {
    value
        .parse::<u16>()
        .map_err(|_| format!("{source} must be a port number from 0 to 65535, not `{value}`"))
}

fn serve(port: u16) -> Result<(), String> {
    let address = SocketAddr::from(([0, 0, 0, 0], port));
    let listener =
        TcpListener::bind(address).map_err(|error| format!("binding `{address}`: {error}"))?;
    let bound = listener.local_addr().map_or(address, |bound| bound);
    let workers = ThreadPool::new(WORKER_COUNT, QUEUE_LENGTH_MAX, handle_connection)
        .map_err(|error| format!("starting worker threads: {error}"))?;
    eprintln!(
        "{} payments-api {} listening on {bound}",
        timestamp(SystemTime::now()),
        env!("CARGO_PKG_VERSION")
    );
    for connection in listener.incoming() {
        match connection {
            Ok(stream) => {
                if let Err(stream) = workers.try_submit((stream, Instant::now())) {
                    reject_overloaded(stream.0);
                }
            }
            Err(error) => {
                // Usually out of file descriptors: wait instead of spinning.
                log_line(format_args!("accept failed: {error}"));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Ok(())
}

/// Answers 503 without blocking the accept loop; the response fits any socket buffer.
fn reject_overloaded(stream: TcpStream) {
    let response = Response::error(503, "overloaded", "the service is busy; retry later");
    if stream.set_nonblocking(true).is_ok() {
        let _ = (&stream).write_all(&response.to_bytes());
    }
    log_request("-", "-", response.status, Duration::ZERO);
}

fn handle_connection((stream, accepted): (TcpStream, Instant)) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(WRITE_TIMEOUT_MS)));
    let _ = stream.set_nodelay(true);
    let deadline = accepted + Duration::from_millis(REQUEST_TIMEOUT_MS);
    let mut reader = DeadlineStream {
        stream: &stream,
        deadline,
    };
    let (method, path, response) = match http::read_head(&mut reader) {
        Ok((head, received)) => {
            let method = head.method.clone();
            let path = routes::logged_path(head.path());
            match http::receive_body(&mut reader, &head, received) {
                Ok(body) => (method, path, routes::route(&Request { head, body })),
                Err(error) => match error.response() {
                    Some(response) => (method, path, response),
                    None => return,
                },
            }
        }
        Err(error) => match error.response() {
            Some(response) => ("-".to_owned(), "-".to_owned(), response),
            // Closed or broken before a request arrived: nothing to answer or log.
            None => return,
        },
    };
    let _ = (&stream).write_all(&response.to_bytes());
    log_request(&method, &path, response.status, accepted.elapsed());
    linger_and_close(&stream);
}

/// Reads and discards what the client still sends, for a short while, then closes.
fn linger_and_close(stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_millis(LINGER_TIMEOUT_MS)));
    let mut discarded = 0;
    let mut buffer = [0u8; 4096];
    while discarded < LINGER_BYTES_MAX {
        match (&*stream).read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(count) => discarded += count,
        }
    }
}

/// Reads from a TCP stream, failing with `TimedOut` once the request deadline has passed,
/// so a client sending a byte at a time cannot hold a worker past the deadline.
struct DeadlineStream<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Read for DeadlineStream<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(remaining))?;
        (&*self.stream).read(buffer)
    }
}

impl Write for DeadlineStream<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        (&*self.stream).write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.stream).flush()
    }
}

/// One line per request. `path` is a route's own path or a redacted one (see
/// `routes::redact_path`); the query string and body are never logged.
fn log_request(method: &str, path: &str, status: u16, duration: Duration) {
    log_line(format_args!(
        "method={method} path={path} status={status} duration_ms={:.3}",
        duration.as_secs_f64() * 1000.0
    ));
}

/// Writes one timestamped line to stderr; `eprintln!` holds the lock for the whole line.
fn log_line(message: std::fmt::Arguments<'_>) {
    eprintln!("{} {message}", timestamp(SystemTime::now()));
}

/// RFC 3339 UTC time with milliseconds, e.g. `2024-05-01T12:00:00.123Z`.
fn timestamp(now: SystemTime) -> String {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let second_of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since_epoch.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|arg| (*arg).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn port_comes_from_flag_then_environment_then_default() {
        let serve = |port| Ok(Command::Serve { port });
        assert_eq!(parse_args(args(&[]), None), serve(8080));
        assert_eq!(parse_args(args(&[]), Some(String::new())), serve(8080));
        assert_eq!(parse_args(args(&[]), Some("9000".into())), serve(9000));
        assert_eq!(
            parse_args(args(&["--port", "9001"]), Some("9000".into())),
            serve(9001)
        );
        assert_eq!(parse_args(args(&["--port=9002"]), None), serve(9002));
        assert_eq!(
            parse_args(args(&["--health"]), Some("9000".into())),
            Ok(Command::Health { port: 9000 })
        );
    }

    #[test]
    fn the_health_check_needs_a_200_from_the_service() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for answer in [
                &b"HTTP/1.1 200 OK\r\n\r\nok"[..],
                b"HTTP/1.1 503 Busy\r\n\r\n",
            ] {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = [0u8; 256];
                let _ = stream.read(&mut request);
                stream.write_all(answer).unwrap();
            }
        });
        assert!(health_ok(port));
        assert!(!health_ok(port));
        server.join().unwrap();
        assert!(!health_ok(port), "nothing listens any more");
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        assert_eq!(
            parse_args(args(&["--port"]), None),
            Err("`--port` needs a value".to_owned())
        );
        assert_eq!(
            parse_args(args(&["--port", "65536"]), None),
            Err("--port must be a port number from 0 to 65535, not `65536`".to_owned())
        );
        assert_eq!(
            parse_args(args(&[]), Some("http".into())),
            Err("$PORT must be a port number from 0 to 65535, not `http`".to_owned())
        );
        assert_eq!(
            parse_args(args(&["serve"]), None),
            Err("unexpected argument `serve`".to_owned())
        );
        assert!(matches!(
            parse_args(args(&["-h"]), None),
            Ok(Command::Print(_))
        ));
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |seconds: u64, millis: u64| {
            timestamp(UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.007Z");
        assert_eq!(at(1_700_000_000, 123), "2023-11-14T22:13:20.123Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
    }
}

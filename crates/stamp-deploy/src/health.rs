//! The health check, polled until it passes or its timeout ends: either `GET PATH` on the
//! instance's loopback port answers 200, or a command run inside the instance through the
//! runtime ([`Runtime::exec`]) exits 0.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub use stamp_image::spec::HealthProbe;

use crate::runtime::{InstanceSpec, Runtime};

/// Pause between two attempts of a failing check.
const RETRY_INTERVAL: Duration = Duration::from_millis(50);

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

/// Poll `probe` on `spec`'s instance until it passes or `limit` passes. `Err` says what the
/// last attempt saw (for the failure event).
pub fn wait_until_healthy(
    runtime: &dyn Runtime,
    spec: &InstanceSpec,
    probe: &HealthProbe,
    limit: Duration,
) -> Result<(), String> {
    match probe {
        HealthProbe::Http(path) => {
            if wait_healthy(spec.port, path, limit) {
                Ok(())
            } else {
                Err(format!(
                    "GET {path} on port {} did not answer 200 within {} ms",
                    spec.port,
                    limit.as_millis()
                ))
            }
        }
        HealthProbe::Command(args) => wait_command_healthy(runtime, &spec.id, args, limit),
    }
}

/// Run `args` inside instance `id` until it exits 0 or `limit` passes (each attempt gets what
/// is left of `limit`).
pub fn wait_command_healthy(
    runtime: &dyn Runtime,
    id: &str,
    args: &[String],
    limit: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    // What the last attempt that ran to its end said: when the final attempt is cut off by the
    // deadline, that is the more useful reason.
    let mut last_completed: Option<String> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome = runtime.exec(id, args, left.max(RETRY_INTERVAL));
        let completed = matches!(&outcome, Ok(outcome) if !outcome.timed_out);
        let last = match outcome {
            Ok(outcome) if outcome.code == Some(0) => return Ok(()),
            Ok(outcome) if outcome.timed_out => {
                format!(
                    "`{}` was still running when the time ran out",
                    args.join(" ")
                )
            }
            // The command's output stays out of the message: it lands in the log, and a
            // health command may print anything.
            Ok(outcome) => format!(
                "`{}` exited {}",
                args.join(" "),
                outcome
                    .code
                    .map_or_else(|| "by a signal".to_string(), |code| code.to_string()),
            ),
            Err(error) => format!("running `{}`: {error}", args.join(" ")),
        };
        let last = if completed {
            last_completed.insert(last).clone()
        } else {
            match &last_completed {
                Some(earlier) => format!("{earlier} (a later attempt was cut off by the timeout)"),
                None => last,
            }
        };
        if Instant::now() + RETRY_INTERVAL >= deadline {
            return Err(format!(
                "health command not passing within {} ms; last attempt: {last}",
                limit.as_millis()
            ));
        }
        std::thread::sleep(RETRY_INTERVAL);
    }
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

    /// A runtime whose `exec` answers from a script of exit codes (the real one, runc, is
    /// exercised by the CLI's deploy tests).
    struct Scripted {
        codes: std::cell::RefCell<Vec<Option<i32>>>,
        calls: std::cell::Cell<u32>,
    }

    impl Runtime for Scripted {
        fn start(&self, _: &InstanceSpec) -> Result<(), crate::runtime::RuntimeError> {
            unreachable!()
        }
        fn stop(&self, _: &str, _: Duration) -> Result<(), crate::runtime::RuntimeError> {
            unreachable!()
        }
        fn state(
            &self,
            _: &str,
        ) -> Result<crate::runtime::InstanceStatus, crate::runtime::RuntimeError> {
            unreachable!()
        }
        fn list(
            &self,
        ) -> Result<Vec<crate::runtime::InstanceStatus>, crate::runtime::RuntimeError> {
            unreachable!()
        }
        fn exec(
            &self,
            _: &str,
            _: &[String],
            _: Duration,
        ) -> Result<crate::runtime::ExecOutcome, crate::runtime::RuntimeError> {
            self.calls.set(self.calls.get() + 1);
            let mut codes = self.codes.borrow_mut();
            let code = if codes.len() > 1 {
                codes.remove(0)
            } else {
                codes[0]
            };
            Ok(crate::runtime::ExecOutcome {
                code,
                timed_out: code.is_none(),
                output: String::new(),
            })
        }
    }

    fn scripted(codes: &[Option<i32>]) -> Scripted {
        Scripted {
            codes: std::cell::RefCell::new(codes.to_vec()),
            calls: std::cell::Cell::new(0),
        }
    }

    #[test]
    fn a_health_command_is_retried_until_it_exits_0() {
        let runtime = scripted(&[Some(1), None, Some(0)]);
        let args = vec!["/app/healthcheck".to_string()];
        wait_command_healthy(&runtime, "dev-0", &args, Duration::from_secs(5)).unwrap();
        assert_eq!(runtime.calls.get(), 3);
    }

    #[test]
    fn a_failing_health_command_fails_with_its_exit_code_after_the_timeout() {
        let runtime = scripted(&[Some(7)]);
        let args = vec!["/bin/false".to_string()];
        let started = Instant::now();
        let error =
            wait_command_healthy(&runtime, "dev-0", &args, Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(250));
        assert!(error.contains("`/bin/false` exited 7"), "{error}");
        assert!(error.contains("within 300 ms"), "{error}");
        assert!(runtime.calls.get() >= 2);
    }

    #[test]
    fn an_attempt_cut_off_by_the_timeout_does_not_hide_the_exit_code_before_it() {
        let runtime = scripted(&[Some(3), None]);
        let args = vec!["/app/healthcheck".to_string()];
        let error =
            wait_command_healthy(&runtime, "dev-0", &args, Duration::from_millis(200)).unwrap_err();
        assert!(
            error.contains("exited 3 (a later attempt was cut off"),
            "{error}"
        );
        let runtime = scripted(&[None]);
        let error =
            wait_command_healthy(&runtime, "dev-0", &args, Duration::from_millis(200)).unwrap_err();
        assert!(
            error.contains("still running when the time ran out"),
            "{error}"
        );
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

//! The service's endpoints: which handler a request reaches and what it answers.
//!
//! Owns: routing by path then method (404 before 405), the health, version and charge
//! handlers, and the form of a path that may be logged.
//! Does not: read or write sockets (see `main.rs`) or parse HTTP (see `http.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::charges;
use crate::http::{Request, Response};

/// Most characters of an unknown path written to the log.
const LOGGED_PATH_CHARS_MAX: usize = 128;

/// Charges created by this process, for charge ids.
static CHARGE_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// An endpoint: one path, the one method it accepts, and its handler.
struct Route {
    path: &'static str,
    method: &'static str,
    handler: fn(&Request) -> Response,
}

const ROUTES: [Route; 3] = [
    Route {
        path: "/health",
        method: "GET",
        handler: |_| health(),
    },
    Route {
        path: "/version",
        method: "GET",
        handler: |_| version(),
    },
    Route {
        path: "/v1/charges",
        method: "POST",
        handler: |request| create_charge(&request.body),
    },
];

fn find_route(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|route| route.path == path)
}

/// Answers a request: 404 for an unknown path, 405 for a known path with another method.
pub fn route(request: &Request) -> Response {
    let Some(route) = find_route(request.head.path()) else {
        return Response::error(404, "not-found", "no such endpoint");
    };
    if request.head.method != route.method {
        let message = format!("this endpoint accepts {} only", route.method);
        let mut response = Response::error(405, "method-not-allowed", &message);
        response.allow = Some(route.method);
        return response;
    }
    (route.handler)(request)
}

/// The path to log for a request: a route's own path, or the redacted request path.
/// The query string is never logged.
pub fn logged_path(path: &str) -> String {
    match find_route(path) {
        Some(route) => route.path.to_owned(),
        None => redact_path(path),
    }
}

fn health() -> Response {
    Response::json(200, r#"{"status":"ok"}"#.to_owned())
}

fn version() -> Response {
    let body = format!(
        r#"{{"name":"{}","version":"{}"}}"#,
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    );
    Response::json(200, body)
}

fn create_charge(body: &[u8]) -> Response {
    match charges::parse_charge_request(body) {
        Ok(charge) => {
            let unix_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_millis() as u64);
            let sequence = CHARGE_SEQUENCE.fetch_add(1, Ordering::Relaxed);
            let id = charges::charge_id(unix_ms, sequence);
            Response::json(201, charges::authorized_json(&id, &charge))
        }
        Err(error) => Response::error(error.status(), error.code(), &error.to_string()),
    }
}

/// An unknown path made safe to log: every digit becomes `*`, so no card number (even
/// percent-encoded, whose escapes `%30`–`%39` contain digits) reaches the log, and the
/// length is capped. The parser already restricts targets to visible ASCII.
pub fn redact_path(path: &str) -> String {
    let mut redacted: String = path
        .chars()
        .take(LOGGED_PATH_CHARS_MAX)
        .map(|c| if c.is_ascii_digit() { '*' } else { c })
        .collect();
    if path.chars().count() > LOGGED_PATH_CHARS_MAX {
        redacted.push_str("...");
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn request(method: &str, target: &str, body: &str) -> Request {
        let head = parse_head(format!("{method} {target} HTTP/1.1\r\nHost: a").as_bytes()).unwrap();
        Request {
            head,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn routes_by_path_then_method() {
        let response = route(&request("GET", "/health?probe=1", ""));
        assert_eq!(response.status, 200);
        assert_eq!(response.body, r#"{"status":"ok"}"#);

        let response = route(&request("GET", "/version", ""));
        assert_eq!(
            response.body,
            format!(
                r#"{{"name":"payments-api","version":"{}"}}"#,
                env!("CARGO_PKG_VERSION")
            )
        );

        let response = route(&request("POST", "/health", ""));
        assert_eq!((response.status, response.allow), (405, Some("GET")));
        let response = route(&request("GET", "/v1/charges", ""));
        assert_eq!((response.status, response.allow), (405, Some("POST")));
        assert_eq!(route(&request("GET", "/nope", "")).status, 404);
    }

    #[test]
    fn charges_are_created_masked_and_refused_with_422() {
        let body = r#"{"card_number":"4242424242424242","amount_cents":1234,"currency":"EUR"}"#;
        let response = route(&request("POST", "/v1/charges", body));
        assert_eq!(response.status, 201);
        assert!(response.body.contains(r#""card":"424242******4242""#));
        assert!(response.body.starts_with(r#"{"id":"ch_"#));
        assert!(!response.body.contains("4242424242424242"));

        let bad = body.replace("4242424242424242", "4242424242424241");
        let response = route(&request("POST", "/v1/charges", &bad));
        assert_eq!(response.status, 422);
        assert!(response.body.contains("invalid-card-number"));
        assert!(!response.body.contains("4242"));

        assert_eq!(route(&request("POST", "/v1/charges", "{")).status, 400);
    }

    #[test]
    fn unknown_paths_are_logged_without_digits() {
        assert_eq!(logged_path("/v1/charges"), "/v1/charges");
        assert_eq!(
            logged_path("/cards/4242424242424242/%34%32"),
            "/cards/****************/%**%**"
        );
        let long = format!("/{}", "a".repeat(LOGGED_PATH_CHARS_MAX));
        assert_eq!(redact_path(&long).len(), LOGGED_PATH_CHARS_MAX + 3);
    }
}

//! Hard-coded secret detection (PCI DSS 8.6.2; private keys also 3.6.1): PEM and OpenSSH
//! private keys, AWS access key ids, GCP service-account key files, Stripe live keys, Slack
//! tokens, GitHub tokens, and passwords assigned to common configuration keys.
//!
//! A detection never holds the secret: [`SecretMatch::shown`] is the public part only (the
//! token's fixed prefix, or the configuration key's name) and the secret's length.

use std::fmt;

/// A private key block (PEM `-----BEGIN … PRIVATE KEY-----` or OpenSSH).
pub const CODE_PRIVATE_KEY: &str = "secret-private-key";
/// An AWS access key id (`AKIA…`, `ASIA…`).
pub const CODE_AWS_ACCESS_KEY: &str = "secret-aws-access-key";
/// A GCP service-account key file (JSON with `"type": "service_account"` and a private key).
pub const CODE_GCP_SERVICE_ACCOUNT: &str = "secret-gcp-service-account";
/// A Stripe live secret or restricted key (`sk_live_…`, `rk_live_…`).
pub const CODE_STRIPE_KEY: &str = "secret-stripe-key";
/// A Slack token (`xoxb-`, `xoxp-`, `xoxa-`, …).
pub const CODE_SLACK_TOKEN: &str = "secret-slack-token";
/// A GitHub token (`ghp_…`, `github_pat_…`, …).
pub const CODE_GITHUB_TOKEN: &str = "secret-github-token";
/// A password or secret assigned to a common configuration key.
pub const CODE_PASSWORD: &str = "secret-password";

/// Longest line the configuration-key rule looks at, in bytes (longer lines are data, not
/// configuration).
pub const CONFIG_LINE_BYTES_MAX: usize = 1024;
/// Shortest value the configuration-key rule reports.
pub const PASSWORD_CHARS_MIN: usize = 4;
/// Base64 characters that must follow a private-key header for it to count as a key (a
/// header alone is a string in a library or a document).
const KEY_BODY_CHARS_MIN: usize = 16;

/// Configuration key names (lower case, compared to the end of the key) whose value is a
/// secret.
const SECRET_KEY_NAMES: &[&str] = &[
    "password",
    "passwd",
    "_pwd",
    "passphrase",
    "secret",
    "secret_key",
    "api_key",
    "apikey",
    "access_token",
    "auth_token",
    "client_secret",
    "private_key",
];

/// One secret found in a text.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretMatch {
    pub code: &'static str,
    /// The public part (a token prefix or a configuration key name) and the secret's
    /// length; never the secret.
    pub shown: String,
    /// Byte offset where it starts.
    pub offset: usize,
}

impl fmt::Debug for SecretMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretMatch({} {} @{})",
            self.code, self.shown, self.offset
        )
    }
}

fn redacted(public: &str, secret_chars: usize) -> String {
    format!("{public}****({secret_chars} chars)")
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Every start of `needle` in `text`.
fn occurrences<'a>(text: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    memchr::memmem::find_iter(text, needle)
}

/// How many bytes from `from` satisfy `allowed`.
fn run_length(text: &[u8], from: usize, allowed: impl Fn(u8) -> bool) -> usize {
    text[from.min(text.len())..]
        .iter()
        .take_while(|&&byte| allowed(byte))
        .count()
}

/// Find the secrets in `text`.
pub fn find_secrets(text: &[u8]) -> Vec<SecretMatch> {
    let mut found = Vec::new();
    private_keys(text, &mut found);
    aws_keys(text, &mut found);
    gcp_service_account(text, &mut found);
    prefixed_tokens(text, &mut found);
    config_passwords(text, &mut found);
    found.sort_by_key(|found| found.offset);
    found
}

fn private_keys(text: &[u8], found: &mut Vec<SecretMatch>) {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"PRIVATE KEY-----";
    for at in occurrences(text, BEGIN) {
        let label_start = at + BEGIN.len();
        let window = &text[label_start..(label_start + 40).min(text.len())];
        let Some(label) = window.windows(END.len()).position(|window| window == END) else {
            continue;
        };
        if !window[..label]
            .iter()
            .all(|&byte| byte.is_ascii_uppercase() || byte == b' ')
        {
            continue;
        }
        let mut body = label_start + label + END.len();
        // A key block: the header ends its line, and the block ends with its END line.
        let newlines = run_length(text, body, |byte| byte == b'\r' || byte == b'\n');
        if newlines == 0 {
            continue;
        }
        body += newlines;
        let mut end_marker = b"-----END ".to_vec();
        end_marker.extend_from_slice(&window[..label]);
        end_marker.extend_from_slice(END);
        if memchr::memmem::find(&text[body..], &end_marker).is_none() {
            continue;
        }
        // PEM headers such as `Proc-Type:` may come first; look at the first base64 line.
        let is_base64 = |byte: u8| byte.is_ascii_alphanumeric() || b"+/=".contains(&byte);
        let mut line_start = body;
        for _ in 0..4 {
            let base64 = run_length(text, line_start, is_base64);
            let line_ends = matches!(text.get(line_start + base64), Some(b'\n' | b'\r'));
            if base64 >= KEY_BODY_CHARS_MIN && line_ends {
                let kind = String::from_utf8_lossy(&text[label_start..label_start + label]);
                found.push(SecretMatch {
                    code: CODE_PRIVATE_KEY,
                    shown: format!("{}PRIVATE KEY", kind),
                    offset: at,
                });
                break;
            }
            line_start += run_length(text, line_start, |byte| byte != b'\n') + 1;
            if line_start >= text.len() {
                break;
            }
        }
    }
}

fn aws_keys(text: &[u8], found: &mut Vec<SecretMatch>) {
    for prefix in [&b"AKIA"[..], b"ASIA"] {
        for at in occurrences(text, prefix) {
            if at > 0 && is_word_byte(text[at - 1]) {
                continue;
            }
            let rest = run_length(text, at + 4, |byte| {
                byte.is_ascii_uppercase() || byte.is_ascii_digit()
            });
            let end = at + 4 + rest;
            if rest != 16 || text.get(end).copied().is_some_and(is_word_byte) {
                continue;
            }
            // AWS's documentation example (`AKIAIOSFODNN7EXAMPLE`) is not a key.
            if text[..end].ends_with(b"EXAMPLE") {
                continue;
            }
            found.push(SecretMatch {
                code: CODE_AWS_ACCESS_KEY,
                shown: redacted(std::str::from_utf8(prefix).unwrap_or("AKIA"), 16),
                offset: at,
            });
        }
    }
}

fn gcp_service_account(text: &[u8], found: &mut Vec<SecretMatch>) {
    let Some(at) = occurrences(text, b"\"type\"").find(|&at| {
        let mut next = at + 6;
        next += run_length(text, next, |byte| byte.is_ascii_whitespace());
        if text.get(next) != Some(&b':') {
            return false;
        }
        next += 1;
        next += run_length(text, next, |byte| byte.is_ascii_whitespace());
        text[next..].starts_with(b"\"service_account\"")
    }) else {
        return;
    };
    if occurrences(text, b"\"private_key\"").next().is_some() {
        found.push(SecretMatch {
            code: CODE_GCP_SERVICE_ACCOUNT,
            shown: "service_account private_key".to_string(),
            offset: at,
        });
    }
}

fn prefixed_tokens(text: &[u8], found: &mut Vec<SecretMatch>) {
    let alphanumeric = |byte: u8| byte.is_ascii_alphanumeric();
    let slack = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'-';
    let pat = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_';
    // (prefix, code, allowed bytes after, fewest, most)
    type Allowed = fn(u8) -> bool;
    let rules: [(&str, &str, Allowed, usize, usize); 14] = [
        ("sk_live_", CODE_STRIPE_KEY, alphanumeric, 20, 255),
        ("rk_live_", CODE_STRIPE_KEY, alphanumeric, 20, 255),
        ("xoxb-", CODE_SLACK_TOKEN, slack, 10, 255),
        ("xoxp-", CODE_SLACK_TOKEN, slack, 10, 255),
        ("xoxa-", CODE_SLACK_TOKEN, slack, 10, 255),
        ("xoxr-", CODE_SLACK_TOKEN, slack, 10, 255),
        ("xoxs-", CODE_SLACK_TOKEN, slack, 10, 255),
        ("ghp_", CODE_GITHUB_TOKEN, alphanumeric, 36, 36),
        ("gho_", CODE_GITHUB_TOKEN, alphanumeric, 36, 36),
        ("ghu_", CODE_GITHUB_TOKEN, alphanumeric, 36, 36),
        ("ghs_", CODE_GITHUB_TOKEN, alphanumeric, 36, 36),
        ("ghr_", CODE_GITHUB_TOKEN, alphanumeric, 36, 36),
        ("github_pat_", CODE_GITHUB_TOKEN, pat, 22, 255),
        ("xoxe-", CODE_SLACK_TOKEN, slack, 10, 255),
    ];
    for (prefix, code, allowed, fewest, most) in rules {
        for at in occurrences(text, prefix.as_bytes()) {
            if at > 0 && is_word_byte(text[at - 1]) {
                continue;
            }
            let rest = run_length(text, at + prefix.len(), allowed);
            if rest < fewest || rest > most {
                continue;
            }
            // A run of one repeated character is a placeholder, not a token.
            let body = &text[at + prefix.len()..at + prefix.len() + rest];
            if body.iter().all(|&byte| byte == body[0]) {
                continue;
            }
            found.push(SecretMatch {
                code,
                shown: redacted(prefix, rest),
                offset: at,
            });
        }
    }
}

/// Whether a configuration value is a reference or a placeholder rather than a secret.
fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    // A value of letters only (or letters and dashes) is a word: `passwd: files`,
    // `d_pwpasswd='define'`, a lintian tag, prose. Passwords worth reporting hold a digit or a
    // symbol.
    let word = value
        .trim_end_matches(['.', '!', '?'])
        .chars()
        .all(|c| c.is_alphabetic() || c == '-' || c == '_');
    word || value.chars().count() < PASSWORD_CHARS_MIN
        || value.starts_with(['$', '<', '{', '%', '*', '(', '[', '@', '/'])
        || value.contains(char::is_whitespace)
        || value
            .chars()
            .all(|c| c == value.chars().next().unwrap_or('x'))
        || [
            "null",
            "none",
            "true",
            "false",
            "undefined",
            "example",
            "required",
            "optional",
            "string",
        ]
        .contains(&lower.as_str())
        || lower.contains("getenv")
        || lower.contains("environ")
}

/// Substrings one of which a line must hold for the configuration-key rule to look at it
/// (cheap to search for; the exact key rule runs on those lines only).
const KEY_NAME_HINTS: &[&str] = &[
    "pass",
    "PASS",
    "Pass",
    "pwd",
    "PWD",
    "Pwd",
    "secret",
    "SECRET",
    "Secret",
    "api_key",
    "API_KEY",
    "apikey",
    "APIKEY",
    "apiKey",
    "ApiKey",
    "token",
    "TOKEN",
    "Token",
    "private_key",
    "PRIVATE_KEY",
];

fn config_passwords(text: &[u8], found: &mut Vec<SecretMatch>) {
    let mut line_starts: Vec<usize> = KEY_NAME_HINTS
        .iter()
        .flat_map(|hint| occurrences(text, hint.as_bytes()))
        .map(|at| memchr::memrchr(b'\n', &text[..at]).map_or(0, |newline| newline + 1))
        .collect();
    line_starts.sort_unstable();
    line_starts.dedup();
    for offset in line_starts {
        let end = memchr::memchr(b'\n', &text[offset..]).map_or(text.len(), |at| offset + at);
        if let Some(secret) = config_password(&text[offset..end], offset) {
            found.push(secret);
        }
    }
}

/// The configuration-key rule on one line.
fn config_password(line: &[u8], offset: usize) -> Option<SecretMatch> {
    if line.len() > CONFIG_LINE_BYTES_MAX {
        return None;
    }
    let line = std::str::from_utf8(line).ok()?;
    let trimmed = line.trim();
    if trimmed.starts_with(['#', ';']) || trimmed.starts_with("//") {
        return None;
    }
    let separator = trimmed.find(['=', ':'])?;
    let key = trimmed[..separator]
        .trim()
        .trim_start_matches("export ")
        .trim_matches(['"', '\'']);
    let value = &trimmed[separator + 1..];
    // `==`, `!=`, `:=`-style comparisons and `::` paths are code, not configuration.
    if value.starts_with(['=', ':']) || key.ends_with(['!', '<', '>']) {
        return None;
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_.-".contains(&byte))
    {
        return None;
    }
    let lower_key = key.to_ascii_lowercase().replace(['-', '.'], "_");
    if !SECRET_KEY_NAMES
        .iter()
        .any(|name| lower_key == name.trim_start_matches('_') || lower_key.ends_with(name))
    {
        return None;
    }
    let value = value
        .trim()
        .trim_end_matches([',', ';'])
        .trim_matches(['"', '\'']);
    if is_placeholder(value) {
        return None;
    }
    Some(SecretMatch {
        code: CODE_PASSWORD,
        shown: redacted(&format!("{key}="), value.chars().count()),
        offset,
    })
}

#[cfg(test)]
mod tests;

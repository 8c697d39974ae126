//! Hard-coded secret detection (PCI DSS 8.6.2; private keys also 3.6.1): PEM and OpenSSH
//! private keys, AWS access key ids, GCP service-account key files, Stripe live keys, Slack
//! tokens, GitHub tokens, and passwords assigned to common configuration keys.
//!
//! A detection never holds the secret: [`SecretMatch::shown`] is the public part only (the
//! token's fixed prefix, or the configuration key's name) and the secret's length.

use std::fmt;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, Input, MatchKind};

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

/// What a fixed string of the one search stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needle {
    /// `-----BEGIN `.
    Begin,
    /// `AKIA` or `ASIA`.
    Aws,
    /// `"type"` (GCP service-account files).
    Type,
    /// The prefix of the token rule [`TOKEN_RULES`]`[index]`.
    Token(usize),
    /// One of [`KEY_NAME_HINTS`].
    Hint,
}

/// A token prefix, its finding code, the bytes allowed after it, and the fewest and most of
/// them.
type TokenRule = (&'static str, &'static str, fn(u8) -> bool, usize, usize);

fn alphanumeric(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
}

fn slack_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-'
}

fn pat_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

const TOKEN_RULES: [TokenRule; 14] = [
    ("sk_live_", CODE_STRIPE_KEY, alphanumeric, 20, 255),
    ("rk_live_", CODE_STRIPE_KEY, alphanumeric, 20, 255),
    ("xoxb-", CODE_SLACK_TOKEN, slack_byte, 10, 255),
    ("xoxp-", CODE_SLACK_TOKEN, slack_byte, 10, 255),
    ("xoxa-", CODE_SLACK_TOKEN, slack_byte, 10, 255),
    ("xoxr-", CODE_SLACK_TOKEN, slack_byte, 10, 255),
    ("xoxs-", CODE_SLACK_TOKEN, slack_byte, 10, 255),
    ("ghp_", CODE_GITHUB_TOKEN, alphanumeric, 36, 36),
    ("gho_", CODE_GITHUB_TOKEN, alphanumeric, 36, 36),
    ("ghu_", CODE_GITHUB_TOKEN, alphanumeric, 36, 36),
    ("ghs_", CODE_GITHUB_TOKEN, alphanumeric, 36, 36),
    ("ghr_", CODE_GITHUB_TOKEN, alphanumeric, 36, 36),
    ("github_pat_", CODE_GITHUB_TOKEN, pat_byte, 22, 255),
    ("xoxe-", CODE_SLACK_TOKEN, slack_byte, 10, 255),
];

/// Every fixed string the rules look for, searched for together in one pass over the text
/// (Aho–Corasick with its SIMD prefilter: one pass instead of one per string, which is what
/// makes a scan of every file of a large image cost about as much as reading it).
fn needles() -> &'static (AhoCorasick, Vec<Needle>) {
    static NEEDLES: OnceLock<(AhoCorasick, Vec<Needle>)> = OnceLock::new();
    NEEDLES.get_or_init(|| {
        let mut strings: Vec<&'static str> = vec!["-----BEGIN ", "AKIA", "ASIA", "\"type\""];
        let mut kinds = vec![Needle::Begin, Needle::Aws, Needle::Aws, Needle::Type];
        for (index, (prefix, ..)) in TOKEN_RULES.iter().enumerate() {
            strings.push(prefix);
            kinds.push(Needle::Token(index));
        }
        for hint in KEY_NAME_HINTS {
            strings.push(hint);
            kinds.push(Needle::Hint);
        }
        let searcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&strings)
            .expect("the secret rules' strings build a searcher");
        (searcher, kinds)
    })
}

/// Where each kind of fixed string starts in a text, in text order.
#[derive(Default)]
struct Hits {
    begin: Vec<usize>,
    aws: Vec<usize>,
    type_key: Vec<usize>,
    tokens: Vec<(usize, usize)>,
    hints: Vec<usize>,
}

/// Every start of every fixed string in `text`. No string is a prefix of another, so at most
/// one matches at a start; the search goes on from the byte after each start, so strings
/// that overlap one another are all found.
fn hits(text: &[u8]) -> Hits {
    let (searcher, kinds) = needles();
    let mut hits = Hits::default();
    let mut from = 0;
    while from < text.len() {
        let Some(found) = searcher.find(Input::new(text).span(from..text.len())) else {
            break;
        };
        let at = found.start();
        match kinds[found.pattern().as_usize()] {
            Needle::Begin => hits.begin.push(at),
            Needle::Aws => hits.aws.push(at),
            Needle::Type => hits.type_key.push(at),
            Needle::Token(rule) => hits.tokens.push((rule, at)),
            Needle::Hint => hits.hints.push(at),
        }
        from = at + 1;
    }
    hits
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
    let hits = hits(text);
    private_keys(text, &hits.begin, &mut found);
    aws_keys(text, &hits.aws, &mut found);
    gcp_service_account(text, &hits.type_key, &mut found);
    prefixed_tokens(text, &hits.tokens, &mut found);
    config_passwords(text, &hits.hints, &mut found);
    found.sort_by_key(|found| found.offset);
    found
}

fn private_keys(text: &[u8], begins: &[usize], found: &mut Vec<SecretMatch>) {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"PRIVATE KEY-----";
    for &at in begins {
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

fn aws_keys(text: &[u8], starts: &[usize], found: &mut Vec<SecretMatch>) {
    for &at in starts {
        let prefix = &text[at..at + 4];
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

fn gcp_service_account(text: &[u8], types: &[usize], found: &mut Vec<SecretMatch>) {
    let Some(&at) = types.iter().find(|&&at| {
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
    if memchr::memmem::find(text, b"\"private_key\"").is_some() {
        found.push(SecretMatch {
            code: CODE_GCP_SERVICE_ACCOUNT,
            shown: "service_account private_key".to_string(),
            offset: at,
        });
    }
}

fn prefixed_tokens(text: &[u8], starts: &[(usize, usize)], found: &mut Vec<SecretMatch>) {
    for &(rule, at) in starts {
        let (prefix, code, allowed, fewest, most) = TOKEN_RULES[rule];
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

fn config_passwords(text: &[u8], hints: &[usize], found: &mut Vec<SecretMatch>) {
    // The hints come in text order: each line start is looked for back to the previous hint
    // only, so a long text without line breaks is not searched again for every hint.
    let mut line_starts: Vec<usize> = Vec::new();
    let (mut searched_to, mut line_start) = (0, 0);
    for &at in hints {
        if at < searched_to {
            (searched_to, line_start) = (0, 0);
        }
        if let Some(newline) = memchr::memrchr(b'\n', &text[searched_to..at]) {
            line_start = searched_to + newline + 1;
        }
        searched_to = at;
        line_starts.push(line_start);
    }
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

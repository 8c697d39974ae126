//! `[env.NAME]` tables of `stamp.toml`: where and how an environment runs the image (documented
//! in `docs/stamp-toml.md` and `docs/deploy.md`).
//!
//! Owns: the strict parse of each table (unknown keys, wrong types and out-of-range values are
//! errors naming file, line and column) and the SHA-256 of each table as written, which a
//! `deploy` event records. Does not: decide who may approve or deploy (roles live in the trust
//! file) or merge these settings with the trust file (the deploy command does: the higher
//! approvals count applies).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stamp_core::Digest;
use toml::Spanned;

use super::{Location, SpecError};
use crate::path::ImagePath;

/// Most replicas an environment may ask for.
pub const ENV_REPLICAS_MAX: u32 = 16;
/// Most approvals an environment may require.
pub const ENV_APPROVALS_MAX: u32 = 16;
/// Shortest and longest health timeout accepted.
pub const HEALTH_TIMEOUT_MIN: Duration = Duration::from_millis(100);
pub const HEALTH_TIMEOUT_MAX: Duration = Duration::from_secs(600);
/// The health timeout when the table gives none.
pub const HEALTH_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// Longest environment name (as the trust file).
pub const ENV_NAME_BYTES_MAX: usize = 64;
/// Most arguments of a health command, and the longest one.
pub const HEALTH_COMMAND_ARGS_MAX: usize = 64;
pub const HEALTH_ARG_BYTES_MAX: usize = 4096;
/// Longest HTTP health path.
pub const HEALTH_PATH_BYTES_MAX: usize = 1024;
/// Most writable paths an environment may declare.
pub const ENV_WRITABLE_MAX: usize = 64;

/// What runs the environment's instances. Only the local runtime (runc) exists today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvTarget {
    Local,
}

/// Ports instances serve on: from `first`, up to `last` when a range was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PortRange {
    pub first: u16,
    /// `None` for `port = N`: the next free ports from N on.
    pub last: Option<u16>,
}

/// How an instance proves it is healthy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthProbe {
    /// `GET path` on the instance's port answers 200.
    Http(String),
    /// The command, run inside the instance, exits 0.
    Command(Vec<String>),
}

/// A health check and how long a new instance has to pass it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthSpec {
    pub probe: HealthProbe,
    #[serde(rename = "timeout_ms", serialize_with = "millis")]
    pub timeout: Duration,
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_millis() as u64)
}

/// One validated `[env.NAME]` table. Keys left out are `None`: the deploy command's defaults
/// (or the trust file) apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvSpec {
    pub name: String,
    /// Where the table starts.
    pub location: Location,
    pub target: EnvTarget,
    pub replicas: Option<u32>,
    pub port: Option<PortRange>,
    pub health: Option<HealthSpec>,
    pub promote_from: Option<String>,
    pub approvals: Option<u32>,
    pub writable: Option<Vec<ImagePath>>,
    /// SHA-256 of the table as written: its values as compact JSON with sorted keys (comments,
    /// spacing and key order do not change it).
    pub sha256: Digest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnv {
    target: Option<Spanned<String>>,
    replicas: Option<Spanned<i64>>,
    port: Option<Spanned<toml::Value>>,
    health: Option<Spanned<RawHealth>>,
    promote_from: Option<Spanned<String>>,
    approvals: Option<Spanned<i64>>,
    writable: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    http: Option<Spanned<String>>,
    command: Option<Spanned<Vec<Spanned<String>>>>,
    timeout: Option<Spanned<String>>,
}

/// Validate every `[env.NAME]` table; `text` is the whole spec (for locations and digests).
pub(super) fn parse_environments(
    raw: &BTreeMap<Spanned<String>, Spanned<RawEnv>>,
    text: &str,
    error_at: &impl Fn(usize, String) -> SpecError,
    locate: &impl Fn(usize) -> Location,
) -> Result<BTreeMap<String, EnvSpec>, SpecError> {
    let mut tables: Option<toml::Table> = None;
    let mut environments = BTreeMap::new();
    for (name, table) in raw {
        if !valid_env_name(name.get_ref()) {
            return Err(error_at(
                name.span().start,
                format!(
                    "environment name `{}` must be 1–{ENV_NAME_BYTES_MAX} lower-case letters, digits, `-` or `_`, starting with a letter or digit",
                    name.get_ref()
                ),
            ));
        }
        let tables = match &mut tables {
            Some(tables) => tables,
            None => tables.insert(
                toml::from_str::<toml::Table>(text)
                    .map_err(|error| error_at(0, error.message().to_string()))?,
            ),
        };
        let written = tables
            .get("env")
            .and_then(|env| env.get(name.get_ref()))
            .cloned()
            .unwrap_or(toml::Value::Table(Default::default()));
        let json = serde_json::to_vec(&written).expect("a TOML value serializes as JSON");
        let spec = parse_environment(
            name.get_ref(),
            table.get_ref(),
            locate(table.span().start),
            Digest::of(&json),
            error_at,
        )?;
        environments.insert(name.get_ref().clone(), spec);
    }
    Ok(environments)
}

fn parse_environment(
    name: &str,
    raw: &RawEnv,
    location: Location,
    sha256: Digest,
    error_at: &impl Fn(usize, String) -> SpecError,
) -> Result<EnvSpec, SpecError> {
    let target = match &raw.target {
        None => EnvTarget::Local,
        Some(target) if target.get_ref() == "local" => EnvTarget::Local,
        Some(target) => {
            return Err(SpecError {
                hint: Some("write `target = \"local\"` (runc on this host)".into()),
                ..error_at(
                    target.span().start,
                    format!(
                        "target `{}` is not supported; the only target is `local`",
                        target.get_ref()
                    ),
                )
            })
        }
    };
    let count = |value: &Option<Spanned<i64>>, what: &str, min: i64, max: u32| {
        value
            .as_ref()
            .map(|value| match *value.get_ref() {
                n if n >= min && n <= i64::from(max) => Ok(n as u32),
                n => Err(error_at(
                    value.span().start,
                    format!("{what} must be from {min} to {max}, not {n}"),
                )),
            })
            .transpose()
    };
    let replicas = count(&raw.replicas, "replicas", 1, ENV_REPLICAS_MAX)?;
    let approvals = count(&raw.approvals, "approvals", 0, ENV_APPROVALS_MAX)?;
    let port = raw
        .port
        .as_ref()
        .map(|port| {
            parse_port(port.get_ref()).map_err(|message| error_at(port.span().start, message))
        })
        .transpose()?;
    let health = raw
        .health
        .as_ref()
        .map(|health| parse_health(health, error_at))
        .transpose()?;
    let promote_from = match &raw.promote_from {
        Some(from) if !valid_env_name(from.get_ref()) || from.get_ref() == name => {
            return Err(error_at(
                from.span().start,
                format!(
                    "promote_from `{}` must name another environment (lower-case letters, digits, `-`, `_`)",
                    from.get_ref()
                ),
            ))
        }
        Some(from) => Some(from.get_ref().clone()),
        None => None,
    };
    let writable = match &raw.writable {
        None => None,
        Some(paths) if paths.len() > ENV_WRITABLE_MAX => {
            return Err(error_at(
                paths[ENV_WRITABLE_MAX].span().start,
                format!("at most {ENV_WRITABLE_MAX} writable paths"),
            ))
        }
        Some(paths) => {
            let mut parsed = Vec::new();
            for path in paths {
                let image_path = ImagePath::parse_absolute(path.get_ref()).map_err(|error| {
                    error_at(path.span().start, format!("writable path: {error}"))
                })?;
                if image_path.is_root() {
                    return Err(error_at(
                        path.span().start,
                        "writable path must not be `/`".into(),
                    ));
                }
                parsed.push(image_path);
            }
            Some(parsed)
        }
    };
    Ok(EnvSpec {
        name: name.to_string(),
        location,
        target,
        replicas,
        port,
        health,
        promote_from,
        approvals,
        writable,
        sha256,
    })
}

fn parse_port(value: &toml::Value) -> Result<PortRange, String> {
    let port_of = |n: i64| u16::try_from(n).ok().filter(|port| *port > 0);
    match value {
        toml::Value::Integer(n) => port_of(*n)
            .map(|first| PortRange { first, last: None })
            .ok_or_else(|| format!("port must be from 1 to 65535, not {n}")),
        toml::Value::String(text) => {
            let range = text.split_once('-').and_then(|(first, last)| {
                let first = port_of(first.trim().parse().ok()?)?;
                let last = port_of(last.trim().parse().ok()?)?;
                (first <= last).then_some(PortRange {
                    first,
                    last: Some(last),
                })
            });
            range.ok_or_else(|| {
                format!("port range `{text}` must be `FIRST-LAST` with 1 ≤ FIRST ≤ LAST ≤ 65535")
            })
        }
        other => Err(format!(
            "port must be a number (`port = 8080`) or a range (`port = \"8080-8089\"`), not a {}",
            other.type_str()
        )),
    }
}

fn parse_health(
    raw: &Spanned<RawHealth>,
    error_at: &impl Fn(usize, String) -> SpecError,
) -> Result<HealthSpec, SpecError> {
    let health = raw.get_ref();
    let probe = match (&health.http, &health.command) {
        (Some(path), None) => {
            let text = path.get_ref();
            let valid = text.starts_with('/')
                && text.len() <= HEALTH_PATH_BYTES_MAX
                && text.bytes().all(|b| b.is_ascii_graphic());
            if !valid {
                return Err(error_at(
                    path.span().start,
                    format!(
                        "health http path `{}` must start with `/` and be at most {HEALTH_PATH_BYTES_MAX} printable ASCII characters without spaces",
                        text.escape_debug()
                    ),
                ));
            }
            HealthProbe::Http(text.clone())
        }
        (None, Some(command)) => {
            let args = command.get_ref();
            if args.is_empty() || args.len() > HEALTH_COMMAND_ARGS_MAX {
                return Err(error_at(
                    command.span().start,
                    format!("health command must have 1 to {HEALTH_COMMAND_ARGS_MAX} arguments"),
                ));
            }
            if !args[0].get_ref().starts_with('/') {
                return Err(error_at(
                    args[0].span().start,
                    format!(
                        "health command `{}` must be an absolute path inside the image",
                        args[0].get_ref()
                    ),
                ));
            }
            for arg in args {
                if arg.get_ref().len() > HEALTH_ARG_BYTES_MAX || arg.get_ref().contains('\0') {
                    return Err(error_at(
                        arg.span().start,
                        format!("health command arguments must be at most {HEALTH_ARG_BYTES_MAX} bytes without NUL"),
                    ));
                }
            }
            HealthProbe::Command(args.iter().map(|arg| arg.get_ref().clone()).collect())
        }
        (Some(_), Some(_)) | (None, None) => {
            return Err(SpecError {
                hint: Some(
                    "write `health = { http = \"/health\", timeout = \"10s\" }` or `health = { command = [\"/app/healthcheck\"], timeout = \"5s\" }`"
                        .into(),
                ),
                ..error_at(
                    raw.span().start,
                    "health must have exactly one of `http` and `command`".into(),
                )
            })
        }
    };
    let timeout = match &health.timeout {
        None => HEALTH_TIMEOUT_DEFAULT,
        Some(text) => parse_timeout(text.get_ref())
            .filter(|timeout| (HEALTH_TIMEOUT_MIN..=HEALTH_TIMEOUT_MAX).contains(timeout))
            .ok_or_else(|| SpecError {
                hint: Some("for example `timeout = \"10s\"` or `timeout = \"500ms\"`".into()),
                ..error_at(
                    text.span().start,
                    format!(
                        "health timeout `{}` must be a whole number of `ms`, `s` or `m` from 100ms to 10m",
                        text.get_ref()
                    ),
                )
            })?,
    };
    Ok(HealthSpec { probe, timeout })
}

/// `500ms`, `10s`, `2m` → a duration; `None` for anything else.
pub fn parse_timeout(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(value)),
        "s" => Some(Duration::from_secs(value)),
        "m" => Some(Duration::from_secs(value * 60)),
        _ => None,
    }
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= ENV_NAME_BYTES_MAX
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_environments_text;
    use std::path::Path;

    const HEAD: &str = "[image]\nname = \"a\"\n[base]\nscratch = true\n";

    fn parse(tables: &str) -> Result<BTreeMap<String, EnvSpec>, SpecError> {
        parse_environments_text(&format!("{HEAD}{tables}"), Path::new("/repo/stamp.toml"))
    }

    fn refused(tables: &str) -> SpecError {
        parse(tables).expect_err("the table is refused")
    }

    #[test]
    fn a_full_table_parses() {
        let environments = parse(
            "[env.staging]\ntarget = \"local\"\nreplicas = 2\nport = \"9000-9009\"\n\
             health = { http = \"/healthz\", timeout = \"10s\" }\n\
             [env.prod]\nreplicas = 3\nport = 8080\npromote_from = \"staging\"\napprovals = 2\n\
             writable = [\"/tmp\", \"/var/run/app\"]\n\
             health = { command = [\"/app/healthcheck\", \"--quick\"], timeout = \"500ms\" }\n",
        )
        .unwrap();
        let staging = &environments["staging"];
        assert_eq!(staging.target, EnvTarget::Local);
        assert_eq!(staging.replicas, Some(2));
        assert_eq!(
            staging.port,
            Some(PortRange {
                first: 9000,
                last: Some(9009)
            })
        );
        let health = staging.health.as_ref().unwrap();
        assert_eq!(health.probe, HealthProbe::Http("/healthz".into()));
        assert_eq!(health.timeout, Duration::from_secs(10));
        assert_eq!(staging.location.line, 5);
        assert_eq!(staging.approvals, None);
        let prod = &environments["prod"];
        assert_eq!(prod.promote_from.as_deref(), Some("staging"));
        assert_eq!(prod.approvals, Some(2));
        assert_eq!(
            prod.port,
            Some(PortRange {
                first: 8080,
                last: None
            })
        );
        let writable: Vec<String> = prod
            .writable
            .as_ref()
            .unwrap()
            .iter()
            .map(ImagePath::absolute)
            .collect();
        assert_eq!(writable, ["/tmp", "/var/run/app"]);
        let health = prod.health.as_ref().unwrap();
        assert_eq!(
            health.probe,
            HealthProbe::Command(vec!["/app/healthcheck".into(), "--quick".into()])
        );
        assert_eq!(health.timeout, Duration::from_millis(500));
        // Left out: the deploy's defaults apply.
        let bare = &parse("[env.dev]\n").unwrap()["dev"];
        assert_eq!(
            (bare.replicas, bare.port, bare.health.clone()),
            (None, None, None)
        );
    }

    #[test]
    fn the_digest_covers_values_not_formatting() {
        let one = &parse("[env.dev]\nreplicas = 2\nport = 8080\n").unwrap()["dev"];
        let same = &parse("[env.dev] # comment\nport   =   8080\nreplicas = 2\n").unwrap()["dev"];
        let other = &parse("[env.dev]\nreplicas = 3\nport = 8080\n").unwrap()["dev"];
        assert_eq!(one.sha256, same.sha256);
        assert_ne!(one.sha256, other.sha256);
        // The same table under another name has the same settings digest.
        let renamed = &parse("[env.qa]\nreplicas = 2\nport = 8080\n").unwrap()["qa"];
        assert_eq!(one.sha256, renamed.sha256);
    }

    #[test]
    fn an_unknown_key_names_file_line_and_column() {
        let error = refused("[env.dev]\nreplicas = 2\n  replica = 3\n");
        assert_eq!(error.location.file, Path::new("/repo/stamp.toml"));
        assert_eq!((error.location.line, error.location.column), (7, 3));
        assert!(
            error.message.contains("unknown field `replica`"),
            "{}",
            error.message
        );
        let error = refused("[env.dev]\nhealth = { http = \"/h\", retries = 3 }\n");
        assert_eq!(error.location.line, 6);
        assert!(
            error.message.contains("unknown field `retries`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn health_takes_exactly_one_of_http_and_command() {
        let both = refused(
            "[env.dev]\nhealth = { http = \"/health\", command = [\"/bin/true\"], timeout = \"1s\" }\n",
        );
        assert_eq!((both.location.line, both.location.column), (6, 10));
        assert!(
            both.message.contains("exactly one of `http` and `command`"),
            "{}",
            both.message
        );
        assert!(both.hint.unwrap().contains("command = ["));
        let neither = refused("[env.dev]\nhealth = { timeout = \"1s\" }\n");
        assert!(
            neither.message.contains("exactly one"),
            "{}",
            neither.message
        );
        let relative = refused("[env.dev]\nhealth = { command = [\"healthcheck\"] }\n");
        assert!(
            relative.message.contains("absolute path"),
            "{}",
            relative.message
        );
        let empty = refused("[env.dev]\nhealth = { command = [] }\n");
        assert!(
            empty.message.contains("1 to 64 arguments"),
            "{}",
            empty.message
        );
        let path = refused("[env.dev]\nhealth = { http = \"health\" }\n");
        assert!(
            path.message.contains("must start with `/`"),
            "{}",
            path.message
        );
    }

    #[test]
    fn a_bad_timeout_is_refused_where_it_is_written() {
        for bad in ["10", "10 s", "1h", "-5s", "0s", "50ms", "11m", "s", "1.5s"] {
            let error = refused(&format!(
                "[env.dev]\nhealth = {{ http = \"/health\", timeout = \"{bad}\" }}\n"
            ));
            assert_eq!(error.location.line, 6, "{bad}");
            assert_eq!(error.location.column, 40, "{bad}");
            assert!(
                error.message.contains("health timeout"),
                "{bad}: {}",
                error.message
            );
        }
        assert_eq!(parse_timeout("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_timeout("9999999999s"), None);
    }

    #[test]
    fn values_out_of_range_are_refused() {
        for (table, message) in [
            ("replicas = 0", "replicas must be from 1 to 16, not 0"),
            ("replicas = 17", "replicas must be from 1 to 16"),
            ("approvals = -1", "approvals must be from 0 to 16"),
            ("port = 0", "port must be from 1 to 65535"),
            ("port = 70000", "port must be from 1 to 65535"),
            ("port = \"9010-9000\"", "FIRST ≤ LAST"),
            ("port = \"http\"", "FIRST-LAST"),
            ("port = 1.5", "not a float"),
            ("target = \"kubernetes\"", "only target is `local`"),
            ("promote_from = \"dev\"", "another environment"),
            ("promote_from = \"Staging\"", "another environment"),
            ("writable = [\"tmp\"]", "writable path"),
            ("writable = [\"/\"]", "must not be `/`"),
            ("replicas = \"2\"", "invalid type"),
        ] {
            let error = refused(&format!("[env.dev]\n{table}\n"));
            assert_eq!(error.location.line, 6, "{table}");
            assert!(
                error.message.contains(message),
                "{table}: {}",
                error.message
            );
        }
        let error = refused("[env.Dev]\n");
        assert!(
            error.message.contains("environment name `Dev`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn the_full_spec_carries_its_environments() {
        let spec = crate::spec::parse(
            &format!("{HEAD}[env.dev]\nreplicas = 2\n"),
            Path::new("/repo/stamp.toml"),
        )
        .unwrap();
        assert_eq!(spec.environments["dev"].replicas, Some(2));
        let error = crate::spec::parse(
            &format!("{HEAD}[env.dev]\nreplicas = 0\n"),
            Path::new("/repo/stamp.toml"),
        )
        .unwrap_err();
        assert!(error.message.contains("replicas"), "{}", error.message);
    }
}

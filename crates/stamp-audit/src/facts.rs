//! The facts of a root filesystem: one JSON document (`input` of every Rego rule), documented
//! field by field in `docs/audit.md`. Facts never hold a password hash, a secret or an
//! environment value: only states (`"locked"`, `"usable"`), names and paths.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fs::{glob_match, join, Kind, Root};

/// Version of the facts document; bumped when a field changes meaning.
pub const FACTS_SCHEMA: u32 = 1;
/// Largest configuration file read (passwd, sshd_config, PAM files, ...).
pub const CONFIG_BYTES_MAX: u64 = 4 << 20;
/// Largest dpkg status database read.
pub const DPKG_STATUS_BYTES_MAX: u64 = 64 << 20;
/// Most filesystem entries walked for modes; past it the walk stops and says so.
pub const WALK_ENTRIES_MAX: u64 = 2_000_000;
/// Most paths listed in one list of the facts (world-writable, SUID/SGID, caches).
pub const LIST_MAX: usize = 10_000;
/// Deepest `Include` nesting followed in sshd_config (OpenSSH's own limit is 16).
pub const SSHD_INCLUDE_DEPTH_MAX: usize = 16;
/// Most sshd configuration files read through `Include` (repeats count: a file that includes
/// itself many times stops here instead of multiplying).
pub const SSHD_FILES_MAX: usize = 256;

/// Everything the rules see.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Facts {
    pub schema: u32,
    pub os: Option<OsRelease>,
    pub accounts: Accounts,
    pub sshd: Sshd,
    pub login_defs: LoginDefs,
    pub pam: Pam,
    /// `sysctl.conf` and `sysctl.d/*.conf` (etc, run, usr/lib; later files win), key → value.
    pub sysctl: BTreeMap<String, String>,
    pub profile: Profile,
    pub limits: Limits,
    pub systemd: Systemd,
    pub filesystem: Filesystem,
    pub packages: Packages,
    /// The OCI image config; absent for a plain directory.
    pub image: Option<ImageFacts>,
    /// How the base was pinned; absent when unknown (a plain directory without a spec).
    pub base: Option<BaseFacts>,
    /// Files that could not be read, with why (too large, unreadable, symlink loop).
    pub problems: Vec<FactProblem>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OsRelease {
    pub id: String,
    pub version_id: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FactProblem {
    pub path: String,
    pub message: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Accounts {
    /// `/etc/passwd` exists.
    pub present: bool,
    /// `/etc/shadow` exists.
    pub shadow_present: bool,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub uid: i64,
    pub gid: i64,
    pub home: String,
    pub shell: String,
    /// The shell lets the user log in (not nologin, false, sync, shutdown, halt, empty).
    pub login_shell: bool,
    /// `empty` (no password needed), `locked` (`!`, `*`, `!!`...), `usable` (a hash), or
    /// `unknown` (passwd says `x` and shadow has no entry).
    pub password: String,
    /// Scheme of a usable hash: `yescrypt`, `sha512`, `sha256`, `md5`, `bcrypt`, `des`, ...
    pub hash_scheme: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub gid: i64,
    pub members: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Sshd {
    /// An sshd binary, an `sshd_config` or the `openssh-server` package is present.
    pub present: bool,
    pub binary: Option<String>,
    /// Files read, in order (`/etc/ssh/sshd_config` then its includes).
    pub files: Vec<String>,
    /// Effective global settings: lower-case keyword → value, the first value of a keyword
    /// winning as in OpenSSH (keywords that accumulate, such as `Port`, join their values
    /// with spaces). Time values (`ClientAliveInterval`, `LoginGraceTime`) in seconds.
    pub settings: BTreeMap<String, String>,
    /// `Match` blocks in order with their own settings.
    pub matches: Vec<SshdMatch>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SshdMatch {
    pub criteria: String,
    pub file: String,
    pub line: usize,
    pub settings: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LoginDefs {
    pub present: bool,
    /// Upper-case key → value.
    pub settings: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Pam {
    /// `/etc/pam.d` exists.
    pub present: bool,
    /// Every rule line of `/etc/pam.d/*` (with `@include` left as a line of its own).
    pub lines: Vec<PamLine>,
    /// Effective minimum password length: `minlen` of pam_pwquality / pam_cracklib arguments,
    /// else of pwquality.conf(.d), else the module default (8 for pwquality, 9 for cracklib);
    /// without those modules, login.defs `PASS_MIN_LEN`. None when nothing sets it.
    pub password_min_length: Option<i64>,
    pub password_min_length_source: Option<String>,
    pub faillock: Faillock,
    /// Passwords remembered: the larger of pam_pwhistory `remember` (or pwhistory.conf,
    /// default 10 when the module is used) and pam_unix `remember`.
    pub password_history: Option<i64>,
    /// Hash scheme of new passwords from pam_unix's arguments (`yescrypt`, `sha512`, `md5`,
    /// ...); None when pam_unix names none (it then uses login.defs `ENCRYPT_METHOD`).
    pub pam_unix_hash: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PamLine {
    pub file: String,
    pub line: usize,
    pub kind: String,
    pub control: String,
    pub module: String,
    pub args: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Faillock {
    /// pam_faillock (or pam_tally2) appears in an auth stack.
    pub used: bool,
    /// Effective `deny` (arguments over faillock.conf over the default 3).
    pub deny: Option<i64>,
    /// Effective `unlock_time` in seconds (arguments over faillock.conf over the default 600;
    /// 0 means locked until an administrator unlocks).
    pub unlock_time: Option<i64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Profile {
    /// `/etc/profile` exists.
    pub present: bool,
    /// Every `TMOUT=` assignment in /etc/profile, /etc/profile.d/*.sh, /etc/bash.bashrc.
    pub tmout: Vec<Setting>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Setting {
    pub file: String,
    pub line: usize,
    pub value: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Limits {
    /// `/etc/security/limits.conf` exists.
    pub present: bool,
    /// Every `core` limit line of limits.conf and limits.d/*.conf.
    pub core: Vec<LimitLine>,
    /// `/etc/systemd/coredump.conf` `Storage=` when set.
    pub coredump_storage: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LimitLine {
    pub file: String,
    pub domain: String,
    pub kind: String,
    pub value: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Systemd {
    /// `/etc/systemd/system` exists.
    pub present: bool,
    /// Units enabled through symlinks in `/etc/systemd/system/*.wants|*.requires`.
    pub enabled_units: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Filesystem {
    /// World-writable regular files and directories outside /tmp, /var/tmp, /dev/shm and
    /// not sticky directories (/proc, /sys, /dev are not walked).
    pub world_writable: Vec<String>,
    pub setuid: Vec<SpecialFile>,
    /// Executable regular files in bin/sbin/libexec directories (image paths).
    pub executables: Vec<String>,
    /// Package-manager caches found (apt lists and archives, pip, npm, yum/dnf, apk).
    pub package_caches: Vec<String>,
    pub entries_walked: u64,
    /// The walk stopped at [`WALK_ENTRIES_MAX`] or a list at [`LIST_MAX`].
    pub truncated: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SpecialFile {
    pub path: String,
    pub mode: String,
    pub setuid: bool,
    pub setgid: bool,
    pub uid: u32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Packages {
    /// Package managers seen: `dpkg`, `apt`, `apk`, `rpm`, `pip`, `npm`.
    pub managers: Vec<String>,
    pub installed: Vec<Package>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// `deb`, `apk`, `pypi`, `npm`, `cargo`, ...
    #[serde(rename = "type")]
    pub package_type: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ImageFacts {
    /// `User` of the config; empty means root.
    pub user: String,
    pub exposed_ports: Vec<String>,
    /// Names of the environment variables; never their values.
    pub env_names: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BaseFacts {
    /// `scratch`, `oci-layout`, `rootfs` or `unknown`.
    pub kind: String,
    pub pinned: bool,
    pub digest: Option<String>,
}

/// What the caller knows besides the filesystem.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub image: Option<ImageFacts>,
    pub base: Option<BaseFacts>,
    /// Packages from the SBOM inventory; when None, dpkg's and apk's databases are read.
    pub packages: Option<Vec<Package>>,
}

/// Gather the facts of the root filesystem directory `root`.
pub fn collect(root: &Path, context: Context) -> Facts {
    collect_root(&Root::new(root), context)
}

/// Gather the facts of `root` (a directory or an image's merged layers).
pub fn collect_root(root: &Root, context: Context) -> Facts {
    let mut facts = Facts {
        schema: FACTS_SCHEMA,
        image: context.image,
        base: context.base,
        ..Facts::default()
    };
    let mut reader = Reader {
        root,
        problems: Vec::new(),
    };
    facts.os = reader
        .text("/etc/os-release")
        .or_else(|| reader.text("/usr/lib/os-release"))
        .map(|text| parse_os_release(&text));
    facts.login_defs = login_defs(&mut reader);
    facts.accounts = accounts(&mut reader);
    facts.filesystem = walk(root);
    facts.packages = packages(&mut reader, context.packages);
    facts.sshd = sshd(&mut reader, &facts);
    facts.pam = pam(&mut reader, &facts.login_defs);
    facts.sysctl = sysctl(&mut reader);
    facts.profile = profile(&mut reader);
    facts.limits = limits(&mut reader);
    facts.systemd = systemd(root);
    facts.problems = reader.problems;
    facts
}

struct Reader<'a> {
    root: &'a Root,
    problems: Vec<FactProblem>,
}

impl Reader<'_> {
    /// The text of a configuration file, None when absent; other failures are problems.
    fn text(&mut self, path: &str) -> Option<String> {
        self.text_limited(path, CONFIG_BYTES_MAX)
    }

    fn text_limited(&mut self, path: &str, limit: u64) -> Option<String> {
        match self.root.read(path, limit) {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(crate::fs::ReadError::Absent) => None,
            Err(error) => {
                self.problems.push(FactProblem {
                    path: path.to_string(),
                    message: error.to_string(),
                });
                None
            }
        }
    }
}

fn parse_os_release(text: &str) -> OsRelease {
    let mut release = OsRelease::default();
    for line in text.lines() {
        if let Some((key, value)) = line.split_once('=') {
            let value = value.trim().trim_matches('"').to_string();
            match key.trim() {
                "ID" => release.id = value,
                "VERSION_ID" => release.version_id = value,
                _ => {}
            }
        }
    }
    release
}

fn login_defs(reader: &mut Reader) -> LoginDefs {
    let Some(text) = reader.text("/etc/login.defs") else {
        return LoginDefs::default();
    };
    let mut settings = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        if let (Some(key), Some(value)) = (parts.next(), parts.next()) {
            settings
                .entry(key.to_string())
                .or_insert_with(|| value.trim_matches('"').to_string());
        }
    }
    LoginDefs {
        present: true,
        settings,
    }
}

/// Shells that do not give a login.
fn is_login_shell(shell: &str) -> bool {
    let base = shell.rsplit('/').next().unwrap_or(shell);
    !(shell.is_empty() || matches!(base, "nologin" | "false" | "sync" | "shutdown" | "halt"))
}

/// The state and scheme of a password field (never the hash itself).
pub fn password_state(field: &str) -> (&'static str, Option<String>) {
    if field.is_empty() {
        return ("empty", None);
    }
    if field.starts_with('!') || field.starts_with('*') || field == "x" {
        return ("locked", None);
    }
    let scheme = if let Some(rest) = field.strip_prefix('$') {
        match rest.split('$').next().unwrap_or("") {
            "y" => "yescrypt",
            "gy" => "gost-yescrypt",
            "6" => "sha512",
            "5" => "sha256",
            "1" => "md5",
            "2a" | "2b" | "2y" => "bcrypt",
            "7" => "scrypt",
            _ => "unknown",
        }
    } else if field.len() == 13 {
        "des"
    } else {
        "unknown"
    };
    ("usable", Some(scheme.to_string()))
}

fn accounts(reader: &mut Reader) -> Accounts {
    let Some(passwd) = reader.text("/etc/passwd") else {
        return Accounts::default();
    };
    let shadow = reader.text("/etc/shadow");
    let shadow_fields: BTreeMap<String, String> = shadow
        .as_deref()
        .unwrap_or("")
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            Some((fields.next()?.to_string(), fields.next()?.to_string()))
        })
        .collect();
    let mut users = Vec::new();
    for line in passwd.lines() {
        if line.trim().is_empty() || line.starts_with('#') || line.starts_with('+') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 7 {
            continue;
        }
        let (password, hash_scheme) = if fields[1] == "x" {
            match shadow_fields.get(fields[0]) {
                Some(field) => password_state(field),
                None => ("unknown", None),
            }
        } else {
            password_state(fields[1])
        };
        users.push(User {
            name: fields[0].to_string(),
            uid: fields[2].parse().unwrap_or(-1),
            gid: fields[3].parse().unwrap_or(-1),
            home: fields[5].to_string(),
            shell: fields[6].to_string(),
            login_shell: is_login_shell(fields[6]),
            password: password.to_string(),
            hash_scheme,
        });
    }
    let groups = reader
        .text("/etc/group")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 4).then(|| Group {
                name: fields[0].to_string(),
                gid: fields[2].parse().unwrap_or(-1),
                members: fields[3]
                    .split(',')
                    .filter(|member| !member.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect();
    Accounts {
        present: true,
        shadow_present: shadow.is_some(),
        users,
        groups,
    }
}

/// sshd keywords whose values accumulate rather than first-wins.
const SSHD_ACCUMULATING: &[&str] = &[
    "port",
    "listenaddress",
    "hostkey",
    "acceptenv",
    "setenv",
    "subsystem",
    "allowusers",
    "denyusers",
    "allowgroups",
    "denygroups",
    "hostcertificate",
];
/// sshd keywords holding a time (`90`, `5m`, `1h30m`), stored in seconds.
const SSHD_TIMES: &[&str] = &["clientaliveinterval", "logingracetime"];

/// Seconds of an sshd time value (`sshd_config(5)` TIME FORMATS); None when malformed.
pub fn sshd_seconds(value: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut digits = String::new();
    for character in value.chars() {
        if character.is_ascii_digit() {
            digits.push(character);
            continue;
        }
        let unit = match character.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return None,
        };
        let number: i64 = digits.parse().ok()?;
        total = total.checked_add(number.checked_mul(unit)?)?;
        digits.clear();
    }
    if !digits.is_empty() {
        total = total.checked_add(digits.parse().ok()?)?;
    } else if value.is_empty() {
        return None;
    }
    Some(total)
}

struct SshdParse<'a, 'b> {
    reader: &'a mut Reader<'b>,
    sshd: Sshd,
}

impl SshdParse<'_, '_> {
    /// Parse one file; `current` is the Match block index in effect (None = global). A Match
    /// block started inside a file ends with that file, as in OpenSSH.
    fn file(&mut self, path: &str, mut current: Option<usize>, depth: usize) {
        if self.sshd.files.len() >= SSHD_FILES_MAX {
            self.reader.problems.push(FactProblem {
                path: path.to_string(),
                message: format!("more than {SSHD_FILES_MAX} sshd configuration files included; the rest is not read"),
            });
            return;
        }
        let Some(text) = self.reader.text(path) else {
            return;
        };
        self.sshd.files.push(path.to_string());
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, value) = split_keyword(line);
            let keyword = keyword.to_ascii_lowercase();
            match keyword.as_str() {
                "include" => {
                    if depth >= SSHD_INCLUDE_DEPTH_MAX {
                        self.reader.problems.push(FactProblem {
                            path: format!("{path}:{}", index + 1),
                            message: format!("Include nested deeper than {SSHD_INCLUDE_DEPTH_MAX}"),
                        });
                        continue;
                    }
                    for pattern in value.split_whitespace() {
                        let pattern = if pattern.starts_with('/') {
                            pattern.to_string()
                        } else {
                            format!("/etc/ssh/{pattern}")
                        };
                        for file in self.expand(&pattern) {
                            self.file(&file, current, depth + 1);
                        }
                    }
                }
                "match" => {
                    self.sshd.matches.push(SshdMatch {
                        criteria: value.to_string(),
                        file: path.to_string(),
                        line: index + 1,
                        settings: BTreeMap::new(),
                    });
                    current = if value.eq_ignore_ascii_case("all") {
                        None
                    } else {
                        Some(self.sshd.matches.len() - 1)
                    };
                }
                _ => {
                    let mut value = value.to_string();
                    if SSHD_TIMES.contains(&keyword.as_str()) {
                        if let Some(seconds) = sshd_seconds(&value) {
                            value = seconds.to_string();
                        }
                    }
                    let settings = match current {
                        Some(block) => &mut self.sshd.matches[block].settings,
                        None => &mut self.sshd.settings,
                    };
                    if SSHD_ACCUMULATING.contains(&keyword.as_str()) {
                        settings
                            .entry(keyword)
                            .and_modify(|existing| {
                                existing.push(' ');
                                existing.push_str(&value);
                            })
                            .or_insert(value);
                    } else {
                        settings.entry(keyword).or_insert(value);
                    }
                }
            }
        }
    }

    /// Files matching an absolute glob (wildcards in the last component only), sorted.
    fn expand(&mut self, pattern: &str) -> Vec<String> {
        let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
        let dir = if dir.is_empty() { "/" } else { dir };
        if !name.contains(['*', '?']) {
            return vec![pattern.to_string()];
        }
        self.reader
            .root
            .list(dir)
            .into_iter()
            .filter(|entry| glob_match(name, entry))
            .map(|entry| join(dir, &entry))
            .collect()
    }
}

/// `Keyword value` or `Keyword=value`.
fn split_keyword(line: &str) -> (&str, &str) {
    let end = line
        .find(|character: char| character.is_whitespace() || character == '=')
        .unwrap_or(line.len());
    let keyword = &line[..end];
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    (keyword, rest.trim_matches('"'))
}

const SSHD_BINARIES: &[&str] = &["/usr/sbin/sshd", "/sbin/sshd", "/usr/local/sbin/sshd"];

fn sshd(reader: &mut Reader, facts: &Facts) -> Sshd {
    let binary = SSHD_BINARIES
        .iter()
        .find(|path| reader.root.exists(path))
        .map(|path| path.to_string());
    let mut parse = SshdParse {
        reader,
        sshd: Sshd {
            binary,
            ..Sshd::default()
        },
    };
    parse.file("/etc/ssh/sshd_config", None, 0);
    let mut sshd = parse.sshd;
    let package = facts
        .packages
        .installed
        .iter()
        .any(|package| package.name == "openssh-server");
    sshd.present = sshd.binary.is_some() || !sshd.files.is_empty() || package;
    sshd
}

/// Parse `/etc/pam.d/*` and the module configuration files.
fn pam(reader: &mut Reader, login_defs: &LoginDefs) -> Pam {
    let mut pam = Pam {
        present: reader.root.exists("/etc/pam.d"),
        ..Pam::default()
    };
    for name in reader.root.list("/etc/pam.d") {
        let path = join("/etc/pam.d", &name);
        let Some(text) = reader.text(&path) else {
            continue;
        };
        for (index, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = pam_words(line).into_iter();
            let kind = words.next().unwrap_or_default();
            if kind.starts_with('@') {
                pam.lines.push(PamLine {
                    file: path.clone(),
                    line: index + 1,
                    kind,
                    control: String::new(),
                    module: words.next().unwrap_or_default(),
                    args: Vec::new(),
                });
                continue;
            }
            let control = words.next().unwrap_or_default();
            let module = words.next().unwrap_or_default();
            let module = module.rsplit('/').next().unwrap_or(&module).to_string();
            pam.lines.push(PamLine {
                file: path.clone(),
                line: index + 1,
                kind: kind.trim_start_matches('-').to_string(),
                control,
                module,
                args: words.collect(),
            });
        }
    }
    let arg = |lines: &[PamLine], module: &str, key: &str| -> Option<String> {
        lines
            .iter()
            .filter(|line| line.module == module)
            .flat_map(|line| line.args.iter())
            .find_map(|arg| arg.strip_prefix(&format!("{key}=")).map(str::to_string))
    };
    let used = |lines: &[PamLine], module: &str| lines.iter().any(|line| line.module == module);
    // pwquality.conf, then pwquality.conf.d/*.conf, later values override.
    let mut pwquality_conf = key_values(reader, "/etc/security/pwquality.conf");
    for name in reader.root.list("/etc/security/pwquality.conf.d") {
        if name.ends_with(".conf") {
            pwquality_conf.extend(key_values(
                reader,
                &join("/etc/security/pwquality.conf.d", &name),
            ));
        }
    }
    let number = |text: &str| text.trim().parse::<i64>().ok();
    if used(&pam.lines, "pam_pwquality.so") {
        let (value, source) = match arg(&pam.lines, "pam_pwquality.so", "minlen") {
            Some(value) => (number(&value), "pam_pwquality arguments"),
            None => match pwquality_conf.get("minlen") {
                Some(value) => (number(value), "pwquality.conf"),
                None => (Some(8), "pam_pwquality default"),
            },
        };
        pam.password_min_length = value;
        pam.password_min_length_source = Some(source.into());
    } else if used(&pam.lines, "pam_cracklib.so") {
        let value = arg(&pam.lines, "pam_cracklib.so", "minlen")
            .and_then(|v| number(&v))
            .unwrap_or(9);
        pam.password_min_length = Some(value);
        pam.password_min_length_source = Some("pam_cracklib".into());
    } else if let Some(value) = login_defs.settings.get("PASS_MIN_LEN") {
        pam.password_min_length = number(value);
        pam.password_min_length_source = Some("login.defs PASS_MIN_LEN".into());
    }
    let faillock_conf = key_values(reader, "/etc/security/faillock.conf");
    let faillock_used = pam
        .lines
        .iter()
        .any(|line| line.kind == "auth" && line.module == "pam_faillock.so");
    let tally_used = pam
        .lines
        .iter()
        .any(|line| line.kind == "auth" && line.module == "pam_tally2.so");
    if faillock_used {
        let pick = |key: &str, default: i64| {
            arg(&pam.lines, "pam_faillock.so", key)
                .or_else(|| faillock_conf.get(key).cloned())
                .map(|value| {
                    if value == "never" {
                        Some(0)
                    } else {
                        number(&value)
                    }
                })
                .unwrap_or(Some(default))
        };
        pam.faillock = Faillock {
            used: true,
            deny: pick("deny", 3),
            unlock_time: pick("unlock_time", 600),
        };
    } else if tally_used {
        pam.faillock = Faillock {
            used: true,
            deny: arg(&pam.lines, "pam_tally2.so", "deny").and_then(|v| number(&v)),
            unlock_time: arg(&pam.lines, "pam_tally2.so", "unlock_time").and_then(|v| number(&v)),
        };
    }
    let pwhistory_conf = key_values(reader, "/etc/security/pwhistory.conf");
    let history = if used(&pam.lines, "pam_pwhistory.so") {
        arg(&pam.lines, "pam_pwhistory.so", "remember")
            .or_else(|| pwhistory_conf.get("remember").cloned())
            .map(|value| number(&value))
            .unwrap_or(Some(10))
    } else {
        None
    };
    let unix_remember = arg(&pam.lines, "pam_unix.so", "remember").and_then(|v| number(&v));
    pam.password_history = match (history, unix_remember) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    pam.pam_unix_hash = pam
        .lines
        .iter()
        .filter(|line| line.kind == "password" && line.module == "pam_unix.so")
        .flat_map(|line| line.args.iter())
        .find_map(|arg| {
            matches!(
                arg.as_str(),
                "yescrypt"
                    | "gost_yescrypt"
                    | "sha512"
                    | "sha256"
                    | "md5"
                    | "blowfish"
                    | "bigcrypt"
            )
            .then(|| arg.clone())
        });
    pam
}

/// PAM words: whitespace separated, `[...]` kept together.
fn pam_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut bracket = false;
    for character in line.chars() {
        match character {
            '[' => {
                bracket = true;
                current.push(character);
            }
            ']' => {
                bracket = false;
                current.push(character);
            }
            c if c.is_whitespace() && !bracket => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// `key = value` lines (pwquality.conf, faillock.conf); a bare `key` is `key = "true"`.
fn key_values(reader: &mut Reader, path: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for line in reader.text(path).unwrap_or_default().lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((key, value)) => {
                values.insert(key.trim().to_string(), value.trim().to_string());
            }
            None => {
                values.insert(line.to_string(), "true".to_string());
            }
        }
    }
    values
}

fn sysctl(reader: &mut Reader) -> BTreeMap<String, String> {
    // systemd-sysctl order: files by name across the directories (etc wins a name), then
    // /etc/sysctl.conf last.
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for dir in [
        "/usr/lib/sysctl.d",
        "/lib/sysctl.d",
        "/run/sysctl.d",
        "/etc/sysctl.d",
    ] {
        for name in reader.root.list(dir) {
            if name.ends_with(".conf") {
                by_name.insert(name.clone(), join(dir, &name));
            }
        }
    }
    let mut files: Vec<String> = by_name.into_values().collect();
    files.push("/etc/sysctl.conf".into());
    let mut settings = BTreeMap::new();
    for file in files {
        for line in reader.text(&file).unwrap_or_default().lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some((key, value)) = line.split_once('=') {
                let key = key.trim().trim_start_matches('-').replace('/', ".");
                settings.insert(key, value.trim().to_string());
            }
        }
    }
    settings
}

fn profile(reader: &mut Reader) -> Profile {
    let mut files = vec!["/etc/profile".to_string(), "/etc/bash.bashrc".to_string()];
    for name in reader.root.list("/etc/profile.d") {
        if name.ends_with(".sh") {
            files.push(join("/etc/profile.d", &name));
        }
    }
    let mut profile = Profile {
        present: reader.root.exists("/etc/profile"),
        tmout: Vec::new(),
    };
    for file in files {
        for (index, line) in reader.text(&file).unwrap_or_default().lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            for statement in line.split([';', ' ', '\t']) {
                if let Some(value) = statement.strip_prefix("TMOUT=") {
                    profile.tmout.push(Setting {
                        file: file.clone(),
                        line: index + 1,
                        value: value.trim_matches(['"', '\'']).to_string(),
                    });
                }
            }
        }
    }
    profile
}

fn limits(reader: &mut Reader) -> Limits {
    let mut files = vec!["/etc/security/limits.conf".to_string()];
    for name in reader.root.list("/etc/security/limits.d") {
        if name.ends_with(".conf") {
            files.push(join("/etc/security/limits.d", &name));
        }
    }
    let mut limits = Limits {
        present: reader.root.exists("/etc/security/limits.conf"),
        ..Limits::default()
    };
    for file in files {
        for line in reader.text(&file).unwrap_or_default().lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() == 4 && fields[2] == "core" {
                limits.core.push(LimitLine {
                    file: file.clone(),
                    domain: fields[0].to_string(),
                    kind: fields[1].to_string(),
                    value: fields[3].to_string(),
                });
            }
        }
    }
    let coredump = key_values(reader, "/etc/systemd/coredump.conf");
    limits.coredump_storage = coredump.get("Storage").cloned();
    limits
}

fn systemd(root: &Root) -> Systemd {
    let base = "/etc/systemd/system";
    let mut systemd = Systemd {
        present: root.exists(base),
        enabled_units: Vec::new(),
    };
    for name in root.list(base) {
        if name.ends_with(".wants") || name.ends_with(".requires") {
            for unit in root.list(&join(base, &name)) {
                if !systemd.enabled_units.contains(&unit) {
                    systemd.enabled_units.push(unit);
                }
            }
        }
    }
    systemd.enabled_units.sort();
    systemd
}

/// Directories whose executables are listed.
const EXECUTABLE_DIRS: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/libexec",
    "/usr/lib/inetutils",
];
/// Temporary directories whose content may be world-writable.
const TEMP_DIRS: &[&str] = &["/tmp", "/var/tmp", "/dev/shm"];
/// Not walked: kernel and device filesystems.
const SKIPPED: &[&str] = &["/proc", "/sys", "/dev"];

/// One walk of the whole tree (symlinks never followed): world-writable entries, SUID/SGID
/// files, executables, package-manager caches.
fn walk(root: &Root) -> Filesystem {
    let mut fs = Filesystem::default();
    root.walk(SKIPPED, |entry| {
        fs.entries_walked += 1;
        if fs.entries_walked > WALK_ENTRIES_MAX {
            fs.truncated = true;
            return false;
        }
        let path = &entry.path;
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let mode = entry.mode;
        match entry.kind {
            Kind::Dir => {
                let temp = TEMP_DIRS
                    .iter()
                    .any(|temp| path == temp || path.starts_with(&format!("{temp}/")));
                let sticky = mode & 0o1000 != 0;
                if mode & 0o002 != 0 && !temp && !sticky {
                    push(&mut fs.world_writable, &mut fs.truncated, path.clone());
                }
                if is_cache_dir(path) {
                    push(&mut fs.package_caches, &mut fs.truncated, path.clone());
                }
            }
            Kind::File => {
                let temp = TEMP_DIRS
                    .iter()
                    .any(|temp| path.starts_with(&format!("{temp}/")));
                if mode & 0o002 != 0 && !temp {
                    push(&mut fs.world_writable, &mut fs.truncated, path.clone());
                }
                if mode & 0o6000 != 0 {
                    if fs.setuid.len() < LIST_MAX {
                        fs.setuid.push(SpecialFile {
                            path: path.clone(),
                            mode: format!("{:04o}", mode & 0o7777),
                            setuid: mode & 0o4000 != 0,
                            setgid: mode & 0o2000 != 0,
                            uid: entry.uid,
                        });
                    } else {
                        fs.truncated = true;
                    }
                }
                if mode & 0o111 != 0 && EXECUTABLE_DIRS.contains(&dir) {
                    push(&mut fs.executables, &mut fs.truncated, path.clone());
                }
                if is_cache_file(dir, name) {
                    push(&mut fs.package_caches, &mut fs.truncated, path.clone());
                }
            }
            Kind::Symlink | Kind::Other => {}
        }
        true
    });
    finish(fs)
}

fn push(list: &mut Vec<String>, truncated: &mut bool, path: String) {
    if list.len() < LIST_MAX {
        list.push(path);
    } else {
        *truncated = true;
    }
}

fn finish(mut fs: Filesystem) -> Filesystem {
    fs.world_writable.sort();
    fs.setuid.sort_by(|a, b| a.path.cmp(&b.path));
    fs.executables.sort();
    fs.package_caches.sort();
    fs
}

/// Cache directories reported as one entry (their content is not listed).
fn is_cache_dir(path: &str) -> bool {
    let home_cache = |suffix: &str| {
        path == format!("/root/{suffix}")
            || (path.starts_with("/home/")
                && path.matches('/').count() == 2 + suffix.matches('/').count() + 1
                && path.ends_with(&format!("/{suffix}")))
    };
    home_cache(".cache/pip") || home_cache(".npm/_cacache") || home_cache(".cache/yarn")
}

/// Cache files: downloaded packages and index files of apt, yum/dnf, apk.
fn is_cache_file(dir: &str, name: &str) -> bool {
    match dir {
        "/var/cache/apt/archives" | "/var/cache/apt/archives/partial" => name.ends_with(".deb"),
        "/var/cache/apt" => name.ends_with(".bin"),
        "/var/lib/apt/lists" => name != "lock" && !name.starts_with('.'),
        "/var/cache/apk" | "/etc/apk/cache" => !name.starts_with('.'),
        _ => {
            (dir.starts_with("/var/cache/yum/") || dir.starts_with("/var/cache/dnf/"))
                && (name.ends_with(".rpm")
                    || name.ends_with(".sqlite")
                    || name.ends_with(".xml.gz"))
        }
    }
}

fn packages(reader: &mut Reader, known: Option<Vec<Package>>) -> Packages {
    let mut managers = Vec::new();
    for (manager, path) in [
        ("dpkg", "/var/lib/dpkg/status"),
        ("apt", "/usr/bin/apt-get"),
        ("apk", "/lib/apk/db/installed"),
        ("rpm", "/usr/bin/rpm"),
        ("pip", "/usr/bin/pip3"),
        ("pip", "/usr/local/bin/pip"),
        ("npm", "/usr/bin/npm"),
        ("npm", "/usr/local/bin/npm"),
    ] {
        if reader.root.exists(path) && !managers.contains(&manager.to_string()) {
            managers.push(manager.to_string());
        }
    }
    let mut installed = match known {
        Some(packages) => packages,
        None => {
            let mut found = Vec::new();
            if let Some(text) = reader.text_limited("/var/lib/dpkg/status", DPKG_STATUS_BYTES_MAX) {
                found.extend(dpkg_installed(&text));
            }
            if let Some(text) = reader.text_limited("/lib/apk/db/installed", DPKG_STATUS_BYTES_MAX)
            {
                found.extend(apk_installed(&text));
            }
            found
        }
    };
    installed.sort();
    installed.dedup();
    Packages {
        managers,
        installed,
    }
}

/// Installed packages of a dpkg status database.
pub fn dpkg_installed(text: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    for paragraph in text.split("\n\n") {
        let mut name = None;
        let mut version = String::new();
        let mut installed = false;
        for line in paragraph.lines() {
            if let Some(value) = line.strip_prefix("Package:") {
                name = Some(value.trim().to_string());
            } else if let Some(value) = line.strip_prefix("Version:") {
                version = value.trim().to_string();
            } else if let Some(value) = line.strip_prefix("Status:") {
                installed = value.trim().ends_with(" installed");
            }
        }
        if let (Some(name), true) = (name, installed) {
            packages.push(Package {
                name,
                version,
                package_type: "deb".into(),
            });
        }
    }
    packages
}

fn apk_installed(text: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    for paragraph in text.split("\n\n") {
        let mut name = None;
        let mut version = String::new();
        for line in paragraph.lines() {
            if let Some(value) = line.strip_prefix("P:") {
                name = Some(value.to_string());
            } else if let Some(value) = line.strip_prefix("V:") {
                version = value.to_string();
            }
        }
        if let Some(name) = name {
            packages.push(Package {
                name,
                version,
                package_type: "apk".into(),
            });
        }
    }
    packages
}

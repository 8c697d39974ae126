//! The PCI configuration audit of `stamp check`: a real Debian bookworm root filesystem with
//! planted problems (an empty password, `PermitRootLogin yes`, telnetd's files, a world-writable
//! file under /etc, a card number in a log, an AWS key in a config file) built into an image;
//! each plant is found with its code and PCI DSS requirement, the gate fails, exceptions lift a
//! finding by code; the clean rootfs gives no failure for components it lacks; user rules from
//! `[check] policies` join the verdict.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{describe, shared_oracles, stamp};

/// The bookworm tree and tarball made by the oracles' `make-rootfs.sh` (root and network to
/// the Debian archive), kept under target/ between runs; a lock file keeps parallel tests from
/// making it twice.
fn bookworm() -> (PathBuf, PathBuf, String) {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("audit-bookworm");
    fs::create_dir_all(&cache).unwrap();
    let lock = fs::File::create(cache.join(".lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let tree = cache.join("rootfs");
    let tarball = cache.join("rootfs.tar.gz");
    let digest = cache.join("rootfs.tar.gz.sha256");
    if !digest.is_file() {
        let _ = fs::remove_dir_all(&tree);
        let output = Command::new("bash")
            .arg(shared_oracles().join("rootfs/make-rootfs.sh"))
            .arg(&tree)
            .arg(&tarball)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "make-rootfs.sh: {}",
            describe(&output)
        );
    }
    let sha256 = fs::read_to_string(&digest).unwrap();
    let sha256 = sha256.split_whitespace().next().unwrap().to_string();
    (tree, tarball, sha256)
}

fn ok(dir: &Path, args: &[&str]) -> Output {
    let output = stamp(dir, args, &[]);
    assert!(output.status.success(), "{args:?}\n{}", describe(&output));
    output
}

fn write(path: &Path, content: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// A Luhn-valid Visa number (not a published test number).
fn planted_pan() -> String {
    let payload = "453201511283036";
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(position, digit)| {
            let value = u32::from(digit - b'0');
            if position % 2 == 0 {
                let doubled = value * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                value
            }
        })
        .sum();
    format!("{payload}{}", (10 - sum % 10) % 10)
}

fn aws_key() -> String {
    // Assembled at run time so that no source file holds a complete key.
    format!("AKIA{}", "J5K8M2N4P6Q9R3S7")
}

fn spec(tarball: &Path, sha256: &str, name: &str, extra: &str) -> String {
    format!(
        "[image]\nname = \"{name}\"\nsource_date_epoch = 1700000000\n\n[base]\nrootfs = \"{}\"\nsha256 = \"sha256:{sha256}\"\n{extra}",
        tarball.display()
    )
}

fn check_json(dir: &Path, image: &str) -> (Output, serde_json::Value) {
    let output = stamp(dir, &["check", image, "--format", "json"], &[]);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}\n{}", describe(&output)));
    (output, report)
}

/// code → (status, items, pci, denied)
fn audit_results(
    report: &serde_json::Value,
) -> BTreeMap<String, (String, Vec<String>, Vec<String>, bool)> {
    let strings = |value: &serde_json::Value| -> Vec<String> {
        value
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|item| item.as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    report["gate"]["audit"]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no audit results: {:#}", report["gate"]))
        .iter()
        .map(|result| {
            (
                result["code"].as_str().unwrap().to_string(),
                (
                    result["status"].as_str().unwrap().to_string(),
                    strings(&result["items"]),
                    strings(&result["pci"]),
                    result["denied"].as_bool().unwrap(),
                ),
            )
        })
        .collect()
}

fn import_db(dir: &Path) {
    let osv = shared_oracles().join("../data/osv/Debian");
    ok(dir, &["db", "import", osv.to_str().unwrap()]);
}

#[test]
fn planted_bookworm_problems_are_found_with_their_codes_and_the_gate_fails() {
    let (tree, tarball, sha256) = bookworm();
    let dir = tempfile::tempdir().unwrap();
    let plant = dir.path().join("plant");
    // The fixture builder: the real files of the rootfs, changed.
    let passwd = fs::read_to_string(tree.join("etc/passwd")).unwrap();
    write(
        &plant.join("passwd"),
        format!("{passwd}mallory:x:1001:1001::/home/mallory:/bin/bash\n").as_bytes(),
    );
    let shadow = fs::read_to_string(tree.join("etc/shadow")).unwrap();
    write(
        &plant.join("shadow"),
        format!("{shadow}mallory::19700:0:99999:7:::\n").as_bytes(),
    );
    write(
        &plant.join("sshd_config"),
        b"Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nPasswordAuthentication no\n",
    );
    write(&plant.join("in.telnetd"), b"\x7fELF planted telnetd\n");
    let status = fs::read_to_string(tree.join("var/lib/dpkg/status")).unwrap();
    write(
        &plant.join("status"),
        format!(
            "{}\n\nPackage: telnetd\nStatus: install ok installed\nPriority: optional\nSection: net\nArchitecture: amd64\nSource: inetutils\nVersion: 2:2.4-2+deb12u1\nDescription: telnet server\n",
            status.trim_end()
        )
        .as_bytes(),
    );
    write(&plant.join("app.conf"), b"listen = 0.0.0.0\n");
    let pan = planted_pan();
    write(
        &plant.join("payments.log"),
        format!("2026-01-01T10:00:00Z charge ok card={pan} amount=10.00\n").as_bytes(),
    );
    write(
        &plant.join("config.ini"),
        format!("[aws]\naccess_key_id = {}\nregion = eu-west-1\n", aws_key()).as_bytes(),
    );
    write(
        &dir.path().join("stamp.toml"),
        spec(
            &tarball,
            &sha256,
            "planted",
            r#"
[[layers]]
name = "plants"
files = [
  { src = "plant/passwd", dest = "/etc/passwd", mode = "0644" },
  { src = "plant/shadow", dest = "/etc/shadow", mode = "0640", gid = 42 },
  { src = "plant/sshd_config", dest = "/etc/ssh/sshd_config", mode = "0644" },
  { src = "plant/in.telnetd", dest = "/usr/sbin/in.telnetd", mode = "0755" },
  { src = "plant/status", dest = "/var/lib/dpkg/status", mode = "0644" },
  { src = "plant/app.conf", dest = "/etc/app.conf", mode = "0666" },
  { src = "plant/payments.log", dest = "/var/log/payments.log", mode = "0640" },
  { src = "plant/config.ini", dest = "/etc/app/config.ini", mode = "0640" },
]

[config]
user = "65534:65534"
"#,
        )
        .as_bytes(),
    );
    ok(dir.path(), &["build"]);
    import_db(dir.path());
    let (output, report) = check_json(dir.path(), "planted");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let gate = &report["gate"];
    assert_eq!(gate["verdict"], "deny");
    let results = audit_results(&report);
    let expect = |code: &str, item: &str, pci: &str| {
        let (status, items, ids, denied) = results
            .get(code)
            .unwrap_or_else(|| panic!("{code} missing: {results:#?}"));
        assert_eq!(status, "fail", "{code}: {items:?}");
        assert!(
            items.iter().any(|found| found == item),
            "{code}: {item} not in {items:?}"
        );
        assert!(
            ids.iter().any(|id| id == pci),
            "{code}: {pci} not in {ids:?}"
        );
        *denied
    };
    assert!(expect(
        "PCI-2.2.2-EMPTY-PASSWORD",
        "mallory (uid 1001): empty password field",
        "2.2.2"
    ));
    assert!(expect(
        "PCI-2.2.7-SSH-ROOT-LOGIN",
        "PermitRootLogin yes (global)",
        "2.2.7"
    ));
    assert!(expect(
        "PCI-2.2.4-INSECURE-SERVICE",
        "file /usr/sbin/in.telnetd",
        "2.2.4"
    ));
    expect(
        "PCI-2.2.4-INSECURE-SERVICE",
        "package telnetd 2:2.4-2+deb12u1",
        "2.2.5",
    );
    assert!(expect("PCI-2.2.6-WORLD-WRITABLE", "/etc/app.conf", "2.2.6"));
    // The sshd_config makes the sshd rules apply; its explicit `no` passes.
    assert_eq!(results["PCI-8.3.1-SSH-PASSWORD-AUTH"].0, "pass");
    assert_eq!(results["PCI-2.2.6-NON-ROOT-USER"].0, "pass");
    assert_eq!(results["PCI-6.3.2-BASE-PINNED"].0, "pass");
    // The card number and the AWS key by the card-number and secret scan.
    let findings: Vec<(String, String, Vec<String>)> = gate["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            (
                finding["code"].as_str().unwrap().to_string(),
                finding["location"]["path"].as_str().unwrap().to_string(),
                finding["pci"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|id| id.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    assert!(
        findings
            .iter()
            .any(|(code, path, pci)| code == "pan-detected"
                && path == "var/log/payments.log"
                && pci.contains(&"3.5.1".to_string())),
        "{findings:#?}"
    );
    assert!(
        findings
            .iter()
            .any(|(code, path, pci)| code == "secret-aws-access-key"
                && path == "etc/app/config.ini"
                && pci.contains(&"8.6.2".to_string())),
        "{findings:#?}"
    );
    // The verdict names the audit rule set next to the scan's rule set; counts add up.
    let audit_digest = gate["audit"]["ruleSet"]["digest"].as_str().unwrap();
    assert!(audit_digest.starts_with("sha256:"), "{audit_digest}");
    assert_ne!(gate["ruleSet"]["digest"].as_str().unwrap(), audit_digest);
    assert_eq!(
        gate["counts"]["audit-denied"].as_u64().unwrap(),
        results.values().filter(|result| result.3).count() as u64
    );
    // Nothing stamp printed holds the card number or the key in clear.
    for text in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(text);
        assert!(!text.contains(&pan) && !text.contains(&aws_key()));
    }

    // SARIF: audit rules with their PCI ids; failures are results of kind `fail`.
    let sarif = stamp(dir.path(), &["check", "planted", "--format", "sarif"], &[]);
    assert_eq!(sarif.status.code(), Some(1), "{}", describe(&sarif));
    let document: serde_json::Value = serde_json::from_slice(&sarif.stdout).unwrap();
    let run = &document["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let rule = rules
        .iter()
        .find(|rule| rule["id"] == "PCI-2.2.7-SSH-ROOT-LOGIN")
        .unwrap();
    assert_eq!(
        rule["properties"]["pci"],
        serde_json::json!(["2.2.6", "2.2.7", "8.2.2"])
    );
    let result = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|result| result["ruleId"] == "PCI-2.2.7-SSH-ROOT-LOGIN")
        .unwrap();
    assert_eq!(result["kind"], "fail");
    assert_eq!(result["level"], "error");
    // Passing and not-applicable rules are in the JSON verdict, not SARIF results.
    assert!(!run["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|result| result["ruleId"] == "PCI-6.3.2-BASE-PINNED"));
    assert_eq!(
        rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"],
        result["ruleId"]
    );
    // The table names the codes.
    let table = stamp(dir.path(), &["check", "planted"], &[]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("PCI-2.2.2-EMPTY-PASSWORD") && text.contains("deny"),
        "{text}"
    );

    // An approved exception lifts the world-writable finding by its code.
    ok(
        dir.path(),
        &["key", "new", "--name", "bob", "--role", "approver"],
    );
    let request = ok(
        dir.path(),
        &[
            "except",
            "PCI-2.2.6-WORLD-WRITABLE",
            "--image",
            "planted",
            "--reason",
            "shared config, ticket OPS-7",
            "--expires",
            "2099-12-31",
        ],
    );
    let id = String::from_utf8(request.stdout)
        .unwrap()
        .trim()
        .to_string();
    ok(dir.path(), &["except", "approve", &id, "--key", "bob"]);
    let (_, report) = check_json(dir.path(), "planted");
    let world = report["gate"]["audit"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|result| result["code"] == "PCI-2.2.6-WORLD-WRITABLE")
        .unwrap()
        .clone();
    assert_eq!(world["status"], "fail");
    assert_eq!(world["denied"], false);
    assert_eq!(world["exception"], id.as_str());
    assert!(report["gate"]["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|exception| exception["code"] == "PCI-2.2.6-WORLD-WRITABLE"));
}

#[test]
fn the_clean_bookworm_rootfs_fails_no_rule_for_a_component_it_lacks() {
    let (tree, tarball, sha256) = bookworm();
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("stamp.toml"),
        spec(&tarball, &sha256, "bookworm", "").as_bytes(),
    );
    ok(dir.path(), &["build"]);
    import_db(dir.path());
    let (output, report) = check_json(dir.path(), "bookworm");
    let results = audit_results(&report);
    let with = |status: &str| -> Vec<&str> {
        results
            .iter()
            .filter(|(_, result)| result.0 == status)
            .map(|(code, _)| code.as_str())
            .collect()
    };
    // No sshd in minbase: every sshd rule is not applicable, never failed.
    assert_eq!(
        with("not-applicable"),
        [
            "PCI-2.2.7-SSH-ROOT-LOGIN",
            "PCI-2.2.7-SSH-WEAK-CRYPTO",
            "PCI-8.2.8-SSH-IDLE-TIMEOUT",
            "PCI-8.3.1-SSH-EMPTY-PASSWORDS",
            "PCI-8.3.1-SSH-PASSWORD-AUTH",
        ]
    );
    // What a stock Debian image really lacks: hardening of PAM, limits and profile (medium),
    // and a non-root user (high, so the gate fails).
    assert_eq!(
        with("fail"),
        [
            "PCI-2.2.6-NON-ROOT-USER",
            "PCI-3.3.1-CORE-DUMPS",
            "PCI-8.2.8-SHELL-TIMEOUT",
            "PCI-8.3.4-LOCKOUT",
            "PCI-8.3.6-PASSWORD-LENGTH",
            "PCI-8.3.7-PASSWORD-HISTORY",
        ]
    );
    let denied: Vec<&str> = results
        .iter()
        .filter(|(_, result)| result.3)
        .map(|(code, _)| code.as_str())
        .collect();
    assert_eq!(denied, ["PCI-2.2.6-NON-ROOT-USER"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));

    // The same tree as a directory: no image config and no base, so those two do not apply.
    let output = stamp(
        dir.path(),
        &[
            "check",
            "--rootfs",
            tree.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}\n{}", describe(&output)));
    let results = audit_results(&report);
    assert_eq!(results["PCI-2.2.6-NON-ROOT-USER"].0, "not-applicable");
    assert_eq!(results["PCI-6.3.2-BASE-PINNED"].0, "not-applicable");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

/// A small scratch image that runs as root, with a `games` account.
fn scratch_project(dir: &Path, check: &str) {
    write(
        &dir.join("files/passwd"),
        b"root:x:0:0:root:/root:/usr/sbin/nologin\ngames:x:5:60:games:/usr/games:/usr/sbin/nologin\n",
    );
    write(
        &dir.join("stamp.toml"),
        format!(
            "[image]\nname = \"small\"\nsource_date_epoch = 1700000000\n\n[base]\nscratch = true\n\n\
             [[layers]]\nname = \"etc\"\nfiles = [{{ src = \"files/passwd\", dest = \"/etc/passwd\", mode = \"0644\" }},\n\
             {{ src = \"files/passwd\", dest = \"/etc/app.conf\", mode = \"0666\" }},\n\
             {{ src = \"files/passwd\", dest = \"/srv/open.conf\", mode = \"0666\" }}]\n\n\
             [[layers]]\nname = \"cleanup\"\nremove = [\"/etc/app.conf\"]\n\n\
             [config]\nuser = \"65534\"\n\n{check}"
        )
        .as_bytes(),
    );
    ok(dir, &["build"]);
    let npm = shared_oracles().join("../data/osv/npm");
    ok(dir, &["db", "import", npm.to_str().unwrap()]);
}

#[test]
fn user_rules_from_the_spec_join_the_gate_and_a_syntax_error_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("policy/games.rego"),
        br#"package stamp.rules.acme.no_games

metadata := {
	"code": "ACME-NO-GAMES",
	"title": "No games account",
	"severity": "high",
	"pci": ["2.2.2"],
	"remediation": "userdel games",
}

not_applicable := "no /etc/passwd" if not input.accounts.present

failures contains sprintf("%s (uid %d)", [user.name, user.uid]) if {
	some user in input.accounts.users
	user.name == "games"
}
"#,
    );
    scratch_project(dir.path(), "[check]\npolicies = \"policy\"\n");
    let (output, report) = check_json(dir.path(), "small");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let results = audit_results(&report);
    assert_eq!(
        results["ACME-NO-GAMES"],
        (
            "fail".to_string(),
            vec!["games (uid 5)".to_string()],
            vec!["2.2.2".to_string()],
            true
        )
    );
    assert!(report["gate"]["audit"]["userRules"]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    // The built-in rules see the same image: no PAM, no sshd, no packages.
    assert_eq!(results["PCI-8.3.6-PASSWORD-LENGTH"].0, "not-applicable");
    assert_eq!(results["PCI-2.2.4-INSECURE-SERVICE"].0, "not-applicable");
    assert_eq!(results["PCI-6.3.2-BASE-PINNED"].0, "pass");
    // Layers are merged: the file a later layer removed is not there.
    assert_eq!(
        results["PCI-2.2.6-WORLD-WRITABLE"].1,
        ["/srv/open.conf".to_string()]
    );

    // `audit_fail_on = "critical"`: the high finding warns, the gate passes.
    let spec = fs::read_to_string(dir.path().join("stamp.toml")).unwrap();
    fs::write(
        dir.path().join("stamp.toml"),
        spec.replace("[check]\n", "[check]\naudit_fail_on = \"critical\"\n"),
    )
    .unwrap();
    let (output, report) = check_json(dir.path(), "small");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(!audit_results(&report)["ACME-NO-GAMES"].3);

    // A Rego syntax error names the file and the line; the check stops.
    write(
        &dir.path().join("policy/broken.rego"),
        b"package stamp.rules.acme.broken\n\nmetadata := {\n\"code\": \"X\",\nfailures contains x if {\n",
    );
    let output = stamp(dir.path(), &["check", "small"], &[]);
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("policy/broken.rego:"), "{stderr}");
    assert!(stderr.contains("does not compile"), "{stderr}");

    // `--spec` names another stamp.toml; a missing one is an error naming it.
    let output = stamp(
        dir.path(),
        &["check", "small", "--spec", "missing/stamp.toml"],
        &[],
    );
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("missing/stamp.toml"),
        "{}",
        describe(&output)
    );
}

//! `stamp evidence` and `stamp verify` over a scripted history of more than a hundred events:
//! a real store (`stamp init`, `stamp build` of two small images, SBOMs, gates, approvals,
//! exceptions and log verifications run by the CLI at past dates under `faketime`), and the
//! events that need runc or weeks of time (deploys, instance starts and stops, drift runs,
//! rescans) appended with explicit past times through stamp-log with the store's log key, with
//! the kinds and detail fields the CLI writes. The history holds two deliberate violations: an
//! image with a critical vulnerability whose fix is 40 days old left running (6.3.3) and an
//! instance with no drift comparison for 10 days (11.5.2).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use stamp_core::event::{Event, EventKind, Origin, Outcome};
use stamp_log::{LogStore, NoteSigner, SqliteLog};
use time::{Duration, OffsetDateTime};

use crate::support::{describe, oracles_home, shared_oracles, stamp_binary};

const BUILDER: &str = "builder@example.com";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const DAVE: &str = "dave@example.com";
const AUDREY: &str = "audrey@example.com";

/// A store with the scripted history, and what the test needs to know about it.
struct Scripted {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
    now: OffsetDateTime,
    pan: String,
    v1: String,
    v2: String,
    /// Instance ids by role in the story.
    instance: BTreeMap<&'static str, String>,
    /// Log indexes of events the assertions must name.
    index: BTreeMap<&'static str, u64>,
}

/// Run `stamp ARGS` at `days_ago` days before now (under faketime), as the builder's user.
fn cli_at(dir: &Path, days_ago: f64, args: &[&str]) -> Output {
    let seconds = (days_ago * 86_400.0).round() as i64;
    let mut command = Command::new("faketime");
    command
        .current_dir(dir)
        .arg("-f")
        .arg(format!("-{seconds}"))
        .arg(stamp_binary())
        .args(args)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("STAMP_ACTOR", BUILDER)
        .env_remove("STAMP_HOME")
        .env_remove("STAMP_KEY")
        .env_remove("SOURCE_DATE_EPOCH");
    let output = command
        .output()
        .expect("faketime runs (Debian package `faketime`)");
    assert!(
        output.status.success(),
        "stamp {args:?} at -{days_ago}d\n{}",
        describe(&output)
    );
    output
}

/// Run `stamp ARGS` now.
fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(stamp_binary())
        .current_dir(dir)
        .args(args)
        .env("STAMP_ACTOR", BUILDER)
        .env_remove("STAMP_HOME")
        .env_remove("STAMP_KEY")
        .output()
        .expect("the stamp binary runs")
}

fn spec(dir: &Path, tag: &str, app: &str, pan: &str) {
    fs::write(dir.join("app.txt"), app).unwrap();
    fs::write(
        dir.join("cards.txt"),
        format!("# fixtures for the payment tests\ncard={pan}\n"),
    )
    .unwrap();
    fs::write(
        dir.join("stamp.toml"),
        format!(
            "[image]\nname = \"api\"\ntag = \"{tag}\"\nsource_date_epoch = 1700000000\n[base]\nscratch = true\n[[layers]]\nfiles = [{{ src = \"app.txt\", dest = \"/srv/app.txt\" }}, {{ src = \"cards.txt\", dest = \"/srv/fixtures/cards.txt\" }}]\n[config]\nuser = \"1000:1000\"\n"
        ),
    )
    .unwrap();
}

/// A published test card number from the shared oracles (a Mastercard with varied digits).
fn planted_pan() -> String {
    let listed = fs::read_to_string(shared_oracles().join("pan/test-card-numbers.tsv")).unwrap();
    let pan = listed
        .lines()
        .find(|line| line.starts_with("5200828282828210\t"))
        .expect("the oracle lists 5200828282828210")
        .split('\t')
        .next()
        .unwrap()
        .to_string();
    pan
}

/// One synthetic step: an event at a time, or a CLI command.
enum Step {
    Event {
        kind: EventKind,
        outcome: Outcome,
        actor: &'static str,
        subject: String,
        details: Value,
        name: Option<&'static str>,
    },
    Cli(Vec<String>),
}

fn event(kind: EventKind, actor: &'static str, subject: &str, details: Value) -> Step {
    Step::Event {
        kind,
        outcome: Outcome::Success,
        actor,
        subject: subject.to_string(),
        details,
        name: None,
    }
}

fn named(step: Step, label: &'static str) -> Step {
    match step {
        Step::Event {
            kind,
            outcome,
            actor,
            subject,
            details,
            ..
        } => Step::Event {
            kind,
            outcome,
            actor,
            subject,
            details,
            name: Some(label),
        },
        other => other,
    }
}

fn drift_details(image: &str, drifted: bool) -> Value {
    let mut details = json!({
        "drifted": drifted,
        "counts": if drifted { json!({"drift-modified": 1}) } else { json!({}) },
        "differences": if drifted { 1 } else { 0 },
        "differences_sha256": if drifted {
            "9f2c0c4bd1b4e0d58a3f8b0e7f1f6fb4d27c9ae3b3a0d8b8b0b1c8f3a4e5d6c7"
        } else {
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        },
        "excluded": ["/proc", "/dev", "/tmp"],
        "entries_checked": 6,
        "image": image,
        "env": "prod",
    });
    if drifted {
        details["quarantine"] =
            json!({"path": "quarantine/prod-a.tar", "sha256": "00", "size_bytes": 10240});
    }
    details
}

/// The events of the story that the CLI cannot write at a past date, and the CLI steps between
/// them, by days before now.
fn story(v1: &str, v2: &str, ids: &BTreeMap<&'static str, String>) -> Vec<(f64, Step)> {
    let (a, a2, b, c) = (&ids["a"], &ids["a2"], &ids["b"], &ids["c"]);
    let mut steps: Vec<(f64, Step)> = Vec::new();
    let start = |id: &str, image: &str, port: u16, replaces: Option<&str>| {
        let mut details = json!({"env": "prod", "image": image, "port": port, "endpoint": format!("http://127.0.0.1:{port}")});
        if let Some(replaces) = replaces {
            details["replaces"] = replaces.into();
        }
        event(EventKind::InstanceStart, DAVE, id, details)
    };
    let stop = |id: &str| event(EventKind::InstanceStop, DAVE, id, json!({"env": "prod"}));
    // v1 goes to prod with two instances.
    steps.push((60.0, named(start(a, v1, 8080, None), "start-a")));
    steps.push((59.999, start(b, v1, 8081, None)));
    steps.push((
        59.998,
        named(
            event(
                EventKind::Deploy,
                DAVE,
                v1,
                json!({"env": "prod", "image": v1, "instances": [a, b], "replaced": [], "rollback": false, "endpoints": ["http://127.0.0.1:8080", "http://127.0.0.1:8081"]}),
            ),
            "deploy-v1",
        ),
    ));
    // Drift comparisons: daily on instance a, every two days on b.
    let mut day = 59.0;
    while day >= 16.0 {
        steps.push((
            day - 0.1,
            event(EventKind::Drift, DAVE, a, drift_details(v1, false)),
        ));
        if day >= 35.0 && (day as u32) % 2 == 1 {
            steps.push((
                day - 0.11,
                event(EventKind::Drift, DAVE, b, drift_details(v1, false)),
            ));
        }
        day -= 1.0;
    }
    // Drift found in instance a: answered by a replacement from the same image.
    steps.push((
        15.0,
        named(
            event(EventKind::Drift, DAVE, a, drift_details(v1, true)),
            "drift-a",
        ),
    ));
    steps.push((14.99, named(start(a2, v1, 8082, Some(a)), "start-a2")));
    steps.push((14.98, stop(a)));
    let mut day = 13.0;
    while day >= 1.0 {
        steps.push((
            day - 0.1,
            event(EventKind::Drift, DAVE, a2, drift_details(v1, false)),
        ));
        day -= 2.0;
    }
    // v2 replaces instance b; instance a (and its replacement) keeps running v1.
    steps.push((34.0, named(start(c, v2, 8083, None), "start-c")));
    steps.push((33.999, stop(b)));
    steps.push((
        33.998,
        named(
            event(
                EventKind::Deploy,
                DAVE,
                v2,
                json!({"env": "prod", "image": v2, "instances": [c], "replaced": [b], "rollback": false, "endpoints": ["http://127.0.0.1:8083"], "previous": v1}),
            ),
            "deploy-v2",
        ),
    ));
    // Instance c: comparisons every two days, except ten days without one (25 → 15 days ago).
    for day in [
        33.0, 31.0, 29.0, 27.0, 25.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0,
    ] {
        let label = match day as u32 {
            25 => Some("drift-c-before-gap"),
            15 => Some("drift-c-after-gap"),
            _ => None,
        };
        let step = event(EventKind::Drift, DAVE, c, drift_details(v2, false));
        steps.push((
            day - 0.2,
            match label {
                Some(label) => named(step, label),
                None => step,
            },
        ));
    }
    // The missed comparison raised a control failure while it was overdue (drift --check-schedule).
    steps.push((
        17.0,
        named(
            Step::Event {
                kind: EventKind::ControlFailure,
                outcome: Outcome::Failure,
                actor: DAVE,
                subject: c.clone(),
                details: json!({"control": "change-detection-schedule", "pci": ["11.5.2", "10.7.2"], "command": "drift --check-schedule", "max_age_seconds": 604800, "overdue_seconds": 86400}),
                name: None,
            },
            "control-failure",
        ),
    ));
    // Weekly rescans of the running images, and what they found.
    for day in [58.0, 51.0, 44.0, 37.0, 30.0, 23.0, 16.0, 9.0, 2.0] {
        steps.push((day - 0.3, event(EventKind::Rescan, DAVE, v1, json!({"summary": true, "vulnerabilities": 0, "new": 0, "vulndb_digest": "sha256:7d", "vulndb_snapshot_time": "2026-01-01T00:00:00Z"}))));
        if day < 34.0 {
            steps.push((day - 0.31, event(EventKind::Rescan, DAVE, v2, json!({"summary": true, "vulnerabilities": 0, "new": 0, "vulndb_digest": "sha256:7d", "vulndb_snapshot_time": "2026-01-01T00:00:00Z"}))));
        }
    }
    let published = |days: f64| {
        stamp_evidence::time_text::format(
            OffsetDateTime::now_utc() - Duration::seconds_f64(days * 86_400.0),
        )
    };
    let finding = |id: &str, severity: &str, days_published: f64| json!({"id": id, "aliases": [format!("CVE-2026-{}", &id[4..])], "purl": "pkg:npm/left-pad@1.0.0", "installed_version": "1.0.0", "fixed_version": "1.0.1", "fix_exists": true, "severity": severity, "published": published(days_published), "modified": published(days_published), "vulndb_digest": "sha256:7d"});
    steps.push((
        50.0,
        event(
            EventKind::Rescan,
            DAVE,
            v1,
            finding("EVD-0003", "high", 52.0),
        ),
    ));
    steps.push((
        39.0,
        named(
            event(
                EventKind::Rescan,
                DAVE,
                v1,
                finding("EVD-0001", "critical", 40.0),
            ),
            "finding-v1",
        ),
    ));
    steps.push((
        9.0,
        event(
            EventKind::Rescan,
            DAVE,
            v2,
            finding("EVD-0002", "critical", 10.0),
        ),
    ));
    // Log verifications and an exception, by the CLI.
    for day in [45.0, 25.0, 5.0] {
        steps.push((day, Step::Cli(vec!["log".into(), "verify".into()])));
    }
    steps.sort_by(|x, y| y.0.partial_cmp(&x.0).unwrap());
    steps
}

fn append(home: &Path, at: OffsetDateTime, step: Step) -> (Option<&'static str>, u64) {
    let Step::Event {
        kind,
        outcome,
        actor,
        subject,
        details,
        name,
    } = step
    else {
        unreachable!()
    };
    let mut log = SqliteLog::open(&home.join("stamp.db")).unwrap();
    let signer = NoteSigner::read_file(&home.join("log.key")).unwrap();
    let event = Event::builder()
        .actor(actor)
        .kind(kind)
        .time(at)
        .outcome(outcome)
        .origin(Origin::new("ops-1", "stamp", 4242))
        .subject(subject)
        .details(details.as_object().unwrap().clone())
        .build()
        .unwrap();
    let receipt = log.append(&signer, std::slice::from_ref(&event)).unwrap();
    (name, receipt.first_index)
}

fn run_steps(scripted: &mut Scripted, steps: Vec<(f64, Step)>) {
    for (days_ago, step) in steps {
        match step {
            Step::Cli(args) => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                cli_at(&scripted.dir, days_ago, &args);
            }
            step => {
                let at = scripted.now - Duration::seconds_f64(days_ago * 86_400.0);
                let (name, index) = append(&scripted.home, at, step);
                if let Some(name) = name {
                    scripted.index.insert(name, index);
                }
            }
        }
    }
}

fn build_image(dir: &Path, days_ago: f64, tag: &str, app: &str, pan: &str) -> String {
    spec(dir, tag, app, pan);
    let built = cli_at(dir, days_ago, &["build", "--format", "json"]);
    let value: Value = serde_json::from_slice(&built.stdout).unwrap();
    let digest = value["digest"].as_str().unwrap().to_string();
    let reference = format!("api:{tag}");
    cli_at(
        dir,
        days_ago - 0.001,
        &["sbom", &reference, "--format", "cyclonedx", "--attach"],
    );
    cli_at(dir, days_ago - 0.002, &["check", &reference]);
    cli_at(
        dir,
        days_ago - 0.003,
        &["--key", ALICE, "approve", &reference, "--env", "prod"],
    );
    cli_at(
        dir,
        days_ago - 0.004,
        &["--key", BOB, "approve", &reference, "--env", "prod"],
    );
    digest
}

fn scripted() -> Scripted {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let pan = planted_pan();
    let mut scripted = Scripted {
        home: dir.join(".stamp"),
        dir: dir.clone(),
        _dir: temp,
        now: OffsetDateTime::now_utc(),
        pan: pan.clone(),
        v1: String::new(),
        v2: String::new(),
        instance: BTreeMap::new(),
        index: BTreeMap::new(),
    };
    // 70 days ago: the store, identities, the vulnerability data and image v1.
    cli_at(&dir, 70.0, &["init"]);
    spec(&dir, "1.0.0", "v1\n", &pan);
    cli_at(&dir, 70.0, &["build"]);
    for (name, role) in [
        (ALICE, "approver"),
        (BOB, "approver"),
        (DAVE, "deployer"),
        (AUDREY, "auditor"),
    ] {
        cli_at(&dir, 69.9, &["key", "new", "--name", name, "--role", role]);
    }
    let npm = shared_oracles().join("../data/osv/npm");
    cli_at(&dir, 69.8, &["db", "import", npm.to_str().unwrap()]);
    scripted.v1 = build_image(&dir, 69.7, "1.0.0", "v1\n", &pan);
    let v1_hex = scripted.v1.trim_start_matches("sha256:")[..8].to_string();
    for (role, suffix) in [("a", "h1-0"), ("b", "h1-1"), ("a2", "h2-0")] {
        scripted
            .instance
            .insert(role, format!("prod-{v1_hex}-{suffix}"));
    }
    scripted.instance.insert("c", "prod-v2pending-h3-0".into());
    let placeholder = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let early: Vec<(f64, Step)> = story(&scripted.v1, placeholder, &scripted.instance)
        .into_iter()
        .filter(|(days, _)| *days > 35.5)
        .collect();
    run_steps(&mut scripted, early);
    // 35 days ago: v2, the fixed image, goes through build, SBOM, gate and approvals.
    scripted.v2 = build_image(&dir, 35.0, "1.1.0", "v2\n", &pan);
    let v2_hex = scripted.v2.trim_start_matches("sha256:")[..8].to_string();
    scripted.instance.insert("c", format!("prod-{v2_hex}-h3-0"));
    // An exception: requested by the builder, approved by another identity.
    let requested = cli_at(
        &dir,
        30.0,
        &[
            "except",
            "pan-test-number",
            "--image",
            &scripted.v2,
            "--reason",
            "published test card numbers in the payment fixtures",
            "--expires",
            &stamp_evidence::time_text::format(scripted.now + Duration::days(30))[..10],
            "--format",
            "json",
        ],
    );
    let id = serde_json::from_slice::<Value>(&requested.stdout).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    cli_at(&dir, 29.9, &["--key", ALICE, "except", "approve", &id]);
    let late: Vec<(f64, Step)> = story(&scripted.v1, &scripted.v2, &scripted.instance)
        .into_iter()
        .filter(|(days, _)| *days < 35.5)
        .collect();
    run_steps(&mut scripted, late);
    scripted
}

impl Scripted {
    fn period(&self) -> (String, String) {
        let from = stamp_evidence::time_text::format(self.now - Duration::days(61));
        let to = stamp_evidence::time_text::format(self.now);
        (from[..10].to_string(), to[..10].to_string())
    }

    fn export(&self, output: &Path) -> Output {
        let (from, to) = self.period();
        let output = cli(
            &self.dir,
            &[
                "--key",
                AUDREY,
                "evidence",
                "--env",
                "prod",
                "--from",
                &from,
                "--to",
                &to,
                "-o",
                output.to_str().unwrap(),
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        output
    }

    fn verify(&self, pack: &Path) -> Output {
        Command::new(stamp_binary())
            .current_dir(&self.dir)
            .args([
                "verify",
                pack.to_str().unwrap(),
                "--trust",
                self.home.to_str().unwrap(),
            ])
            .env_remove("STAMP_HOME")
            .output()
            .unwrap()
    }
}

fn requirement<'a>(evidence: &'a Value, id: &str) -> &'a Value {
    evidence["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|requirement| requirement["id"] == id)
        .unwrap_or_else(|| panic!("no requirement {id}"))
}

fn indexes(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|index| index.as_u64().unwrap())
        .collect()
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_below(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn tlogverify(subcommand: &str, input: &Value) -> (i32, String) {
    let binary = oracles_home().join("bin/tlogverify");
    let mut child = Command::new(&binary)
        .arg(subcommand)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "{}: {error}; run ../shared/oracles/setup.sh",
                binary.display()
            )
        });
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (output.status.code().unwrap_or(-1), describe(&output))
}

#[test]
fn evidence_pack_of_a_scripted_history_verifies_and_names_exactly_the_violations() {
    let scripted = scripted();
    let pack = scripted.dir.join("pack");
    let exported = scripted.export(&pack);
    let evidence: Value =
        serde_json::from_slice(&fs::read(pack.join("evidence.json")).unwrap()).unwrap();

    // At least a hundred events in the period, all in the pack with their proofs.
    assert!(
        evidence["summary"]["events"].as_u64().unwrap() >= 100,
        "{:#}",
        evidence["summary"]
    );
    let lines = fs::read_to_string(pack.join("log/events.jsonl")).unwrap();
    assert!(lines.lines().count() >= 100);

    // Exactly the two violations are not met, naming the events that break them.
    let not_met: Vec<&str> = evidence["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|requirement| requirement["status"] == "not-met")
        .map(|requirement| requirement["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        not_met,
        ["6.3.3", "11.5.2"],
        "{:#}",
        evidence["requirements"]
    );
    let patching = requirement(&evidence, "6.3.3");
    assert_eq!(
        indexes(&patching["offending"]),
        [scripted.index["finding-v1"], scripted.index["start-a2"]],
        "{patching:#}"
    );
    assert!(
        patching["detail"].as_str().unwrap().contains("EVD-0001"),
        "{patching:#}"
    );
    let drift = requirement(&evidence, "11.5.2");
    assert_eq!(
        indexes(&drift["offending"]),
        [
            scripted.index["drift-c-before-gap"],
            scripted.index["drift-c-after-gap"]
        ],
        "{drift:#}"
    );
    assert!(
        drift["detail"]
            .as_str()
            .unwrap()
            .contains(&scripted.instance["c"]),
        "{drift:#}"
    );
    for id in [
        "3.5.1", "6.2.3.1", "6.3.2", "6.5.1", "6.5.4", "10.2.1.3", "10.2.2", "10.3.4", "10.5.1",
        "10.7.2", "12.5.1",
    ] {
        let requirement = requirement(&evidence, id);
        assert_eq!(requirement["status"], "met", "{requirement:#}");
        assert!(
            !requirement["events"].as_array().unwrap().is_empty(),
            "{requirement:#}"
        );
        assert!(requirement["offending"].as_array().unwrap().is_empty());
    }
    for id in ["3.2.1", "6.4.2", "11.3.2", "12.10.1"] {
        assert_eq!(requirement(&evidence, id)["status"], "not-covered");
    }
    let deploys = &requirement(&evidence, "6.5.1")["events"];
    assert!(indexes(deploys).contains(&scripted.index["deploy-v1"]));
    assert!(indexes(deploys).contains(&scripted.index["deploy-v2"]));
    assert!(indexes(&requirement(&evidence, "10.7.2")["events"])
        .contains(&scripted.index["control-failure"]));

    // The latency table: the fix of EVD-0001 was built and deployed, yet v1 still runs.
    let rows = evidence["patchLatency"].as_array().unwrap();
    let row = rows
        .iter()
        .find(|row| row["advisory"] == "EVD-0001")
        .unwrap();
    assert_eq!(row["image"], scripted.v1.as_str());
    assert_eq!(row["withinLimit"], false);
    assert!(
        row["fixedImageBuilt"].is_string() && row["deployed"].is_string(),
        "{row:#}"
    );
    assert!(row["lastVulnerableStopped"].is_null());
    assert!(row["days"].as_f64().unwrap() >= 40.0);
    let row = rows
        .iter()
        .find(|row| row["advisory"] == "EVD-0002")
        .unwrap();
    assert_eq!(row["withinLimit"], true);
    assert!(
        !rows.iter().any(|row| row["advisory"] == "EVD-0003"),
        "high findings are not in the 6.3.3 table"
    );
    assert_eq!(evidence["exceptions"].as_array().unwrap().len(), 1);
    assert_eq!(evidence["exceptions"][0]["approvedBy"], ALICE);
    let instances = evidence["inventory"]["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 4);
    assert_eq!(evidence["log"]["retention"]["wholeLife"], true);
    assert!(evidence["driftRuns"].as_array().unwrap().len() >= 9);

    // The pack verifies offline with the store's public keys, and the export is its last event.
    let verified = scripted.verify(&pack);
    assert_eq!(verified.status.code(), Some(0), "{}", describe(&verified));
    let last: Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    assert_eq!(last["leaf"]["kind"], "evidence.export");
    assert_eq!(last["leaf"]["actor"], AUDREY);
    assert_eq!(
        last["index"].as_u64().unwrap() + 1,
        evidence["log"]["treeSize"].as_u64().unwrap()
    );

    // The independent checker accepts the checkpoints and every proof.
    let verifier_key = fs::read_to_string(pack.join("keys/log.pub"))
        .unwrap()
        .trim()
        .to_string();
    let origin = evidence["log"]["origin"].as_str().unwrap().to_string();
    let inclusion: Vec<Value> = fs::read_to_string(pack.join("log/inclusion-proofs.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let consistency: Vec<Value> = fs::read_to_string(pack.join("log/consistency-proofs.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        consistency.len() >= 8,
        "weekly checkpoints of a 61-day period"
    );
    let request = json!({
        "note": fs::read_to_string(pack.join("log/checkpoint.txt")).unwrap(),
        "verifier_keys": [verifier_key],
        "expect_origin": origin,
        "inclusion": inclusion,
        "consistency": consistency,
    });
    let (code, text) = tlogverify("verify", &request);
    assert_eq!(code, 0, "{text}");
    for path in files_below(&pack.join("log/checkpoints")) {
        let (code, text) = tlogverify(
            "note",
            &json!({"note": fs::read_to_string(&path).unwrap(), "verifier_keys": [verifier_key], "expect_origin": origin}),
        );
        assert_eq!(code, 0, "{}: {text}", path.display());
    }
    let mut wrong = request.clone();
    wrong["inclusion"][3]["leaf_hash"] = wrong["inclusion"][4]["leaf_hash"].clone();
    assert_eq!(tlogverify("verify", &wrong).0, 1);

    // The planted card number is nowhere in the pack, nor in what stamp printed.
    let mut scanned = 0;
    for path in files_below(&pack) {
        let bytes = fs::read(&path).unwrap();
        assert!(
            !contains(&bytes, &scripted.pan),
            "{} holds the card number",
            path.display()
        );
        scanned += 1;
    }
    assert!(scanned > 10);
    for output in [&exported, &verified] {
        assert!(
            !contains(&output.stdout, &scripted.pan) && !contains(&output.stderr, &scripted.pan)
        );
    }
    // The gates did see it (as a published test number), so the check above is not vacuous.
    let seen = lines
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["leaf"]["kind"] == "gate")
        .filter(|line| line["leaf"]["details"]["counts"]["pan-test-number"].as_u64() >= Some(1))
        .count();
    assert_eq!(seen, 2, "both images' gates found the planted test number");
    assert_eq!(fs::read_dir(pack.join("attestations")).unwrap().count(), 2);

    // The same pack as a .tar.gz verifies too.
    let archive = scripted.dir.join("pack.tar.gz");
    scripted.export(&archive);
    let verified = scripted.verify(&archive);
    assert_eq!(verified.status.code(), Some(0), "{}", describe(&verified));
}

/// Re-sign `pack`'s SHA256SUMS as the auditor, as someone holding the exporting key would.
fn resign(scripted: &Scripted, pack: &Path) {
    let mut files = stamp_evidence::pack::Pack::read(pack).unwrap();
    files.files.remove("SHA256SUMS");
    files.files.remove("pack.sig.json");
    let sums = files.sums();
    let key = stamp_attest::IdentityKey::read_file(
        &scripted.home.join(format!("keys/{AUDREY}.pem")),
        None,
    )
    .unwrap();
    let envelope = stamp_attest::Envelope::sign(
        stamp_evidence::PAYLOAD_TYPE_SUMS,
        &sums,
        key.signing_key(),
        key.key_id(),
    );
    fs::write(pack.join("SHA256SUMS"), sums).unwrap();
    fs::write(pack.join("pack.sig.json"), envelope.to_json_bytes()).unwrap();
}

fn copy_pack(from: &Path, to: &Path) {
    for path in files_below(from) {
        let target = to.join(path.strip_prefix(from).unwrap());
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(&path, &target).unwrap();
    }
}

fn failures(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn tampering_with_any_file_removing_or_reordering_events_or_swapping_a_key_fails_by_name() {
    let scripted = scripted();
    let pack = scripted.dir.join("pack");
    scripted.export(&pack);
    assert_eq!(scripted.verify(&pack).status.code(), Some(0));

    // One changed byte in any file names that file.
    for path in files_below(&pack) {
        let relative = path
            .strip_prefix(&pack)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let copy = scripted.dir.join("tampered");
        let _ = fs::remove_dir_all(&copy);
        copy_pack(&pack, &copy);
        let target = copy.join(&relative);
        let mut bytes = fs::read(&target).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        fs::write(&target, bytes).unwrap();
        let output = scripted.verify(&copy);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{relative}\n{}",
            describe(&output)
        );
        let text = failures(&output);
        let named = match relative.as_str() {
            // A changed sums file no longer matches the signature (and a changed line names
            // the file it lists).
            "SHA256SUMS" => text.contains("pack.sig.json"),
            _ => text.contains(&relative),
        };
        assert!(named, "{relative} not named:\n{text}");
    }

    let events = fs::read_to_string(pack.join("log/events.jsonl")).unwrap();
    let lines: Vec<&str> = events.lines().collect();
    let removed_at = lines.len() - 20;
    let removed: Value = serde_json::from_str(lines[removed_at]).unwrap();

    // Removing an event (and re-signing the sums with the exporting key) names the gap.
    let copy = scripted.dir.join("removed");
    copy_pack(&pack, &copy);
    let mut kept = lines.clone();
    kept.remove(removed_at);
    fs::write(copy.join("log/events.jsonl"), kept.join("\n") + "\n").unwrap();
    resign(&scripted, &copy);
    let output = scripted.verify(&copy);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        failures(&output).contains(&format!(
            "event-missing          log index {}",
            removed["index"]
        )),
        "{}",
        describe(&output)
    );

    // Reordering two events: moved lines are out of log order; swapped contents fail their
    // inclusion proofs.
    let copy = scripted.dir.join("reordered");
    copy_pack(&pack, &copy);
    let mut moved = lines.clone();
    moved.swap(removed_at, removed_at + 1);
    fs::write(copy.join("log/events.jsonl"), moved.join("\n") + "\n").unwrap();
    resign(&scripted, &copy);
    let output = scripted.verify(&copy);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        failures(&output).contains("events-order"),
        "{}",
        describe(&output)
    );

    let copy = scripted.dir.join("swapped");
    copy_pack(&pack, &copy);
    let first: Value = serde_json::from_str(lines[removed_at]).unwrap();
    let second: Value = serde_json::from_str(lines[removed_at + 1]).unwrap();
    let leaf = |line: &str| line.split_once(",\"leaf\":").unwrap().1.to_string();
    let mut swapped = lines
        .iter()
        .map(|line| line.to_string())
        .collect::<Vec<_>>();
    swapped[removed_at] = format!(
        "{{\"index\":{},\"leaf\":{}",
        first["index"],
        leaf(lines[removed_at + 1])
    );
    swapped[removed_at + 1] = format!(
        "{{\"index\":{},\"leaf\":{}",
        second["index"],
        leaf(lines[removed_at])
    );
    fs::write(copy.join("log/events.jsonl"), swapped.join("\n") + "\n").unwrap();
    resign(&scripted, &copy);
    let output = scripted.verify(&copy);
    assert_eq!(output.status.code(), Some(1));
    let text = failures(&output);
    for index in [&first["index"], &second["index"]] {
        assert!(
            text.contains(&format!("log index {index}:")),
            "{index} not named:\n{text}"
        );
    }

    // Swapping a public key in the pack's trust file names the identity.
    let copy = scripted.dir.join("key-swapped");
    copy_pack(&pack, &copy);
    let trust = fs::read_to_string(copy.join("keys/trust.toml")).unwrap();
    let other = stamp_attest::IdentityKey::generate();
    let alice_key = stamp_attest::IdentityKey::read_file(
        &scripted.home.join(format!("keys/{ALICE}.pem")),
        None,
    )
    .unwrap();
    let swapped_trust = trust
        .replace(
            alice_key.public().to_pem().trim(),
            other.public().to_pem().trim(),
        )
        .replace(alice_key.key_id(), other.key_id());
    assert_ne!(trust, swapped_trust);
    fs::write(copy.join("keys/trust.toml"), swapped_trust).unwrap();
    resign(&scripted, &copy);
    let output = scripted.verify(&copy);
    assert_eq!(output.status.code(), Some(1));
    let text = failures(&output);
    assert!(
        text.contains("trust-key-swapped") && text.contains(ALICE),
        "{text}"
    );

    // The report people read is checked against evidence.json too.
    let copy = scripted.dir.join("report-edited");
    copy_pack(&pack, &copy);
    let html = fs::read_to_string(copy.join("index.html")).unwrap();
    let edited = html.replacen("Not met", "Met", 1);
    assert_ne!(html, edited);
    fs::write(copy.join("index.html"), edited).unwrap();
    resign(&scripted, &copy);
    let output = scripted.verify(&copy);
    assert_eq!(output.status.code(), Some(1));
    let text = failures(&output);
    assert!(
        text.contains("report-differs") && text.contains("index.html"),
        "{text}"
    );

    // A status edited in evidence.json (and re-signed) does not recompute from the events.
    let copy = scripted.dir.join("status-edited");
    copy_pack(&pack, &copy);
    let mut evidence: Value =
        serde_json::from_slice(&fs::read(copy.join("evidence.json")).unwrap()).unwrap();
    for requirement in evidence["requirements"].as_array_mut().unwrap() {
        if requirement["id"] == "11.5.2" {
            requirement["status"] = "met".into();
            requirement["offending"] = json!([]);
        }
    }
    fs::write(
        copy.join("evidence.json"),
        serde_json::to_vec_pretty(&evidence).unwrap(),
    )
    .unwrap();
    resign(&scripted, &copy);
    let output = scripted.verify(&copy);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        failures(&output).contains("requirement 11.5.2"),
        "{}",
        describe(&output)
    );

    // The JSON report names the same failure.
    let output = Command::new(stamp_binary())
        .args([
            "verify",
            copy.to_str().unwrap(),
            "--trust",
            scripted.home.join("trust.toml").to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert!(report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .any(|failure| failure["code"] == "requirement-differs"
            && failure["place"] == "requirement 11.5.2"));
}

#[test]
fn bad_periods_outputs_and_keys_are_usage_errors_and_record_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let init = cli(dir, &["init"]);
    assert!(init.status.success(), "{}", describe(&init));
    let key = cli(dir, &["key", "new", "--name", AUDREY, "--role", "auditor"]);
    assert!(key.status.success(), "{}", describe(&key));
    let count = || {
        let log = SqliteLog::open(&dir.join(".stamp/stamp.db")).unwrap();
        log.size().unwrap()
    };
    let before = count();
    fs::create_dir_all(dir.join("full")).unwrap();
    fs::write(dir.join("full/x"), "x").unwrap();
    for args in [
        vec![
            "evidence",
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-01",
            "-o",
            "p",
        ],
        vec![
            "evidence",
            "--from",
            "last week",
            "--to",
            "2026-01-01",
            "-o",
            "p",
        ],
        vec![
            "evidence",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "-o",
            "full",
        ],
        vec![
            "evidence",
            "--env",
            "nowhere",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "-o",
            "p",
        ],
    ] {
        let output = cli(dir, &args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}\n{}",
            describe(&output)
        );
        assert!(String::from_utf8_lossy(&output.stderr).starts_with("error:"));
    }
    assert_eq!(count(), before, "a refused export records nothing");
    assert!(!dir.join("p").exists());

    let exported = cli(
        dir,
        &[
            "--key",
            AUDREY,
            "evidence",
            "--from",
            "2026-01-01",
            "--to",
            "2026-12-31",
            "-o",
            "p",
        ],
    );
    assert_eq!(exported.status.code(), Some(0), "{}", describe(&exported));
    assert_eq!(count(), before + 1, "the export is one event");
    let missing = cli(dir, &["verify", "p", "--trust", "nowhere"]);
    assert_eq!(missing.status.code(), Some(2), "{}", describe(&missing));
    let not_a_pack = dir.join("junk.tar.gz");
    fs::write(&not_a_pack, b"not gzip").unwrap();
    let junk = cli(
        dir,
        &["verify", not_a_pack.to_str().unwrap(), "--trust", ".stamp"],
    );
    assert_eq!(junk.status.code(), Some(1), "{}", describe(&junk));
    let ok = cli(dir, &["verify", "p", "--trust", ".stamp/trust.toml"]);
    assert_eq!(ok.status.code(), Some(0), "{}", describe(&ok));
}

/// A Luhn-valid Visa number that is not a published test number, made at run time.
fn unpublished_pan() -> String {
    let payload = "453201511283036";
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(position, digit)| {
            let value = u32::from(digit - b'0');
            match position % 2 {
                0 if value * 2 > 9 => value * 2 - 9,
                0 => value * 2,
                _ => value,
            }
        })
        .sum();
    let pan = format!("{payload}{}", (10 - sum % 10) % 10);
    let listed = fs::read_to_string(shared_oracles().join("pan/test-card-numbers.tsv")).unwrap();
    assert!(!listed.contains(&pan));
    pan
}

#[test]
fn a_card_number_typed_into_free_text_is_masked_in_the_log_and_never_reaches_a_pack() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    assert!(cli(dir, &["init"]).status.success());
    assert!(
        cli(dir, &["key", "new", "--name", AUDREY, "--role", "auditor"])
            .status
            .success()
    );
    let pan = unpublished_pan();
    let masked = format!("{}******{}", &pan[..6], &pan[12..]);
    let reason = format!("card {pan} seen in the fixtures");
    let requested = cli(
        dir,
        &[
            "--key",
            AUDREY,
            "except",
            "pan-detected",
            "--package",
            "left-pad",
            "--reason",
            &reason,
            "--expires",
            "2099-12-31",
        ],
    );
    assert!(requested.status.success(), "{}", describe(&requested));
    // The recorder masked it before writing: no byte of the store holds the number.
    for file in files_below(&dir.join(".stamp")) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, &pan),
            "{} holds the card number",
            file.display()
        );
    }
    let log = SqliteLog::open(&dir.join(".stamp/stamp.db")).unwrap();
    let last = log.read_entry(log.size().unwrap() - 1).unwrap();
    drop(log);
    assert!(
        contains(&last.bytes, &masked),
        "{}",
        String::from_utf8_lossy(&last.bytes)
    );
    let output = cli(
        dir,
        &[
            "--key",
            AUDREY,
            "evidence",
            "--from",
            "2026-01-01",
            "--to",
            "2099-12-31",
            "-o",
            "p",
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    for file in files_below(&dir.join("p")) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, &pan),
            "{} holds the card number",
            file.display()
        );
    }

    // A log written by something other than this stamp (an older version, another tool with
    // the log key) may still hold one: the export refuses rather than copy it into a pack.
    let home = dir.join(".stamp");
    let mut details = serde_json::Map::new();
    details.insert("reason".into(), Value::from(reason.clone()));
    let mut log = SqliteLog::open(&home.join("stamp.db")).unwrap();
    let signer = NoteSigner::read_file(&home.join("log.key")).unwrap();
    let event = Event::builder()
        .actor(AUDREY)
        .kind(EventKind::Exception)
        .time(OffsetDateTime::now_utc())
        .outcome(Outcome::Success)
        .origin(Origin::new("ops-1", "older-stamp", 4242))
        .subject("left-pad")
        .details(details)
        .build()
        .unwrap();
    log.append(&signer, std::slice::from_ref(&event)).unwrap();
    drop(log);
    let output = cli(
        dir,
        &[
            "--key",
            AUDREY,
            "evidence",
            "--from",
            "2026-01-01",
            "--to",
            "2099-12-31",
            "-o",
            "q",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&masked), "{stderr}");
    assert!(!contains(&output.stdout, &pan) && !contains(&output.stderr, &pan));
    assert!(!dir.join("q").exists(), "no pack is written");
    // The refusal is logged, masked.
    let log = SqliteLog::open(&home.join("stamp.db")).unwrap();
    let last = log.read_entry(log.size().unwrap() - 1).unwrap();
    let event = Event::from_canonical_bytes(&last.bytes).unwrap();
    assert_eq!(event.kind(), EventKind::EvidenceExport);
    assert_eq!(event.outcome(), Outcome::Failure);
    assert!(!contains(&last.bytes, &pan));
}

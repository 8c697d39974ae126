//! Crash safety and multi-process appends, with this test binary re-executing itself as the
//! appending child (`--exact process::child --ignored`, switched on by environment variables).

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand_core::RngCore as _;
use stamp_log::{Hash, LogStore, NoteSigner, SqliteLog};

use crate::support::{new_log, note_event, Rng};

const CHILD_MODE: &str = "STAMP_LOG_TEST_CHILD_MODE";
const CHILD_DATABASE: &str = "STAMP_LOG_TEST_CHILD_DATABASE";
const CHILD_KEY: &str = "STAMP_LOG_TEST_CHILD_KEY";
const CHILD_LABEL: &str = "STAMP_LOG_TEST_CHILD_LABEL";
const CHILD_COUNT: &str = "STAMP_LOG_TEST_CHILD_COUNT";
const CHILD_START_AT_MS: &str = "STAMP_LOG_TEST_CHILD_START_AT_MS";

/// Kills in the crash test.
const KILLS: u64 = 200;
/// Longest time a crash-test child runs before it is killed, in milliseconds.
const KILL_AFTER_MS_MAX: u64 = 40;
/// Single-event appends made by each of the two concurrent writers.
const CONCURRENT_APPENDS: u64 = 150;
/// A child stops by itself after this long, in case its parent is gone.
const CHILD_LIFETIME_MAX: Duration = Duration::from_secs(60);

/// The appending child. Does nothing unless started by one of the tests below.
#[test]
#[ignore = "child process of the crash and concurrency tests"]
fn child() {
    let (Ok(mode), Some(database), Some(key), Ok(label)) = (
        std::env::var(CHILD_MODE),
        std::env::var_os(CHILD_DATABASE),
        std::env::var_os(CHILD_KEY),
        std::env::var(CHILD_LABEL),
    ) else {
        return;
    };
    let signer = NoteSigner::read_file(Path::new(&key)).expect("child loads the log key");
    let mut log = SqliteLog::open(Path::new(&database)).expect("child opens the log");
    if let Some(start_at) = std::env::var(CHILD_START_AT_MS)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
    {
        // Both concurrent writers begin at the same wall-clock moment.
        let wait = start_at.saturating_sub(unix_ms());
        std::thread::sleep(Duration::from_millis(wait.min(5_000)));
    }
    let started = Instant::now();
    let mut stdout = std::io::stdout().lock();
    let mut rng = Rng(u64::from(std::process::id()));
    let mut sequence = 0u64;
    let count: u64 = std::env::var(CHILD_COUNT)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(u64::MAX);
    while sequence < count && started.elapsed() < CHILD_LIFETIME_MAX {
        let batch = if mode == "crash" {
            rng.between(1, 8)
        } else {
            1
        };
        let events: Vec<_> = (sequence..sequence + batch)
            .map(|n| note_event(&label, n))
            .collect();
        let receipt = log.append(&signer, &events).expect("child append");
        // Acknowledged: durable before this line is printed.
        writeln!(
            stdout,
            "ACK {} {} {}",
            receipt.first_index,
            receipt.size,
            receipt.root.to_hex()
        )
        .and_then(|()| stdout.flush())
        .expect("child writes ack");
        sequence += batch;
        if mode == "concurrent" {
            // Give the other writer a chance to take the write lock in between.
            std::thread::sleep(Duration::from_micros(rng.between(0, 1500)));
        }
    }
    if mode == "concurrent" {
        // Wait for the other writer, then report the history this process sees.
        let total = 2 * count;
        while log.size().expect("size") < total && started.elapsed() < CHILD_LIFETIME_MAX {
            std::thread::sleep(Duration::from_millis(5));
        }
        let root = log.tree_hash(total).expect("root");
        writeln!(stdout, "FINAL {total} {}", root.to_hex()).expect("child writes final");
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// One acknowledged append: entries `first..size`, tree hash `root` at `size`.
#[derive(Debug)]
struct Ack {
    first: u64,
    size: u64,
    root: Hash,
}

fn spawn_child(
    mode: &str,
    database: &Path,
    key: &Path,
    label: &str,
    count: Option<u64>,
    start_at_ms: Option<u64>,
) -> Child {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args([
            "--exact",
            "process::child",
            "--nocapture",
            "--ignored",
            "--test-threads",
            "1",
        ])
        .env(CHILD_MODE, mode)
        .env(CHILD_DATABASE, database)
        .env(CHILD_KEY, key)
        .env(CHILD_LABEL, label)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(count) = count {
        command.env(CHILD_COUNT, count.to_string());
    }
    if let Some(start_at_ms) = start_at_ms {
        command.env(CHILD_START_AT_MS, start_at_ms.to_string());
    }
    command.spawn().expect("spawn child")
}

/// Parse `ACK first size root` and `FINAL size root` lines from a child's stdout.
fn read_child(child: &mut Child) -> (Vec<Ack>, Option<(u64, Hash)>) {
    let stdout = child.stdout.take().expect("child stdout");
    let mut acks = Vec::new();
    let mut last = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        // libtest may print `test process::child ... ` on the same line as the first ack.
        let start = ["ACK ", "FINAL "]
            .iter()
            .filter_map(|tag| line.find(tag))
            .min()
            .unwrap_or(0);
        let fields: Vec<&str> = line[start..].split(' ').collect();
        match fields.as_slice() {
            ["ACK", first, size, root] => acks.push(Ack {
                first: first.parse().expect("first"),
                size: size.parse().expect("size"),
                root: Hash::from_hex(root).expect("root"),
            }),
            ["FINAL", size, root] => {
                last = Some((
                    size.parse().expect("size"),
                    Hash::from_hex(root).expect("root"),
                ));
            }
            _ => {}
        }
    }
    (acks, last)
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, NoteSigner) {
    let directory = tempfile::tempdir().expect("temp dir");
    let (log, signer) = new_log(directory.path());
    let database = log.path().to_path_buf();
    drop(log);
    let key = directory.path().join("log.key");
    signer.write_new_file(&key).expect("write key file");
    (directory, database, key, signer)
}

/// Every acknowledged entry is present, written by the run that acknowledged it, and every
/// root a writer was told is the tree hash of the current log at that size.
fn check_acks(log: &SqliteLog, acks: &[(String, Ack)]) {
    let size = log.size().expect("size");
    for (label, ack) in acks {
        assert!(
            ack.size <= size,
            "acknowledged size {} but the log has {size}",
            ack.size
        );
        assert_eq!(
            log.tree_hash(ack.size).expect("root"),
            ack.root,
            "history forked at {}",
            ack.size
        );
        for index in ack.first..ack.size {
            let event = log.read_event(index).expect("acknowledged entry readable");
            assert!(
                event.subject().starts_with(&format!("{label}-")),
                "entry {index} was acknowledged to {label} but holds {}",
                event.subject()
            );
        }
    }
}

#[test]
fn sigkill_during_appends_never_loses_an_acknowledged_entry() {
    let (_directory, database, key, signer) = setup();
    let seed = rand_core::OsRng.next_u64();
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let mut all_acks: Vec<(String, Ack)> = Vec::new();
    let mut runs_with_acks = 0;
    for run in 0..KILLS {
        let label = format!("crash-{run}");
        let mut child = spawn_child("crash", &database, &key, &label, None, None);
        std::thread::sleep(Duration::from_millis(rng.between(0, KILL_AFTER_MS_MAX)));
        child.kill().expect("SIGKILL the child");
        child.wait().expect("reap the child");
        let (acks, _) = read_child(&mut child);
        if !acks.is_empty() {
            runs_with_acks += 1;
        }
        let log = SqliteLog::open(&database).expect("log opens after a kill");
        let run_acks: Vec<(String, Ack)> =
            acks.into_iter().map(|ack| (label.clone(), ack)).collect();
        check_acks(&log, &run_acks);
        all_acks.extend(run_acks);
        if run % 25 == 24 {
            let report = log.verify(&signer.verifier()).expect("verify runs");
            assert!(report.is_ok(), "after kill {run}: {:?}", report.problem);
        }
    }
    let log = SqliteLog::open(&database).expect("open");
    let report = log.verify(&signer.verifier()).expect("verify runs");
    assert!(report.is_ok(), "{:?}", report.problem);
    check_acks(&log, &all_acks);
    assert!(
        runs_with_acks > KILLS / 4,
        "only {runs_with_acks} children got to append before the kill"
    );
    eprintln!(
        "{KILLS} kills, {runs_with_acks} with acknowledged appends, {} entries, {} checkpoints",
        report.entries, report.checkpoints
    );
}

#[test]
fn two_processes_appending_at_once_make_one_history() {
    let (_directory, database, key, signer) = setup();
    // Both children wait for this moment, so a slow start of one (a loaded CI machine) cannot
    // let the other finish alone.
    let start_at_ms = unix_ms() + 2_000;
    let mut writers: Vec<(String, Child)> = ["writer-a", "writer-b"]
        .into_iter()
        .map(|label| {
            let child = spawn_child(
                "concurrent",
                &database,
                &key,
                label,
                Some(CONCURRENT_APPENDS),
                Some(start_at_ms),
            );
            (label.to_string(), child)
        })
        .collect();
    let mut all_acks = Vec::new();
    let mut finals = Vec::new();
    for (label, child) in &mut writers {
        let (acks, last) = read_child(child);
        let status = child.wait().expect("wait for writer");
        assert!(status.success(), "{label} failed");
        assert_eq!(
            acks.len() as u64,
            CONCURRENT_APPENDS,
            "{label} acknowledged too few"
        );
        finals.push(last.expect("writer reports the final history"));
        all_acks.extend(acks.into_iter().map(|ack| (label.clone(), ack)));
    }
    let total = 2 * CONCURRENT_APPENDS;
    let log = SqliteLog::open(&database).expect("open");
    assert_eq!(log.size().expect("size"), total);

    // Each index was given out exactly once.
    let mut owners: BTreeMap<u64, &str> = BTreeMap::new();
    for (label, ack) in &all_acks {
        for index in ack.first..ack.size {
            assert!(
                owners.insert(index, label).is_none(),
                "index {index} given out twice"
            );
        }
    }
    assert_eq!(
        owners.keys().copied().collect::<Vec<_>>(),
        (0..total).collect::<Vec<_>>()
    );

    // Both writers see the same final history, and everything they were told is a prefix of it.
    let root = log.tree_hash(total).expect("root");
    assert_eq!(finals, vec![(total, root), (total, root)]);
    check_acks(&log, &all_acks);
    let report = log.verify(&signer.verifier()).expect("verify runs");
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.checkpoints, total + 1);
    let switches = owners
        .values()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|pair| pair[0] != pair[1])
        .count();
    eprintln!("{total} appends by two processes, {switches} switches between writers");
    assert!(
        switches >= 4,
        "the writers barely overlapped ({switches} switches)"
    );
}

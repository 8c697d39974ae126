//! Log benchmark for issue 3, printed only (timing goals never become asserts):
//!
//! 1. bulk import of N events, `--import-batch` per transaction (entries/s);
//! 2. inclusion proofs at tree size N: `--proofs` random leaves, each timed on its own
//!    (median, p99, max), on a freshly opened connection, every proof checked afterwards;
//! 3. full verification of the log of N entries (every leaf, stored hash and checkpoint);
//! 4. durable appends at size N, one event per transaction, for `--seconds`;
//! 5. durable appends at size N, `--batch` events per transaction, for `--seconds`.
//!
//! Every append is acknowledged only after its COMMIT (synchronous=FULL), as in `stamp`. The
//! one exception is `--import-unsynced`, which turns fsync off for the bulk import only (set-up
//! of a large log with a checkpoint per small batch, never a durable-append figure).
//!
//! Usage: `cargo run --release -p stamp-log --example log_bench -- N [options]`
//!
//! Options:
//!   --dir DIR           put `stamp.db` in DIR (must not hold one); default: a temp dir, removed
//!   --import-batch B    events per transaction in the bulk import (default 10000)
//!   --import-unsynced   bulk import with `PRAGMA synchronous=OFF` (set-up only)
//!   --batch B           events per transaction in phase 5 (default 100)
//!   --seconds S         length of phases 4 and 5 (default 5)
//!   --proofs P          inclusion proofs to time (default 1000)
//!   --skip PHASES       comma-separated phases to skip: proofs, verify, appends
//!   --write-key         also write the log key to DIR/log.key, so that
//!                       `stamp --home DIR log verify` can check the log end to end
//!   --verify-existing   only phase 3, on the log a previous run left in `--dir DIR` (made
//!                       with this benchmark's key); N is not used and may be 0. Lets two
//!                       builds verify the same large log in turn without importing it again
//!   --verify-threads T  check checkpoint signatures on T threads in phase 3 (default: all
//!                       cores, as `SqliteLog::verify`)

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use stamp_core::{Digest, Event, EventKind, Origin, Outcome};
use stamp_log::{check_inclusion, leaf_hash, LogStore, NoteSigner, SqliteLog};
use time::macros::datetime;

const ORIGIN: &str = "bench.stamp.local/log";

struct Options {
    size: u64,
    dir: Option<PathBuf>,
    import_batch: u64,
    import_unsynced: bool,
    batch: u64,
    seconds: f64,
    proofs: usize,
    skip: Vec<String>,
    write_key: bool,
    verify_existing: bool,
    verify_threads: Option<NonZeroUsize>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: log_bench N [--dir DIR] [--import-batch B] [--import-unsynced] [--batch B] \
         [--seconds S] [--proofs P] [--skip proofs,verify,appends] [--write-key] \
         [--verify-existing] [--verify-threads T]"
    );
    ExitCode::from(2)
}

fn parse_options() -> Option<Options> {
    let mut arguments = std::env::args().skip(1);
    let mut options = Options {
        size: 0,
        dir: None,
        import_batch: 10_000,
        import_unsynced: false,
        batch: 100,
        seconds: 5.0,
        proofs: 1000,
        skip: Vec::new(),
        write_key: false,
        verify_existing: false,
        verify_threads: None,
    };
    let mut size = None;
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--dir" => options.dir = Some(PathBuf::from(arguments.next()?)),
            "--import-batch" => options.import_batch = arguments.next()?.parse().ok()?,
            "--import-unsynced" => options.import_unsynced = true,
            "--write-key" => options.write_key = true,
            "--verify-existing" => options.verify_existing = true,
            "--verify-threads" => options.verify_threads = Some(arguments.next()?.parse().ok()?),
            "--batch" => options.batch = arguments.next()?.parse().ok()?,
            "--seconds" => options.seconds = arguments.next()?.parse().ok()?,
            "--proofs" => options.proofs = arguments.next()?.parse().ok()?,
            "--skip" => {
                options.skip = arguments.next()?.split(',').map(str::to_string).collect();
            }
            text => size = Some(text.replace('_', "").parse::<f64>().ok()? as u64),
        }
    }
    options.size = size.filter(|&size| size > 0 || options.verify_existing)?;
    let usable = options.import_batch > 0
        && options.batch > 0
        && (!options.write_key || options.dir.is_some())
        && (!options.verify_existing || options.dir.is_some());
    usable.then_some(options)
}

/// An event shaped like the ones stamp writes: actor, origin, an image digest as subject and
/// reference, two details; no projection effect, so only the log itself is measured.
fn event(sequence: u64) -> Event {
    let digest = Digest::of(&sequence.to_le_bytes());
    Event::builder()
        .actor("bench@example.com")
        .kind(EventKind::Exception)
        .time(datetime!(2025-06-01 12:00:00 UTC))
        .outcome(Outcome::Success)
        .origin(Origin::new("bench-host", "log_bench", 1))
        .subject(digest.to_string())
        .reference(digest)
        .detail("sequence", sequence)
        .detail("reason", "benchmark event")
        .build()
        .expect("the benchmark event has every field")
}

/// splitmix64, for reproducible random proof indexes.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound
    }
}

/// The value at quantile `q` (0..=1) of sorted `values`.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let position = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[position]
}

fn microseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn main() -> ExitCode {
    let Some(options) = parse_options() else {
        return usage();
    };
    if options.verify_existing {
        let path = options.dir.as_ref().expect("checked").join("stamp.db");
        let log = SqliteLog::open(&path).expect("open the existing log");
        println!("log {}", path.display());
        let signer = NoteSigner::from_seed(ORIGIN, [7; 32]).expect("valid key name");
        verify_phase(&log, &signer, options.verify_threads);
        return ExitCode::SUCCESS;
    }
    let temporary = match &options.dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().expect("temp dir")),
    };
    let dir = options
        .dir
        .clone()
        .unwrap_or_else(|| temporary.as_ref().expect("temp dir").path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("create the benchmark directory");
    let path = dir.join("stamp.db");
    let signer = NoteSigner::from_seed(ORIGIN, [7; 32]).expect("valid key name");
    let mut log = SqliteLog::create(&path, ORIGIN, &signer).expect("create the log");
    if options.write_key {
        signer
            .write_new_file(&dir.join("log.key"))
            .expect("write the log key");
    }
    println!("log {}", path.display());

    // 1. Bulk import.
    if options.import_unsynced {
        log.connection()
            .execute_batch("PRAGMA synchronous=OFF")
            .expect("set-up pragma");
    }
    let mut appending = Duration::ZERO;
    let mut next = 0u64;
    let mut last_report = Instant::now();
    while next < options.size {
        let count = options.import_batch.min(options.size - next);
        let events: Vec<Event> = (next..next + count).map(event).collect();
        let started = Instant::now();
        log.append(&signer, &events).expect("bulk append");
        appending += started.elapsed();
        next += count;
        if last_report.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "  … {next} entries, {:.0} entries/s so far",
                next as f64 / appending.as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    let database_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "bulk_import entries={} per_transaction={} synchronous={} seconds={:.2} entries_per_second={:.0} database_bytes={}",
        options.size,
        options.import_batch,
        if options.import_unsynced { "off" } else { "full" },
        appending.as_secs_f64(),
        options.size as f64 / appending.as_secs_f64(),
        database_bytes
    );
    drop(log);
    let mut log = SqliteLog::open(&path).expect("reopen the log");
    let size = options.size;

    // 2. Inclusion proofs at size N.
    if !options.skip.iter().any(|phase| phase == "proofs") {
        let mut random = Random(0x5eed);
        let indexes: Vec<u64> = (0..options.proofs).map(|_| random.below(size)).collect();
        let mut times = Vec::with_capacity(indexes.len());
        let mut proofs = Vec::with_capacity(indexes.len());
        for &index in &indexes {
            let started = Instant::now();
            let proof = log.prove_inclusion(size, index).expect("inclusion proof");
            times.push(started.elapsed());
            proofs.push(proof);
        }
        let root = log.tree_hash(size).expect("tree hash");
        for (&index, proof) in indexes.iter().zip(&proofs) {
            let leaf = leaf_hash(&log.read_entry(index).expect("entry").bytes);
            check_inclusion(proof, size, &root, index, &leaf).expect("the proof checks");
        }
        times.sort();
        println!(
            "inclusion_proof size={size} proofs={} hashes={} median_us={:.1} p99_us={:.1} max_us={:.1}",
            times.len(),
            proofs.first().map_or(0, Vec::len),
            microseconds(quantile(&times, 0.5)),
            microseconds(quantile(&times, 0.99)),
            microseconds(quantile(&times, 1.0)),
        );
    }

    // 3. Full verification at size N.
    if !options.skip.iter().any(|phase| phase == "verify") {
        verify_phase(&log, &signer, options.verify_threads);
    }

    // 4 and 5. Durable appends at size N.
    if !options.skip.iter().any(|phase| phase == "appends") {
        for per_transaction in [1, options.batch] {
            let phase_length = Duration::from_secs_f64(options.seconds);
            let mut latencies = Vec::new();
            let started = Instant::now();
            let mut entries = 0u64;
            while started.elapsed() < phase_length {
                let events: Vec<Event> = (0..per_transaction)
                    .map(|offset| event(next + offset))
                    .collect();
                let append_started = Instant::now();
                let receipt = log.append(&signer, &events).expect("durable append");
                latencies.push(append_started.elapsed());
                next = receipt.size;
                entries += per_transaction;
            }
            let seconds = started.elapsed().as_secs_f64();
            latencies.sort();
            println!(
                "durable_appends per_transaction={per_transaction} transactions={} entries={entries} seconds={seconds:.2} entries_per_second={:.0} transactions_per_second={:.0} commit_median_ms={:.2} commit_p99_ms={:.2}",
                latencies.len(),
                entries as f64 / seconds,
                latencies.len() as f64 / seconds,
                quantile(&latencies, 0.5).as_secs_f64() * 1e3,
                quantile(&latencies, 0.99).as_secs_f64() * 1e3,
            );
        }
    }
    ExitCode::SUCCESS
}

/// Phase 3: verify the whole log, time it and print the figures.
fn verify_phase(log: &SqliteLog, signer: &NoteSigner, threads: Option<NonZeroUsize>) {
    let threads = threads.unwrap_or_else(stamp_log::verify::default_verify_threads);
    let started = Instant::now();
    let report = log
        .verify_with_threads(&signer.verifier(), threads)
        .expect("verify");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        report.is_ok(),
        "the benchmark log does not verify: {report:?}"
    );
    println!(
        "verify entries={} stored_hashes={} checkpoints={} threads={threads} seconds={seconds:.2} entries_per_second={:.0}",
        report.entries,
        report.stored_hashes,
        report.checkpoints,
        report.entries as f64 / seconds
    );
}

//! The SQLite store: creating, opening, reading back, and clear errors for files that are not
//! (or no longer) stamp logs.

use std::time::Instant;

use rusqlite::Connection;
use stamp_log::{
    empty_tree_hash, leaf_hash, prove_inclusion, AppendError, Checkpoint, CreateLogError, LogStore,
    OpenLogError, SqliteLog,
};

use crate::support::{new_log, note_event, signer, ORIGIN};

#[test]
fn a_new_log_is_empty_with_a_signed_empty_checkpoint() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (log, signer) = new_log(directory.path());
    assert_eq!(log.size().expect("size"), 0);
    let note = log
        .latest_checkpoint_note()
        .expect("read")
        .expect("checkpoint");
    let checkpoint = Checkpoint::open(note.as_bytes(), &signer.verifier(), ORIGIN).expect("opens");
    assert_eq!(checkpoint.size, 0);
    assert_eq!(checkpoint.root, empty_tree_hash());
    assert!(log.verify(&signer.verifier()).expect("verify").is_ok());
    assert!(matches!(
        SqliteLog::create(log.path(), ORIGIN, &signer),
        Err(CreateLogError::Exists { .. })
    ));
}

#[test]
fn appended_events_read_back_byte_for_byte() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut log, signer) = new_log(directory.path());
    let events: Vec<_> = (0..10).map(|n| note_event("read", n)).collect();
    let first = log.append(&signer, &events[..4]).expect("append");
    let second = log.append(&signer, &events[4..]).expect("append");
    assert_eq!(first.indexes(), 0..4);
    assert_eq!(second.indexes(), 4..10);
    drop(log);

    let log = SqliteLog::open(&directory.path().join("stamp.db")).expect("reopen");
    assert_eq!(log.origin(), ORIGIN);
    assert_eq!(log.size().expect("size"), 10);
    for (index, event) in events.iter().enumerate() {
        let stored = log.read_entry(index as u64).expect("entry");
        assert_eq!(stored.bytes, event.to_canonical_bytes());
        assert_eq!(stored.leaf_hash, leaf_hash(&stored.bytes).0.to_vec());
        assert_eq!(&log.read_event(index as u64).expect("event"), event);
    }
    assert!(log.read_entry(10).is_err());
    assert_eq!(log.tree_hash(10).expect("root"), second.root);
    assert_eq!(log.tree_hash(4).expect("root"), first.root);
    let proof = log.prove_inclusion(10, 3).expect("proof");
    let stored: Vec<_> = log
        .read_hash_range(0, usize::MAX)
        .expect("hashes")
        .into_iter()
        .map(|hash| stamp_log::Hash::from_slice(&hash.hash).expect("hash"))
        .collect();
    assert_eq!(proof, prove_inclusion(10, 3, &stored).expect("proof"));
    assert_eq!(
        log.prove_consistency(4, 10).expect("proof"),
        stamp_log::prove_consistency(4, 10, &stored).expect("proof")
    );
    let mut log = log;
    assert!(matches!(log.append(&signer, &[]), Err(AppendError::Empty)));
}

#[test]
fn files_that_are_not_stamp_logs_are_refused_with_the_reason() {
    let directory = tempfile::tempdir().expect("temp dir");
    let missing = directory.path().join("missing.db");
    let error = SqliteLog::open(&missing).unwrap_err();
    assert!(matches!(error, OpenLogError::NotFound { .. }));
    assert!(error.to_string().contains("stamp init"));

    let garbage = directory.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).expect("write");
    assert!(matches!(
        SqliteLog::open(&garbage),
        Err(OpenLogError::Corrupt { .. })
    ));

    let other = directory.path().join("other.db");
    Connection::open(&other)
        .and_then(|connection| connection.execute_batch("CREATE TABLE t (x INTEGER)"))
        .expect("other database");
    assert!(matches!(
        SqliteLog::open(&other),
        Err(OpenLogError::NotAStampLog {
            application_id: 0,
            ..
        })
    ));

    let (log, _) = new_log(directory.path());
    let path = log.path().to_path_buf();
    drop(log);
    Connection::open(&path)
        .and_then(|connection| connection.execute_batch("PRAGMA user_version = 99"))
        .expect("bump version");
    assert!(matches!(
        SqliteLog::open(&path),
        Err(OpenLogError::SchemaVersion { found: 99, .. })
    ));
    Connection::open(&path)
        .and_then(|connection| {
            connection.execute_batch("PRAGMA user_version = 1; DROP TABLE hashes")
        })
        .expect("drop table");
    let error = SqliteLog::open(&path).unwrap_err();
    assert!(
        matches!(
            error,
            OpenLogError::Schema {
                table: "hashes",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn the_key_file_round_trips_through_the_log() {
    let directory = tempfile::tempdir().expect("temp dir");
    let key = directory.path().join("log.key");
    signer().write_new_file(&key).expect("write key");
    let loaded = stamp_log::NoteSigner::read_file(&key).expect("read key");
    let (mut log, _) = new_log(directory.path());
    let receipt = log
        .append(&loaded, &[note_event("key", 0)])
        .expect("append");
    Checkpoint::open(receipt.checkpoint.as_bytes(), &signer().verifier(), ORIGIN)
        .expect("signed by the key");
}

/// Throughput on this machine, printed only: `cargo test --release -p stamp-log --test it -- --ignored throughput --nocapture`.
#[test]
#[ignore = "benchmark; prints numbers, asserts nothing about time"]
fn throughput() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut log, signer) = new_log(directory.path());
    let bulk: Vec<_> = (0..100_000).map(|n| note_event("bulk", n)).collect();
    let started = Instant::now();
    log.append(&signer, &bulk).expect("bulk append");
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("bulk import: {:.0} entries/s", bulk.len() as f64 / seconds);

    let started = Instant::now();
    let batches = 200;
    for batch in 0..batches {
        let events: Vec<_> = (0..50)
            .map(|n| note_event("batched", batch * 50 + n))
            .collect();
        log.append(&signer, &events).expect("append");
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "durable batched appends (50 per commit): {:.0} entries/s",
        (batches * 50) as f64 / seconds
    );

    let started = Instant::now();
    for _ in 0..200 {
        log.append(&signer, &[note_event("single", 0)])
            .expect("append");
    }
    eprintln!(
        "single appends: {:.0}/s",
        200.0 / started.elapsed().as_secs_f64()
    );

    let size = log.size().expect("size");
    let started = Instant::now();
    for index in (0..size).step_by(97) {
        log.prove_inclusion(size, index).expect("proof");
    }
    let proofs = size.div_ceil(97);
    eprintln!(
        "inclusion proof at size {size}: {:.1} µs",
        started.elapsed().as_secs_f64() * 1e6 / proofs as f64
    );

    let started = Instant::now();
    let report = log.verify(&signer.verifier()).expect("verify");
    assert!(report.is_ok());
    eprintln!(
        "verify {} entries, {} checkpoints: {:.2} s",
        report.entries,
        report.checkpoints,
        started.elapsed().as_secs_f64()
    );
}

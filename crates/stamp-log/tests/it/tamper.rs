//! Damage to the SQLite file, made behind stamp's back, is found by `verify` at the right index.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};
use stamp_log::merkle::{split_stored_hash_index, stored_hash_index};
use stamp_log::{leaf_hash, AppendError, LogStore, NoteSigner, SqliteLog, VerifyProblem};

use crate::support::{new_log, note_event};

const ENTRIES: u64 = 40;
const BATCH: u64 = 4;

/// A verified log of 40 entries appended 4 at a time (checkpoints at 0, 4, 8, …, 40).
fn build() -> (tempfile::TempDir, PathBuf, NoteSigner) {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut log, signer) = new_log(directory.path());
    for first in (0..ENTRIES).step_by(BATCH as usize) {
        let events: Vec<_> = (first..first + BATCH)
            .map(|n| note_event(&format!("tamper-target-{n:04}"), n))
            .collect();
        log.append(&signer, &events).expect("append");
    }
    let report = log.verify(&signer.verifier()).expect("verify");
    assert!(report.is_ok(), "fresh log fails: {report:?}");
    assert_eq!(report.entries, ENTRIES);
    assert_eq!(report.checkpoints, ENTRIES / BATCH + 1);
    let path = log.path().to_path_buf();
    (directory, path, signer)
}

/// Change the database with plain SQL, as someone with file access could.
fn tamper(path: &Path, sql: &str, values: impl rusqlite::Params) {
    let connection = Connection::open(path).expect("open for tampering");
    let changed = connection.execute(sql, values).expect("tamper");
    assert!(changed > 0, "tampering changed nothing: {sql}");
}

fn read_blob(path: &Path, sql: &str, key: u64) -> Vec<u8> {
    let connection = Connection::open(path).expect("open");
    connection
        .query_row(sql, [key as i64], |row| row.get(0))
        .expect("read blob")
}

fn problem(path: &Path, signer: &NoteSigner) -> VerifyProblem {
    let log = SqliteLog::open(path).expect("open");
    let report = log.verify(&signer.verifier()).expect("verify runs");
    report.problem.expect("tampering must be found")
}

#[test]
fn a_changed_event_byte_is_found_at_its_index() {
    let (_directory, path, signer) = build();
    let mut bytes = read_blob(&path, "SELECT bytes FROM entries WHERE idx = ?1", 17);
    bytes[30] ^= 0x01;
    tamper(
        &path,
        "UPDATE entries SET bytes = ?1 WHERE idx = 17",
        params![bytes],
    );
    assert_eq!(
        problem(&path, &signer),
        VerifyProblem::LeafHashMismatch { index: 17 }
    );
}

#[test]
fn a_changed_event_with_a_matching_leaf_column_is_found_in_the_tree() {
    let (_directory, path, signer) = build();
    let mut bytes = read_blob(&path, "SELECT bytes FROM entries WHERE idx = ?1", 23);
    bytes[40] ^= 0x20;
    let leaf = leaf_hash(&bytes);
    tamper(
        &path,
        "UPDATE entries SET bytes = ?1, leaf_hash = ?2 WHERE idx = 23",
        params![bytes, leaf.0.as_slice()],
    );
    assert_eq!(
        problem(&path, &signer),
        VerifyProblem::StoredHashMismatch {
            stored_index: stored_hash_index(0, 23),
            level: 0,
            leaf_index: 23
        }
    );
}

#[test]
fn a_changed_interior_hash_is_found_with_the_entry_that_wrote_it() {
    let (_directory, path, signer) = build();
    // The level-3 hash over entries 8..16, written when entry 15 was appended.
    let stored_index = stored_hash_index(3, 1);
    assert_eq!(split_stored_hash_index(stored_index), (3, 1));
    let mut hash = read_blob(
        &path,
        "SELECT hash FROM hashes WHERE stored_index = ?1",
        stored_index,
    );
    hash[0] ^= 0x80;
    tamper(
        &path,
        "UPDATE hashes SET hash = ?1 WHERE stored_index = ?2",
        params![hash, stored_index as i64],
    );
    assert_eq!(
        problem(&path, &signer),
        VerifyProblem::StoredHashMismatch {
            stored_index,
            level: 3,
            leaf_index: 15
        }
    );
}

#[test]
fn a_changed_checkpoint_byte_is_found_at_its_size() {
    let (_directory, path, signer) = build();
    let note = read_blob(
        &path,
        "SELECT CAST(note AS BLOB) FROM checkpoints WHERE size = ?1",
        12,
    );
    let mut note = String::from_utf8(note).expect("utf-8");
    // Change one character of the signature.
    let position = note.len() - 10;
    let replacement = if &note[position..position + 1] == "A" {
        "B"
    } else {
        "A"
    };
    note.replace_range(position..position + 1, replacement);
    tamper(
        &path,
        "UPDATE checkpoints SET note = ?1 WHERE size = 12",
        params![note],
    );
    assert!(matches!(
        problem(&path, &signer),
        VerifyProblem::CheckpointInvalid { size: 12, .. }
    ));
}

#[test]
fn a_checkpoint_filed_under_another_size_is_found() {
    let (_directory, path, signer) = build();
    let note = read_blob(
        &path,
        "SELECT CAST(note AS BLOB) FROM checkpoints WHERE size = ?1",
        8,
    );
    let note = String::from_utf8(note).expect("utf-8");
    tamper(
        &path,
        "UPDATE checkpoints SET note = ?1 WHERE size = 16",
        params![note],
    );
    assert_eq!(
        problem(&path, &signer),
        VerifyProblem::CheckpointSizeMismatch {
            size: 16,
            stated_size: 8
        }
    );
}

#[test]
fn deleting_the_newest_entries_is_caught_against_the_last_checkpoint() {
    let (_directory, path, signer) = build();
    tamper(&path, "DELETE FROM entries WHERE idx >= 37", []);
    assert_eq!(
        problem(&path, &signer),
        VerifyProblem::CheckpointBeyondLog {
            checkpoint_size: ENTRIES,
            log_size: 37
        }
    );
    // Removing their stored hashes too does not hide it.
    tamper(
        &path,
        "DELETE FROM hashes WHERE stored_index >= ?1",
        [stored_hash_index(0, 37) as i64],
    );
    assert_eq!(
        problem(&path, &signer),
        VerifyProblem::CheckpointBeyondLog {
            checkpoint_size: ENTRIES,
            log_size: 37
        }
    );
    // And a damaged log refuses further appends instead of burying the damage.
    let mut log = SqliteLog::open(&path).expect("open");
    let error = log.append(&signer, &[note_event("late", 0)]).unwrap_err();
    assert!(matches!(error, AppendError::Inconsistent { .. }), "{error}");
    assert!(error.to_string().contains("stamp log verify"));
}

#[test]
fn a_deleted_middle_entry_is_found_at_its_index() {
    let (_directory, path, signer) = build();
    tamper(&path, "DELETE FROM entries WHERE idx = 9", []);
    assert_eq!(
        problem(&path, &signer),
        VerifyProblem::EntryMissing { index: 9 }
    );
}

#[test]
fn an_added_entry_after_the_checkpoint_is_found() {
    let (_directory, path, signer) = build();
    let bytes = read_blob(&path, "SELECT bytes FROM entries WHERE idx = ?1", 39);
    let leaf = leaf_hash(&bytes);
    tamper(
        &path,
        "INSERT INTO entries (idx, bytes, leaf_hash) VALUES (40, ?1, ?2)",
        params![bytes, leaf.0.as_slice()],
    );
    assert_eq!(
        problem(&path, &signer),
        VerifyProblem::StoredHashMissing {
            stored_index: stored_hash_index(0, 40),
            leaf_index: 40
        }
    );
}

#[test]
fn a_byte_flipped_in_the_raw_file_is_found_at_its_index() {
    let (_directory, path, signer) = build();
    // Move everything from the WAL into the main file, then edit the file itself.
    {
        let connection = Connection::open(&path).expect("open");
        connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint the wal");
    }
    let mut file = std::fs::read(&path).expect("read db file");
    let marker = b"tamper-target-0026@example.com";
    let found: Vec<usize> = file
        .windows(marker.len())
        .enumerate()
        .filter(|(_, window)| window == marker)
        .map(|(offset, _)| offset)
        .collect();
    assert_eq!(found.len(), 1, "the marker should be stored once");
    file[found[0] + 7] ^= 0x01;
    std::fs::write(&path, &file).expect("write db file");
    assert_eq!(
        problem(&path, &signer),
        VerifyProblem::LeafHashMismatch { index: 26 }
    );
}

#[test]
fn a_checkpoint_by_another_key_is_refused() {
    let (_directory, path, signer) = build();
    let log = SqliteLog::open(&path).expect("open");
    let other = NoteSigner::from_seed(crate::support::ORIGIN, [8; 32]).expect("key");
    let report = log.verify(&other.verifier()).expect("verify");
    assert!(matches!(
        report.problem,
        Some(VerifyProblem::CheckpointInvalid { size: 0, .. })
    ));
    assert_eq!(log.size().expect("size"), ENTRIES);
    let _ = signer;
}

/// Replace one character of the signature of the checkpoint filed under `size`.
fn break_signature(path: &Path, size: u64) {
    let note = read_blob(
        path,
        "SELECT CAST(note AS BLOB) FROM checkpoints WHERE size = ?1",
        size,
    );
    let mut note = String::from_utf8(note).expect("utf-8");
    let position = note.len() - 10;
    let replacement = if &note[position..position + 1] == "A" {
        "B"
    } else {
        "A"
    };
    note.replace_range(position..position + 1, replacement);
    tamper(
        path,
        "UPDATE checkpoints SET note = ?1 WHERE size = ?2",
        params![note, size as i64],
    );
}

#[test]
fn one_bad_signature_among_many_checkpoints_is_named_on_any_number_of_threads() {
    use std::num::NonZeroUsize;

    // One event per append, as the CLI writes: a checkpoint at every size 0..=1300, more than
    // one read chunk of checkpoints, each split over the threads in several Ed25519 batches.
    const APPENDS: u64 = 1300;
    assert!(APPENDS as usize > stamp_log::verify::VERIFY_CHUNK_CHECKPOINTS);
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut log, signer) = new_log(directory.path());
    for n in 0..APPENDS {
        log.append(&signer, &[note_event("one-per-append", n)])
            .expect("append");
    }
    let path = log.path().to_path_buf();
    drop(log);
    let verify = |threads: usize| {
        let log = SqliteLog::open(&path).expect("open");
        log.verify_with_threads(&signer.verifier(), NonZeroUsize::new(threads).unwrap())
            .expect("verify runs")
    };
    for threads in [1, 3] {
        let report = verify(threads);
        assert!(report.is_ok(), "{threads} threads: {report:?}");
        assert_eq!(report.checkpoints, APPENDS + 1);
    }

    // A bad one late in the second chunk, then an earlier one in the middle of the first chunk
    // (in the share of the second thread): the lowest is named whatever the threads.
    break_signature(&path, 1200);
    for threads in [1, 2, 3, 4] {
        let report = verify(threads);
        assert!(
            matches!(
                report.problem,
                Some(VerifyProblem::CheckpointInvalid { size: 1200, .. })
            ),
            "{threads} threads: {:?}",
            report.problem
        );
        assert_eq!(report.checkpoints, 1200, "{threads} threads");
        assert_eq!(report.latest.as_ref().map(|c| c.size), Some(1199));
    }
    break_signature(&path, 777);
    for threads in [1, 2, 3, 4] {
        let report = verify(threads);
        let problem = report.problem.expect("a bad signature is found");
        assert_eq!(problem.code(), "log-checkpoint-invalid");
        assert_eq!(problem.index(), 777, "{threads} threads");
        assert!(
            problem.to_string().contains("signature"),
            "{threads} threads: {problem}"
        );
        assert_eq!(report.checkpoints, 777, "{threads} threads");
    }
    // The default (all cores) agrees.
    let report = SqliteLog::open(&path)
        .expect("open")
        .verify(&signer.verifier())
        .expect("verify runs");
    assert_eq!(report.problem.map(|problem| problem.index()), Some(777));
}

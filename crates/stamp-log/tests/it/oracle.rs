//! stamp's checkpoints and proofs, checked by stamp's own verifier for every pair and by the
//! independent Go checker (`tlogverify`, built on golang.org/x/mod/sumdb/{tlog,note}) for a
//! large sample; and every single-byte change must be refused by both.

use serde_json::{json, Value};
use stamp_log::merkle::tree_hash;
use stamp_log::{
    check_consistency, check_inclusion, leaf_hash, prove_consistency, prove_inclusion, Checkpoint,
    Hash, LogStore, SqliteLog,
};

use crate::support::{new_log, note_event, tlogverify, Rng, ORIGIN};

/// Entries in the sample log.
const LOG_SIZE: u64 = 1000;
/// Random (index, size) and (old, new) pairs sent to tlogverify on top of the full rows.
const ORACLE_SAMPLE_PAIRS: usize = 3000;

struct SampleLog {
    _directory: tempfile::TempDir,
    log: SqliteLog,
    /// Every stored hash, read back from SQLite.
    stored: Vec<Hash>,
    entries: Vec<Vec<u8>>,
    leaves: Vec<Hash>,
    /// roots[n] = tree hash of the first n entries.
    roots: Vec<Hash>,
}

/// A log of `LOG_SIZE` entries appended in batches of 1 to 17, so it has many checkpoints.
fn sample_log() -> SampleLog {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut log, signer) = new_log(directory.path());
    let mut rng = Rng(42);
    let mut next = 0u64;
    while next < LOG_SIZE {
        let batch = rng.between(1, 17).min(LOG_SIZE - next);
        let events: Vec<_> = (next..next + batch)
            .map(|n| note_event("oracle", n))
            .collect();
        let receipt = log.append(&signer, &events).expect("append");
        assert_eq!(receipt.indexes(), next..next + batch);
        next += batch;
    }
    let stored: Vec<Hash> = log
        .read_hash_range(0, usize::MAX)
        .expect("read hashes")
        .into_iter()
        .map(|stored| Hash::from_slice(&stored.hash).expect("32-byte hash"))
        .collect();
    let entries: Vec<Vec<u8>> = log
        .read_entries(0, usize::MAX)
        .expect("read entries")
        .into_iter()
        .map(|entry| entry.bytes)
        .collect();
    let leaves = entries.iter().map(|bytes| leaf_hash(bytes)).collect();
    let roots = (0..=LOG_SIZE)
        .map(|n| tree_hash(n, &stored).expect("root"))
        .collect();
    SampleLog {
        _directory: directory,
        log,
        stored,
        entries,
        leaves,
        roots,
    }
}

fn hex_list(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(Hash::to_hex).collect()
}

#[test]
fn every_pair_verifies_with_stamp_and_a_large_sample_with_go() {
    let sample = sample_log();
    let store = &sample.stored;

    // stamp's own verifier, every i < n and every m ≤ n (about a million proofs, two threads).
    std::thread::scope(|scope| {
        for part in 0..2u64 {
            let (roots, leaves) = (&sample.roots, &sample.leaves);
            scope.spawn(move || {
                for new_size in (1..=LOG_SIZE).filter(|n| n % 2 == part) {
                    let new_root = &roots[new_size as usize];
                    for index in 0..new_size {
                        let proof =
                            prove_inclusion(new_size, index, store).expect("prove inclusion");
                        check_inclusion(&proof, new_size, new_root, index, &leaves[index as usize])
                            .unwrap_or_else(|error| {
                                panic!("inclusion {index} in {new_size}: {error}")
                            });
                    }
                    for old_size in 0..=new_size {
                        let proof = prove_consistency(old_size, new_size, store)
                            .expect("prove consistency");
                        let old_root = &roots[old_size as usize];
                        check_consistency(&proof, old_size, old_root, new_size, new_root)
                            .unwrap_or_else(|error| {
                                panic!("consistency {old_size} -> {new_size}: {error}")
                            });
                    }
                }
            });
        }
    });

    // Proofs read straight from SQLite are the same as from the in-memory copy.
    assert_eq!(
        sample
            .log
            .prove_inclusion(LOG_SIZE, 500)
            .expect("sqlite proof"),
        prove_inclusion(LOG_SIZE, 500, store).expect("memory proof")
    );
    assert_eq!(
        sample.log.tree_hash(LOG_SIZE).expect("root"),
        sample.roots[LOG_SIZE as usize]
    );

    // Go: the newest checkpoint, every inclusion proof and every consistency proof into it,
    // plus random pairs at other sizes, in one `tlogverify verify` run.
    let note = sample
        .log
        .latest_checkpoint_note()
        .expect("read checkpoint")
        .expect("a checkpoint");
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for index in 0..LOG_SIZE {
        let proof = prove_inclusion(LOG_SIZE, index, store).expect("prove");
        inclusion.push(json!({
            "leaf_index": index,
            "leaf_data_b64": base64_of(&sample.entries[index as usize]),
            "proof": hex_list(&proof),
        }));
    }
    for old_size in 1..=LOG_SIZE {
        let proof = prove_consistency(old_size, LOG_SIZE, store).expect("prove");
        consistency.push(json!({
            "old_size": old_size,
            "old_root": sample.roots[old_size as usize].to_hex(),
            "proof": hex_list(&proof),
        }));
    }
    let mut rng = Rng(7);
    for _ in 0..ORACLE_SAMPLE_PAIRS {
        let new_size = rng.between(1, LOG_SIZE);
        let index = rng.between(0, new_size - 1);
        let old_size = rng.between(1, new_size);
        let new_root = sample.roots[new_size as usize].to_hex();
        inclusion.push(json!({
            "tree_size": new_size,
            "root_hash": new_root,
            "leaf_index": index,
            "leaf_hash": sample.leaves[index as usize].to_hex(),
            "proof": hex_list(&prove_inclusion(new_size, index, store).expect("prove")),
        }));
        consistency.push(json!({
            "old_size": old_size,
            "old_root": sample.roots[old_size as usize].to_hex(),
            "new_size": new_size,
            "new_root": new_root,
            "proof": hex_list(&prove_consistency(old_size, new_size, store).expect("prove")),
        }));
    }
    let verifier = crate::support::signer().verifier();
    let request = json!({
        "note": note,
        "verifier_keys": [verifier.verifier_key()],
        "expect_origin": ORIGIN,
        "inclusion": inclusion,
        "consistency": consistency,
    });
    let (code, output) = tlogverify("verify", &request);
    assert_eq!(code, 0, "tlogverify verify refused: {output}");
    assert_eq!(output["checkpoint"]["size"], json!(LOG_SIZE));
    assert_eq!(
        output["inclusion"].as_array().map(Vec::len),
        Some(LOG_SIZE as usize + ORACLE_SAMPLE_PAIRS)
    );
    assert_eq!(
        output["consistency"].as_array().map(Vec::len),
        Some(LOG_SIZE as usize + ORACLE_SAMPLE_PAIRS)
    );
}

#[test]
fn every_stored_checkpoint_verifies_with_go() {
    let sample = sample_log();
    let verifier = crate::support::signer().verifier();
    let checkpoints = sample
        .log
        .read_checkpoints(0, usize::MAX)
        .expect("checkpoints");
    assert!(
        checkpoints.len() > 100,
        "batches should give many checkpoints"
    );
    for stored in &checkpoints {
        let note = String::from_utf8(stored.note.clone()).expect("utf-8 note");
        let opened = Checkpoint::open(note.as_bytes(), &verifier, ORIGIN).expect("stamp opens it");
        assert_eq!(opened.root, sample.roots[stored.size as usize]);
        let (code, output) = tlogverify(
            "note",
            &json!({"note": note, "verifier_keys": [verifier.verifier_key()], "expect_origin": ORIGIN}),
        );
        assert_eq!(
            code, 0,
            "checkpoint {} refused by Go: {output}",
            stored.size
        );
        assert_eq!(output["checkpoint"]["size"], json!(stored.size));
        assert_eq!(
            output["checkpoint"]["root_hash_hex"],
            json!(opened.root.to_hex())
        );
        assert_eq!(output["checkpoint"]["extensions"], json!([]));
        assert_eq!(
            output["verified_by"][0]["key_hash"],
            json!(format!("{:08x}", verifier.key_hash()))
        );
    }
    // Raw Ed25519 key form as well.
    let (code, output) = tlogverify(
        "note",
        &json!({
            "note": String::from_utf8(checkpoints[5].note.clone()).expect("utf-8"),
            "ed25519_keys": [{"name": ORIGIN, "pubkey_hex": hex::encode(verifier.public_key().as_bytes())}],
        }),
    );
    assert_eq!(code, 0, "{output}");
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn flipped(hash: &Hash, byte: usize) -> Hash {
    let mut changed = *hash;
    changed.0[byte] ^= 0x01;
    changed
}

/// Run a proof check with Go and expect it to be refused (exit 1).
fn go_refuses(subcommand: &str, input: Value, what: &str) {
    let (code, output) = tlogverify(subcommand, &input);
    assert_eq!(code, 1, "Go accepted {what}: {output}");
}

#[test]
fn single_byte_changes_are_refused_by_stamp_and_go() {
    let sample = sample_log();
    let store = &sample.stored;
    let (size, index, old_size) = (LOG_SIZE, LOG_SIZE / 3, 600u64);
    let root = sample.roots[size as usize];
    let old_root = sample.roots[old_size as usize];
    let leaf = sample.leaves[index as usize];
    let inclusion = prove_inclusion(size, index, store).expect("prove");
    let consistency = prove_consistency(old_size, size, store).expect("prove");
    let inclusion_input = |proof: &[Hash], root: &Hash, data: &[u8]| {
        json!({"tree_size": size, "root_hash": root.to_hex(), "leaf_index": index,
               "leaf_data_b64": base64_of(data), "proof": hex_list(proof)})
    };
    let consistency_input = |proof: &[Hash], old_root: &Hash, root: &Hash| {
        json!({"old_size": old_size, "old_root": old_root.to_hex(), "new_size": size,
               "new_root": root.to_hex(), "proof": hex_list(proof)})
    };
    let data = &sample.entries[index as usize];
    assert_eq!(
        tlogverify("inclusion", &inclusion_input(&inclusion, &root, data)).0,
        0
    );
    assert_eq!(
        tlogverify(
            "consistency",
            &consistency_input(&consistency, &old_root, &root)
        )
        .0,
        0
    );

    // stamp: every byte of every proof hash, of the roots and of the leaf.
    for position in 0..inclusion.len() {
        for byte in 0..32 {
            let mut bad = inclusion.clone();
            bad[position] = flipped(&bad[position], byte);
            assert!(check_inclusion(&bad, size, &root, index, &leaf).is_err());
        }
    }
    for position in 0..consistency.len() {
        for byte in 0..32 {
            let mut bad = consistency.clone();
            bad[position] = flipped(&bad[position], byte);
            assert!(check_consistency(&bad, old_size, &old_root, size, &root).is_err());
        }
    }
    for byte in 0..32 {
        assert!(check_inclusion(&inclusion, size, &flipped(&root, byte), index, &leaf).is_err());
        assert!(check_consistency(
            &consistency,
            old_size,
            &flipped(&old_root, byte),
            size,
            &root
        )
        .is_err());
        assert!(check_consistency(
            &consistency,
            old_size,
            &old_root,
            size,
            &flipped(&root, byte)
        )
        .is_err());
    }
    for byte in 0..data.len() {
        let mut bad = data.clone();
        bad[byte] ^= 0x01;
        assert!(check_inclusion(&inclusion, size, &root, index, &leaf_hash(&bad)).is_err());
    }

    // Go: one changed byte in each proof hash, in each root, in the leaf.
    for position in 0..inclusion.len() {
        let mut bad = inclusion.clone();
        bad[position] = flipped(&bad[position], position % 32);
        go_refuses(
            "inclusion",
            inclusion_input(&bad, &root, data),
            "a changed inclusion proof",
        );
    }
    go_refuses(
        "inclusion",
        inclusion_input(&inclusion, &flipped(&root, 9), data),
        "a changed root",
    );
    let mut bad_data = data.clone();
    bad_data[data.len() / 2] ^= 0x01;
    go_refuses(
        "inclusion",
        inclusion_input(&inclusion, &root, &bad_data),
        "a changed leaf",
    );
    for position in 0..consistency.len() {
        let mut bad = consistency.clone();
        bad[position] = flipped(&bad[position], (position * 7) % 32);
        go_refuses(
            "consistency",
            consistency_input(&bad, &old_root, &root),
            "a changed consistency proof",
        );
    }
    go_refuses(
        "consistency",
        consistency_input(&consistency, &flipped(&old_root, 0), &root),
        "a changed old root",
    );
    go_refuses(
        "consistency",
        consistency_input(&consistency, &old_root, &flipped(&root, 31)),
        "a changed new root",
    );
}

#[test]
fn single_byte_changes_to_a_checkpoint_are_refused_by_stamp_and_go() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut log, signer) = new_log(directory.path());
    let events: Vec<_> = (0..5).map(|n| note_event("note", n)).collect();
    let receipt = log.append(&signer, &events).expect("append");
    let note = receipt.checkpoint.clone();
    let verifier = signer.verifier();
    let key = verifier.verifier_key();
    let bytes = note.as_bytes();

    // stamp: every byte, three different flips.
    for position in 0..bytes.len() {
        for flip in [0x01u8, 0x02, 0x80] {
            let mut changed = bytes.to_vec();
            changed[position] ^= flip;
            assert!(
                Checkpoint::open(&changed, &verifier, ORIGIN).is_err(),
                "byte {position} ^ {flip:#x} still opens"
            );
        }
    }

    // Go: a changed byte in the origin, the size, the root and the signature.
    let body_end = note.find("\n\n").expect("blank line");
    let signature_start = note.rfind(' ').expect("signature") + 1;
    let positions = [
        2,
        ORIGIN.len() + 1,
        ORIGIN.len() + 5,
        body_end - 3,
        signature_start + 10,
        signature_start + 40,
    ];
    for position in positions {
        let mut changed = bytes.to_vec();
        // Swap between two letters/digits so the text stays valid UTF-8 and valid base64.
        changed[position] = match changed[position] {
            b'0'..=b'8' | b'a'..=b'y' | b'A'..=b'Y' => changed[position] + 1,
            _ => b'0',
        };
        let changed = String::from_utf8(changed).expect("still utf-8");
        assert!(Checkpoint::open(changed.as_bytes(), &verifier, ORIGIN).is_err());
        let (code, output) = tlogverify("note", &json!({"note": changed, "verifier_keys": [key]}));
        assert_eq!(
            code, 1,
            "Go accepted a checkpoint changed at byte {position}: {output}"
        );
    }
    let (code, output) = tlogverify(
        "note",
        &json!({"note": note, "verifier_keys": [key], "expect_origin": ORIGIN}),
    );
    assert_eq!(code, 0, "{output}");
}

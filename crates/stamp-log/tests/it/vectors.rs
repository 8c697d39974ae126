//! transparency-dev/merkle's RFC 6962 reference vectors, reproduced by the pure core.

use std::path::Path;

use serde_json::Value;
use stamp_log::merkle::{stored_hashes, tree_hash};
use stamp_log::{
    check_consistency, check_inclusion, leaf_hash, prove_consistency, prove_inclusion, Hash,
};

fn vectors() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/oracles/tlogverify/testdata/transparency-dev-rfc6962-vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading `{}`: {error}", path.display()));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn hash(value: &Value) -> Hash {
    Hash::from_hex(value.as_str().expect("hex string")).expect("hex hash")
}

fn hashes(value: &Value) -> Vec<Hash> {
    value.as_array().expect("array").iter().map(hash).collect()
}

#[test]
fn rfc6962_reference_vectors_are_reproduced() {
    let vectors = vectors();
    let leaves: Vec<Vec<u8>> = vectors["leaves_hex"]
        .as_array()
        .expect("leaves")
        .iter()
        .map(|leaf| hex::decode(leaf.as_str().expect("hex")).expect("hex leaf"))
        .collect();
    let mut store: Vec<Hash> = Vec::new();
    for (n, leaf) in leaves.iter().enumerate() {
        store.extend(stored_hashes(n as u64, leaf, &store).expect("stored hashes"));
    }

    let roots = vectors["roots_hex"].as_object().expect("roots");
    assert_eq!(roots.len(), 9);
    for (size, root) in roots {
        let size: u64 = size.parse().expect("size");
        assert_eq!(
            tree_hash(size, &store).expect("tree hash"),
            hash(root),
            "root of size {size}"
        );
    }

    for case in vectors["inclusion"].as_array().expect("inclusion") {
        let index = case["leaf_index"].as_u64().expect("index");
        let size = case["tree_size"].as_u64().expect("size");
        let expected = hashes(&case["proof"]);
        let proof = prove_inclusion(size, index, &store).expect("prove");
        assert_eq!(proof, expected, "inclusion {index} in {size}");
        let root = hash(&roots[&size.to_string()]);
        let leaf = leaf_hash(&leaves[index as usize]);
        check_inclusion(&proof, size, &root, index, &leaf).expect("vector proof verifies");
    }

    for case in vectors["consistency"].as_array().expect("consistency") {
        let old_size = case["old_size"].as_u64().expect("old");
        let new_size = case["new_size"].as_u64().expect("new");
        let expected = hashes(&case["proof"]);
        let proof = prove_consistency(old_size, new_size, &store).expect("prove");
        assert_eq!(proof, expected, "consistency {old_size} -> {new_size}");
        let old_root = hash(&roots[&old_size.to_string()]);
        let new_root = hash(&roots[&new_size.to_string()]);
        check_consistency(&proof, old_size, &old_root, new_size, &new_root)
            .expect("vector proof verifies");
    }
}

//! Inclusion and consistency proofs: RFC 6962 §2.1.1 PATH / §2.1.2 PROOF, which is the
//! RFC 9162 §2.1.3 / §2.1.4 order (sibling nearest the leaf first). Go's `tlog.CheckRecord`
//! and `tlog.CheckTree` accept what [`prove_inclusion`] and [`prove_consistency`] produce, and
//! [`check_inclusion`] / [`check_consistency`] accept exactly what they accept.
//!
//! Generation reads O(log n) stored hashes through a [`HashReader`]; checking is pure.

use crate::merkle::{
    empty_tree_hash, largest_power_of_two_below, node_hash, read_exact, subtree_hash,
    subtree_indexes, Hash, HashReader, ReadHashesError, TREE_SIZE_MAX,
};

/// Most hashes a proof from outside may hold. In a tree of `n` leaves an inclusion proof has at
/// most ⌈log2 n⌉ hashes and a consistency proof at most ⌈log2 n⌉ + 1, so for every tree up to
/// [`TREE_SIZE_MAX`] (2^62) both fit; a longer proof is refused before any hashing.
pub const PROOF_HASHES_MAX: usize = 64;

/// Why a proof could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("no inclusion proof for index {index} in a tree of size {tree_size}")]
    IndexOutOfRange { index: u64, tree_size: u64 },
    #[error("no consistency proof from size {old_size} to size {new_size}")]
    SizesOutOfRange { old_size: u64, new_size: u64 },
    #[error("reading stored hashes for the proof")]
    Read(#[from] ReadHashesError),
}

/// Why a proof does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckProofError {
    #[error("index {index} is outside a tree of size {tree_size}")]
    IndexOutOfRange { index: u64, tree_size: u64 },
    #[error("size {old_size} cannot be a prefix of size {new_size}")]
    SizesOutOfRange { old_size: u64, new_size: u64 },
    #[error("proof has {count} hashes, more than the {max} allowed")]
    TooLong { count: usize, max: usize },
    #[error("proof does not lead to the expected root")]
    Mismatch,
}

/// The inclusion proof (audit path) of leaf `index` in the tree of size `tree_size`.
pub fn prove_inclusion<R: HashReader + ?Sized>(
    tree_size: u64,
    index: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProveError> {
    if index >= tree_size || tree_size > TREE_SIZE_MAX {
        return Err(ProveError::IndexOutOfRange { index, tree_size });
    }
    let mut indexes = Vec::with_capacity(64);
    leaf_proof_indexes(0, tree_size, index, &mut indexes);
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = read_exact(reader, &indexes)?;
    let mut proof = Vec::with_capacity(indexes.len());
    leaf_proof(0, tree_size, index, &hashes, &mut proof);
    Ok(proof)
}

fn leaf_proof_indexes(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    if lo + 1 == hi {
        return;
    }
    let (k, _) = largest_power_of_two_below(hi - lo);
    if n < lo + k {
        leaf_proof_indexes(lo, lo + k, n, need);
        subtree_indexes(lo + k, hi, need);
    } else {
        subtree_indexes(lo, lo + k, need);
        leaf_proof_indexes(lo + k, hi, n, need);
    }
}

/// Walks down toward leaf `n`, consuming hashes in the order of `leaf_proof_indexes`, and
/// pushes the sibling hashes deepest first.
fn leaf_proof<'a>(
    lo: u64,
    hi: u64,
    n: u64,
    hashes: &'a [Hash],
    proof: &mut Vec<Hash>,
) -> &'a [Hash] {
    if lo + 1 == hi {
        return hashes;
    }
    let (k, _) = largest_power_of_two_below(hi - lo);
    if n < lo + k {
        let rest = leaf_proof(lo, lo + k, n, hashes, proof);
        let (sibling, rest) = subtree_hash(lo + k, hi, rest);
        proof.push(sibling);
        rest
    } else {
        let (sibling, rest) = subtree_hash(lo, lo + k, hashes);
        let rest = leaf_proof(lo + k, hi, n, rest, proof);
        proof.push(sibling);
        rest
    }
}

/// Check that `proof` shows leaf `index` with hash `leaf` is in the tree of size `tree_size`
/// with root `root`. Go: `tlog.CheckRecord`.
pub fn check_inclusion(
    proof: &[Hash],
    tree_size: u64,
    root: &Hash,
    index: u64,
    leaf: &Hash,
) -> Result<(), CheckProofError> {
    if index >= tree_size || tree_size > TREE_SIZE_MAX {
        return Err(CheckProofError::IndexOutOfRange { index, tree_size });
    }
    if proof.len() > PROOF_HASHES_MAX {
        return Err(CheckProofError::TooLong {
            count: proof.len(),
            max: PROOF_HASHES_MAX,
        });
    }
    match run_inclusion(proof, 0, tree_size, index, leaf) {
        Some(computed) if computed == *root => Ok(()),
        _ => Err(CheckProofError::Mismatch),
    }
}

/// The root implied by `proof` for the subtree `[lo, hi)`; `None` if the length is wrong.
fn run_inclusion(proof: &[Hash], lo: u64, hi: u64, n: u64, leaf: &Hash) -> Option<Hash> {
    if lo + 1 == hi {
        return proof.is_empty().then_some(*leaf);
    }
    let (sibling, rest) = proof.split_last()?;
    let (k, _) = largest_power_of_two_below(hi - lo);
    if n < lo + k {
        let left = run_inclusion(rest, lo, lo + k, n, leaf)?;
        Some(node_hash(&left, sibling))
    } else {
        let right = run_inclusion(rest, lo + k, hi, n, leaf)?;
        Some(node_hash(sibling, &right))
    }
}

/// The consistency proof that the tree of size `old_size` is a prefix of the tree of size
/// `new_size`. Empty when `old_size` is 0 or equals `new_size` (RFC 9162 §2.1.4).
pub fn prove_consistency<R: HashReader + ?Sized>(
    old_size: u64,
    new_size: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProveError> {
    if old_size > new_size || new_size > TREE_SIZE_MAX {
        return Err(ProveError::SizesOutOfRange { old_size, new_size });
    }
    if old_size == 0 {
        return Ok(Vec::new());
    }
    let mut indexes = Vec::with_capacity(64);
    tree_proof_indexes(0, new_size, old_size, &mut indexes);
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = read_exact(reader, &indexes)?;
    let mut proof = Vec::with_capacity(indexes.len());
    tree_proof(0, new_size, old_size, &hashes, &mut proof);
    Ok(proof)
}

fn tree_proof_indexes(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    if n == hi {
        if lo != 0 {
            subtree_indexes(lo, hi, need);
        }
        return;
    }
    let (k, _) = largest_power_of_two_below(hi - lo);
    if n <= lo + k {
        tree_proof_indexes(lo, lo + k, n, need);
        subtree_indexes(lo + k, hi, need);
    } else {
        subtree_indexes(lo, lo + k, need);
        tree_proof_indexes(lo + k, hi, n, need);
    }
}

fn tree_proof<'a>(
    lo: u64,
    hi: u64,
    n: u64,
    hashes: &'a [Hash],
    proof: &mut Vec<Hash>,
) -> &'a [Hash] {
    if n == hi {
        if lo == 0 {
            // This subtree is exactly the old tree; the verifier knows its hash.
            return hashes;
        }
        let (hash, rest) = subtree_hash(lo, hi, hashes);
        proof.push(hash);
        return rest;
    }
    let (k, _) = largest_power_of_two_below(hi - lo);
    if n <= lo + k {
        let rest = tree_proof(lo, lo + k, n, hashes, proof);
        let (sibling, rest) = subtree_hash(lo + k, hi, rest);
        proof.push(sibling);
        rest
    } else {
        let (sibling, rest) = subtree_hash(lo, lo + k, hashes);
        let rest = tree_proof(lo + k, hi, n, rest, proof);
        proof.push(sibling);
        rest
    }
}

/// Check that `proof` shows the tree of size `old_size` with root `old_root` is a prefix of
/// the tree of size `new_size` with root `new_root`. Go: `tlog.CheckTree`, extended to
/// `old_size` 0 (empty proof, `old_root` the empty-tree hash, RFC 9162 §2.1.4).
pub fn check_consistency(
    proof: &[Hash],
    old_size: u64,
    old_root: &Hash,
    new_size: u64,
    new_root: &Hash,
) -> Result<(), CheckProofError> {
    if old_size > new_size || new_size > TREE_SIZE_MAX {
        return Err(CheckProofError::SizesOutOfRange { old_size, new_size });
    }
    if proof.len() > PROOF_HASHES_MAX {
        return Err(CheckProofError::TooLong {
            count: proof.len(),
            max: PROOF_HASHES_MAX,
        });
    }
    if old_size == 0 {
        if proof.is_empty() && *old_root == empty_tree_hash() {
            return Ok(());
        }
        return Err(CheckProofError::Mismatch);
    }
    match run_consistency(proof, 0, new_size, old_size, old_root) {
        Some((old, new)) if old == *old_root && new == *new_root => Ok(()),
        _ => Err(CheckProofError::Mismatch),
    }
}

/// The (old, new) hashes of the subtree `[lo, hi)` implied by `proof`.
fn run_consistency(proof: &[Hash], lo: u64, hi: u64, n: u64, old: &Hash) -> Option<(Hash, Hash)> {
    if n == hi {
        if lo == 0 {
            return proof.is_empty().then_some((*old, *old));
        }
        return match proof {
            [only] => Some((*only, *only)),
            _ => None,
        };
    }
    let (sibling, rest) = proof.split_last()?;
    let (k, _) = largest_power_of_two_below(hi - lo);
    if n <= lo + k {
        let (old_hash, new_hash) = run_consistency(rest, lo, lo + k, n, old)?;
        Some((old_hash, node_hash(&new_hash, sibling)))
    } else {
        let (old_hash, new_hash) = run_consistency(rest, lo + k, hi, n, old)?;
        Some((node_hash(sibling, &old_hash), node_hash(sibling, &new_hash)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, stored_hashes, tree_hash};

    fn build(count: u64) -> (Vec<Hash>, Vec<Hash>, Vec<Hash>) {
        let mut store = Vec::new();
        let mut leaves = Vec::new();
        let mut roots = vec![empty_tree_hash()];
        for n in 0..count {
            let data = format!("leaf-{n}");
            leaves.push(leaf_hash(data.as_bytes()));
            let hashes = stored_hashes(n, data.as_bytes(), &store).unwrap();
            store.extend(hashes);
            roots.push(tree_hash(n + 1, &store).unwrap());
        }
        (store, leaves, roots)
    }

    #[test]
    fn every_inclusion_proof_up_to_64_verifies_and_only_for_its_leaf() {
        let (store, leaves, roots) = build(64);
        for size in 1..=64u64 {
            for index in 0..size {
                let proof = prove_inclusion(size, index, &store).unwrap();
                let root = &roots[size as usize];
                let leaf = &leaves[index as usize];
                check_inclusion(&proof, size, root, index, leaf).unwrap();
                if size > 1 {
                    let other = (index + 1) % size;
                    assert_eq!(
                        check_inclusion(&proof, size, root, other, leaf),
                        Err(CheckProofError::Mismatch),
                        "size {size} index {index} passed as {other}"
                    );
                }
                let mut longer = proof.clone();
                longer.push(*leaf);
                assert!(check_inclusion(&longer, size, root, index, leaf).is_err());
                if let Some((_, shorter)) = proof.split_last() {
                    assert!(check_inclusion(shorter, size, root, index, leaf).is_err());
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_up_to_64_verifies() {
        let (store, _, roots) = build(64);
        for new_size in 0..=64u64 {
            for old_size in 0..=new_size {
                let proof = prove_consistency(old_size, new_size, &store).unwrap();
                let old_root = &roots[old_size as usize];
                let new_root = &roots[new_size as usize];
                check_consistency(&proof, old_size, old_root, new_size, new_root)
                    .unwrap_or_else(|e| panic!("{old_size}->{new_size}: {e}"));
                if old_size > 0 && old_size < new_size {
                    let wrong_old = &roots[old_size as usize - 1];
                    assert!(
                        check_consistency(&proof, old_size, wrong_old, new_size, new_root).is_err()
                    );
                    let wrong_new = &roots[new_size as usize - 1];
                    assert!(
                        check_consistency(&proof, old_size, old_root, new_size, wrong_new).is_err()
                    );
                }
            }
        }
    }

    #[test]
    fn flipping_any_bit_of_a_proof_breaks_it() {
        let (store, leaves, roots) = build(13);
        let proof = prove_inclusion(13, 6, &store).unwrap();
        for position in 0..proof.len() {
            for byte in 0..32 {
                let mut bad = proof.clone();
                bad[position].0[byte] ^= 0x01;
                assert!(check_inclusion(&bad, 13, &roots[13], 6, &leaves[6]).is_err());
            }
        }
        let proof = prove_consistency(5, 13, &store).unwrap();
        for position in 0..proof.len() {
            for byte in 0..32 {
                let mut bad = proof.clone();
                bad[position].0[byte] ^= 0x80;
                assert!(check_consistency(&bad, 5, &roots[5], 13, &roots[13]).is_err());
            }
        }
    }

    #[test]
    fn proof_length_limit_boundary() {
        let root = empty_tree_hash();
        let at_limit = vec![root; PROOF_HASHES_MAX];
        // 64 hashes is accepted for checking (and fails only on the math).
        assert_eq!(
            check_inclusion(&at_limit, TREE_SIZE_MAX, &root, 0, &root),
            Err(CheckProofError::Mismatch)
        );
        let over = vec![root; PROOF_HASHES_MAX + 1];
        assert_eq!(
            check_inclusion(&over, TREE_SIZE_MAX, &root, 0, &root),
            Err(CheckProofError::TooLong {
                count: PROOF_HASHES_MAX + 1,
                max: PROOF_HASHES_MAX
            })
        );
        assert!(matches!(
            check_consistency(&over, 1, &root, 2, &root),
            Err(CheckProofError::TooLong { .. })
        ));
    }

    #[test]
    fn out_of_range_inputs_are_errors() {
        let (store, leaves, roots) = build(4);
        assert!(matches!(
            prove_inclusion(4, 4, &store),
            Err(ProveError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            prove_consistency(5, 4, &store),
            Err(ProveError::SizesOutOfRange { .. })
        ));
        assert!(matches!(
            prove_inclusion(8, 0, &store),
            Err(ProveError::Read(ReadHashesError::Missing { .. }))
        ));
        assert_eq!(
            check_inclusion(&[], 0, &roots[0], 0, &leaves[0]),
            Err(CheckProofError::IndexOutOfRange {
                index: 0,
                tree_size: 0
            })
        );
        assert!(check_consistency(&[], 0, &leaves[0], 4, &roots[4]).is_err());
    }
}

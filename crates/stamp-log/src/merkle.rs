//! RFC 6962 §2.1 Merkle tree hashing and the stored-hash layout of Go's `golang.org/x/mod/sumdb/tlog`.
//!
//! A log of `n` leaves keeps, for each leaf, its leaf hash and the hash of every perfect subtree
//! that leaf completes (`1 + trailing_ones(n)` hashes, just under two on average). They are
//! numbered densely by [`stored_hash_index`] (Crosby & Wallach, "Efficient Data Structures for
//! Tamper-Evident Logging", §3.3), so a store is an append-only array of hashes. Every tree hash
//! and proof is then O(log n) reads through a [`HashReader`].
//!
//! No I/O here: storage comes in through [`HashReader`].

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// Length of every hash in the tree (SHA-256).
pub const HASH_BYTES: usize = 32;

/// Largest tree size stamp handles (2^62 leaves). Keeps every stored-hash index below 2^63, so
/// it fits SQLite's signed 64-bit integers, and every proof within [`crate::PROOF_HASHES_MAX`].
pub const TREE_SIZE_MAX: u64 = 1 << 62;

/// A SHA-256 value: a leaf hash, an interior node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_BYTES]);

/// Why text is not a hash.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseHashError {
    #[error("hash `{0}` is not 64 lower-case hex characters")]
    Hex(String),
    #[error("hash `{0}` is not 32 bytes in canonical standard base64")]
    Base64(String),
}

impl Hash {
    /// Take 32 bytes from a slice of exactly that length.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        <[u8; HASH_BYTES]>::try_from(bytes).ok().map(Hash)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Parse 64 lower-case hex characters.
    pub fn from_hex(text: &str) -> Result<Hash, ParseHashError> {
        let lower = text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let mut out = [0u8; HASH_BYTES];
        if text.len() != 2 * HASH_BYTES || !lower || hex::decode_to_slice(text, &mut out).is_err() {
            return Err(ParseHashError::Hex(text.to_string()));
        }
        Ok(Hash(out))
    }

    /// Parse canonical standard base64 (44 characters with one `=`), as in checkpoints.
    pub fn from_base64(text: &str) -> Result<Hash, ParseHashError> {
        let bytes = BASE64
            .decode(text)
            .map_err(|_| ParseHashError::Base64(text.to_string()))?;
        Hash::from_slice(&bytes).ok_or_else(|| ParseHashError::Base64(text.to_string()))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

/// RFC 6962 §2.1 leaf hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// SHA-256 initial state (FIPS 180-4 §5.3.3).
const SHA256_INITIAL_STATE: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// RFC 6962 §2.1 interior node hash: SHA-256(0x01 ‖ left ‖ right).
///
/// The 65-byte input is always two padded blocks, so this calls sha2's block function
/// directly: the hottest function of verification and proofs, and sha2's generic buffering
/// code would otherwise be compiled at this crate's (unoptimized, in tests) level. Checked
/// against `Sha256::digest` in the tests below.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    // FIPS 180-4 §5.1.1 padding: message, 0x80, zeros, bit length (520) big-endian.
    let mut blocks = [[0u8; 64]; 2];
    blocks[0][0] = 0x01;
    blocks[0][1..33].copy_from_slice(&left.0);
    blocks[0][33..64].copy_from_slice(&right.0[..31]);
    blocks[1][0] = right.0[31];
    blocks[1][1] = 0x80;
    blocks[1][56..64].copy_from_slice(&(((1 + 2 * HASH_BYTES) as u64) * 8).to_be_bytes());
    let mut state = SHA256_INITIAL_STATE;
    sha2::compress256(&mut state, &[blocks[0].into(), blocks[1].into()]);
    let mut out = [0u8; HASH_BYTES];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    Hash(out)
}

/// RFC 6962 §2.1 hash of the empty tree: SHA-256 of no bytes. (Go's tlog returns all zeros
/// for size 0; stamp follows the RFC.)
pub fn empty_tree_hash() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// The dense storage index of the hash of the perfect subtree at `level` covering leaves
/// `[n·2^level, (n+1)·2^level)`. Go: `tlog.StoredHashIndex`.
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    // Level L's n'th hash is written right after level L+1's 2n+1'th hash:
    // walk down to level 0, then level 0's n'th hash is at n + n/2 + n/4 + ….
    let mut n = n;
    for _ in 0..level {
        n = 2 * n + 1;
    }
    let mut index = 0u64;
    while n > 0 {
        index += n;
        n >>= 1;
    }
    index + u64::from(level)
}

/// The inverse of [`stored_hash_index`]: `(level, n)`. Go: `tlog.SplitStoredHashIndex`.
pub fn split_stored_hash_index(index: u64) -> (u32, u64) {
    // stored_hash_index(0, n) < 2n, so the record we want is in [index/2, index/2 + log2(index)].
    let mut n = index / 2;
    let mut index_n = stored_hash_index(0, n);
    loop {
        // Each new record n adds 1 + trailing_ones(n) hashes.
        let next = index_n + 1 + u64::from((n + 1).trailing_zeros());
        if next > index {
            break;
        }
        n += 1;
        index_n = next;
    }
    let level = (index - index_n) as u32;
    (level, n >> level)
}

/// How many hashes a tree of `n` leaves stores. Go: `tlog.StoredHashCount`.
pub fn stored_hash_count(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    stored_hash_index(0, n - 1) + 1 + u64::from((n - 1).trailing_ones())
}

/// Why stored hashes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadHashesError {
    #[error("stored hash {stored_index} is missing")]
    Missing { stored_index: u64 },
    #[error("stored hash {stored_index} is not {HASH_BYTES} bytes")]
    Malformed { stored_index: u64 },
    #[error("hash reader returned {returned} hashes for {requested} indexes")]
    WrongCount { requested: usize, returned: usize },
    #[error("reading stored hashes from storage")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Reads stored hashes by index. Go: `tlog.HashReader`.
pub trait HashReader {
    /// The hashes at `stored_indexes`, in the same order; same length or an error.
    fn read_hashes(&self, stored_indexes: &[u64]) -> Result<Vec<Hash>, ReadHashesError>;
}

impl HashReader for [Hash] {
    fn read_hashes(&self, stored_indexes: &[u64]) -> Result<Vec<Hash>, ReadHashesError> {
        stored_indexes
            .iter()
            .map(|&stored_index| {
                usize::try_from(stored_index)
                    .ok()
                    .and_then(|position| self.get(position))
                    .copied()
                    .ok_or(ReadHashesError::Missing { stored_index })
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, stored_indexes: &[u64]) -> Result<Vec<Hash>, ReadHashesError> {
        self.as_slice().read_hashes(stored_indexes)
    }
}

pub(crate) fn read_exact<R: HashReader + ?Sized>(
    reader: &R,
    stored_indexes: &[u64],
) -> Result<Vec<Hash>, ReadHashesError> {
    let hashes = reader.read_hashes(stored_indexes)?;
    if hashes.len() != stored_indexes.len() {
        return Err(ReadHashesError::WrongCount {
            requested: stored_indexes.len(),
            returned: hashes.len(),
        });
    }
    Ok(hashes)
}

/// The hashes to store when appending leaf `n` with hash `leaf`, starting at
/// `stored_hash_index(0, n)`: the leaf hash, then one hash per perfect subtree it completes.
/// Reads at most log2(n) earlier hashes. Go: `tlog.StoredHashesForRecordHash`.
pub fn stored_hashes_for_leaf_hash<R: HashReader + ?Sized>(
    n: u64,
    leaf: Hash,
    reader: &R,
) -> Result<Vec<Hash>, ReadHashesError> {
    // Each trailing 1 bit of n completes a subtree with the adjacent subtree to its left.
    let merges = (n + 1).trailing_zeros();
    let indexes: Vec<u64> = (0..merges)
        .rev()
        .map(|level| stored_hash_index(level, (n >> level) - 1))
        .collect();
    let old = read_exact(reader, &indexes)?;
    let mut hashes = Vec::with_capacity(1 + merges as usize);
    let mut hash = leaf;
    hashes.push(hash);
    for level in 0..merges as usize {
        hash = node_hash(&old[merges as usize - 1 - level], &hash);
        hashes.push(hash);
    }
    Ok(hashes)
}

/// [`stored_hashes_for_leaf_hash`] for leaf data. Go: `tlog.StoredHashes`.
pub fn stored_hashes<R: HashReader + ?Sized>(
    n: u64,
    data: &[u8],
    reader: &R,
) -> Result<Vec<Hash>, ReadHashesError> {
    stored_hashes_for_leaf_hash(n, leaf_hash(data), reader)
}

/// `k`, the largest power of two smaller than `n` (for n ≥ 2; 1 for n ≤ 1), and log2(k).
pub(crate) fn largest_power_of_two_below(n: u64) -> (u64, u32) {
    if n <= 1 {
        return (1, 0);
    }
    let level = 63 - (n - 1).leading_zeros();
    (1 << level, level)
}

/// Append to `need` the stored indexes of the perfect subtrees that make up leaves `[lo, hi)`.
pub(crate) fn subtree_indexes(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    while lo < hi {
        let (k, level) = largest_power_of_two_below(hi - lo + 1);
        debug_assert_eq!(lo & (k - 1), 0, "subtree not aligned");
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

/// The hash of leaves `[lo, hi)` from the hashes read for [`subtree_indexes`]`(lo, hi)`,
/// taken from the front of `hashes`; returns the rest.
pub(crate) fn subtree_hash(mut lo: u64, hi: u64, hashes: &[Hash]) -> (Hash, &[Hash]) {
    let mut count = 0usize;
    while lo < hi {
        let (k, _) = largest_power_of_two_below(hi - lo + 1);
        count += 1;
        lo += k;
    }
    let (used, rest) = hashes.split_at(count.min(hashes.len()));
    let mut iter = used.iter().rev();
    let mut hash = iter.next().copied().unwrap_or_default();
    for left in iter {
        hash = node_hash(left, &hash);
    }
    (hash, rest)
}

/// The root hash of the tree of the first `n` leaves, from at most 1 + log2(n) stored hashes.
/// Go: `tlog.TreeHash` (except size 0, see [`empty_tree_hash`]).
pub fn tree_hash<R: HashReader + ?Sized>(n: u64, reader: &R) -> Result<Hash, ReadHashesError> {
    if n == 0 {
        return Ok(empty_tree_hash());
    }
    let mut indexes = Vec::with_capacity(64);
    subtree_indexes(0, n, &mut indexes);
    let hashes = read_exact(reader, &indexes)?;
    Ok(subtree_hash(0, n, &hashes).0)
}

/// The roots of the perfect subtrees of a tree, left to right (a "compact range" from 0).
/// Appending leaves one at a time keeps it current; [`Frontier::root`] folds it to the tree hash.
/// Used by verification to recompute every stored hash in one streaming pass.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    size: u64,
    subtrees: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Self {
        Frontier::default()
    }

    /// Number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Push the next leaf hash; returns the hashes a store must hold for it, in stored order
    /// (the same values [`stored_hashes_for_leaf_hash`] computes).
    pub fn push(&mut self, leaf: Hash) -> Vec<Hash> {
        let merges = self.size.trailing_ones();
        let mut produced = Vec::with_capacity(1 + merges as usize);
        let mut hash = leaf;
        produced.push(hash);
        for _ in 0..merges {
            let left = self.subtrees.pop().unwrap_or_default();
            hash = node_hash(&left, &hash);
            produced.push(hash);
        }
        self.subtrees.push(hash);
        self.size += 1;
        produced
    }

    /// The tree hash of all leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.subtrees.iter().rev();
        let Some(&last) = iter.next() else {
            return empty_tree_hash();
        };
        iter.fold(last, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962 §2.1 MTH, computed directly from the definition.
    pub(crate) fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_tree_hash(),
            1 => leaves[0],
            n => {
                let (k, _) = largest_power_of_two_below(n as u64);
                let k = k as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn node_hash_equals_the_generic_sha256() {
        let mut left = leaf_hash(b"left");
        let mut right = leaf_hash(b"right");
        for round in 0..500u32 {
            let mut input = vec![0x01];
            input.extend_from_slice(&left.0);
            input.extend_from_slice(&right.0);
            let expected = Hash(Sha256::digest(&input).into());
            assert_eq!(node_hash(&left, &right), expected, "round {round}");
            left = expected;
            right = leaf_hash(&round.to_be_bytes());
        }
    }

    #[test]
    fn stored_hash_index_matches_go_layout() {
        // From tlog_test.go TestStoredHashIndex and the layout comment: 0:(0,0) 1:(0,1) 2:(1,0) 3:(0,2)…
        let expected = [
            (0, 0, 0),
            (0, 1, 1),
            (1, 0, 2),
            (0, 2, 3),
            (0, 3, 4),
            (1, 1, 5),
            (2, 0, 6),
            (0, 4, 7),
        ];
        for (level, n, index) in expected {
            assert_eq!(stored_hash_index(level, n), index, "({level},{n})");
            assert_eq!(split_stored_hash_index(index), (level, n));
        }
        for index in 0..5000 {
            let (level, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(level, n), index);
        }
    }

    #[test]
    fn stored_hashes_build_every_tree_hash() {
        let mut store: Vec<Hash> = Vec::new();
        let mut frontier = Frontier::new();
        let mut leaves = Vec::new();
        for n in 0..300u64 {
            let data = format!("leaf-{n}");
            let leaf = leaf_hash(data.as_bytes());
            leaves.push(leaf);
            assert_eq!(store.len() as u64, stored_hash_index(0, n));
            let hashes = stored_hashes(n, data.as_bytes(), &store).unwrap();
            assert_eq!(frontier.push(leaf), hashes);
            store.extend(hashes);
            assert_eq!(store.len() as u64, stored_hash_count(n + 1));
            let root = tree_hash(n + 1, &store).unwrap();
            assert_eq!(root, reference_root(&leaves));
            assert_eq!(frontier.root(), root);
        }
        assert_eq!(tree_hash(0, &store).unwrap(), empty_tree_hash());
    }

    #[test]
    fn hash_text_forms_round_trip_and_reject_bad_input() {
        let hash = leaf_hash(b"x");
        assert_eq!(Hash::from_hex(&hash.to_hex()).unwrap(), hash);
        assert_eq!(Hash::from_base64(&hash.to_base64()).unwrap(), hash);
        assert!(Hash::from_hex(&hash.to_hex().to_uppercase()).is_err());
        assert!(Hash::from_hex("00").is_err());
        assert!(Hash::from_base64("AAAA").is_err());
        let mut almost = hash.to_base64();
        almost.pop();
        assert!(Hash::from_base64(&almost).is_err());
    }

    #[test]
    fn missing_hash_is_an_error_not_a_panic() {
        let store: Vec<Hash> = vec![leaf_hash(b"a")];
        assert!(matches!(
            tree_hash(2, &store),
            Err(ReadHashesError::Missing { stored_index: 2 })
        ));
    }
}

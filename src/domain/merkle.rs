//! The Merkle log over the audit trail (RFC 6962 / RFC 9162): leaf and node hashing, the tree
//! head, inclusion and consistency proofs, and their verification.
//!
//! The tree's perfect subtrees are stored (`log_nodes`: level, index → hash), so that every
//! subtree hash a proof needs is at most O(log n) stored nodes combined. Proof generation is
//! written against [`Nodes`]; because which nodes a proof reads depends only on the index and
//! the sizes, never on hashes, a caller can first run it with a [`Recorder`] to learn the nodes
//! needed, fetch them in one query, then run it again with a [`NodeMap`].
//!
//! Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 to the letter and checks every part of
//! a proof: the index against the size, every element consumed, nothing left over, both roots.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// Where proofs read perfect subtree hashes: `node(level, index)` is the root of leaves
/// `index·2^level .. (index+1)·2^level` (level 0: the leaf hashes).
pub trait Nodes {
    /// One stored node.
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, ProofError>;
}

/// Why a proof could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The sizes or the index are out of range.
    #[error("{0}")]
    OutOfRange(String),
    /// A node the proof needs is not stored.
    #[error("node ({0}, {1}) is missing from the log")]
    MissingNode(u32, u64),
}

/// Records which nodes a proof reads, answering zeros.
#[derive(Debug, Default)]
pub struct Recorder(pub Vec<(u32, u64)>);

impl Nodes for Recorder {
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, ProofError> {
        self.0.push((level, index));
        Ok([0; 32])
    }
}

/// Nodes held in memory.
#[derive(Debug, Default)]
pub struct NodeMap(pub HashMap<(u32, u64), Hash>);

impl Nodes for NodeMap {
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, ProofError> {
        self.0.get(&(level, index)).copied().ok_or(ProofError::MissingNode(level, index))
    }
}

/// A proof's two passes: first recording which nodes it reads, then answering them from the
/// nodes fetched (see the module's head).
#[derive(Debug)]
pub enum TwoPass {
    /// Learning which nodes are read.
    Record(Recorder),
    /// Answering from fetched nodes.
    Serve(NodeMap),
}

impl Nodes for TwoPass {
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, ProofError> {
        match self {
            Self::Record(r) => r.node(level, index),
            Self::Serve(m) => m.node(level, index),
        }
    }
}

/// The hash of leaves `start..end`, where `start` is a multiple of the smallest power of two
/// ≥ `end − start` (every subtree RFC 6962's recursion visits is): one stored node when the
/// range is a perfect subtree, else the left perfect part and the rest, recursively.
pub fn subtree<N: Nodes>(nodes: &mut N, start: u64, end: u64) -> Result<Hash, ProofError> {
    let n = end - start;
    if n.is_power_of_two() {
        let level = n.trailing_zeros();
        return nodes.node(level, start >> level);
    }
    let k = split(n);
    let left = subtree(nodes, start, start + k)?;
    let right = subtree(nodes, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree of the first `size` leaves.
pub fn root<N: Nodes>(nodes: &mut N, size: u64) -> Result<Hash, ProofError> {
    if size == 0 { Ok(empty_root()) } else { subtree(nodes, 0, size) }
}

/// RFC 6962 §2.1.1 PATH(m, D[start:end]).
fn path<N: Nodes>(nodes: &mut N, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) -> Result<(), ProofError> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(nodes, m, start, start + k, out)?;
        out.push(subtree(nodes, start + k, end)?);
    } else {
        path(nodes, m - k, start + k, end, out)?;
        out.push(subtree(nodes, start, start + k)?);
    }
    Ok(())
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof<N: Nodes>(nodes: &mut N, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange(format!("leaf {index} is not in a tree of {size}")));
    }
    let mut out = Vec::new();
    path(nodes, index, 0, size, &mut out)?;
    Ok(out)
}

/// RFC 6962 §2.1.2 SUBPROOF(m, D[start:end], b).
fn subproof<N: Nodes>(
    nodes: &mut N,
    m: u64,
    (start, end): (u64, u64),
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(subtree(nodes, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(nodes, m, (start, start + k), whole, out)?;
        out.push(subtree(nodes, start + k, end)?);
    } else {
        subproof(nodes, m - k, (start + k, end), false, out)?;
        out.push(subtree(nodes, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of `from` leaves to the tree of `to` leaves
/// (0 < from ≤ to).
pub fn consistency_proof<N: Nodes>(nodes: &mut N, from: u64, to: u64) -> Result<Vec<Hash>, ProofError> {
    if from == 0 || from > to {
        return Err(ProofError::OutOfRange(format!("no consistency proof from {from} to {to}")));
    }
    let mut out = Vec::new();
    if from < to {
        subproof(nodes, from, (0, to), true, &mut out)?;
    }
    Ok(out)
}

/// RFC 9162 §2.1.3.2: whether `proof` shows leaf `leaf` at `index` in the tree of `size`
/// leaves whose root is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: whether `proof` shows the tree of `from` leaves with root `old` to be a
/// prefix of the tree of `to` leaves with root `new`.
pub fn verify_consistency(from: u64, to: u64, old: &Hash, new: &Hash, proof: &[Hash]) -> bool {
    if from == 0 || from > to {
        return false;
    }
    if from == to {
        return proof.is_empty() && old == new;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if from.is_power_of_two() {
        path.push(*old);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else { return false };
    let (mut f, mut s) = (from - 1, to - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old && sr == *new && s == 0
}

/// The right edge of a growing tree: the perfect subtrees its size decomposes into, largest
/// first. Appending a leaf merges equal neighbours and reports every node completed, so that
/// the sequencer stores each node once, when it is complete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    /// (level, index, hash), levels strictly decreasing.
    pub peaks: Vec<(u32, u64, Hash)>,
    size: u64,
}

impl Frontier {
    /// The nodes the frontier of a tree of `size` leaves consists of, largest first.
    pub fn peaks_of(size: u64) -> Vec<(u32, u64)> {
        let mut start = 0;
        let mut out = Vec::new();
        for level in (0..64).rev() {
            if size & (1 << level) != 0 {
                out.push((level, start >> level));
                start += 1 << level;
            }
        }
        out
    }

    /// A frontier from its stored peaks (as `peaks_of(size)` lists them).
    pub fn from_peaks(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        let want = Self::peaks_of(size);
        (want.len() == hashes.len())
            .then(|| Self { peaks: want.into_iter().zip(hashes).map(|((l, i), h)| (l, i, h)).collect(), size })
    }

    /// How many leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; pushes every node it completes (the leaf included) onto `made`.
    pub fn push(&mut self, leaf: Hash, made: &mut Vec<(u32, u64, Hash)>) {
        let mut node = (0u32, self.size, leaf);
        made.push(node);
        while let Some(&(level, index, hash)) = self.peaks.last() {
            if level != node.0 {
                break;
            }
            self.peaks.pop();
            node = (level + 1, index >> 1, node_hash(&hash, &node.2));
            made.push(node);
        }
        self.peaks.push(node);
        self.size += 1;
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        let Some(&(_, _, mut acc)) = iter.next() else { return empty_root() };
        for &(_, _, h) in iter {
            acc = node_hash(&h, &acc);
        }
        acc
    }
}

/// Rebuilds a log of `size` leaves from its leaves met in any order (a verifier walks the trail
/// in `seq` order, which is the log's order but for events committed late), holding only those
/// that arrive before their turn: memory is the disorder, not the log. Each signed root is
/// compared when the tree reaches its size.
#[derive(Debug)]
pub struct LogReplay {
    size: u64,
    frontier: Frontier,
    early: std::collections::BTreeMap<u64, Hash>,
    /// Signed (size, root) pairs, largest first (popped as the tree reaches them).
    signed: Vec<(u64, Hash)>,
    mismatch: bool,
}

impl LogReplay {
    /// A replay of a log of `size` leaves, with the roots checkpoints signed at their sizes
    /// (sizes beyond `size` are left out: they are for a later replay).
    pub fn new(size: u64, signed: impl IntoIterator<Item = (u64, Hash)>) -> Self {
        Self::starting(Frontier::default(), size, signed.into_iter().collect())
    }

    /// A replay that goes on from a tree already verified (its `frontier`) to `size` leaves;
    /// only roots signed at sizes past the frontier's are compared (a root of a size already
    /// passed needs a consistency proof instead).
    pub fn resume(frontier: Frontier, size: u64, signed: impl IntoIterator<Item = (u64, Hash)>) -> Self {
        let start = frontier.size();
        Self::starting(frontier, size, signed.into_iter().filter(|(s, _)| *s > start).collect())
    }

    fn starting(frontier: Frontier, size: u64, mut signed: Vec<(u64, Hash)>) -> Self {
        signed.retain(|(s, _)| *s <= size);
        signed.sort_by_key(|s| std::cmp::Reverse(s.0));
        let mut replay = Self { size, frontier, early: Default::default(), signed, mismatch: false };
        replay.check_signed();
        replay
    }

    /// The leaf at `index`; an index at or past the log's size is not part of this log.
    pub fn push(&mut self, index: u64, leaf: Hash) {
        if index >= self.size || index < self.frontier.size() || self.early.insert(index, leaf).is_some() {
            // Past the log, or a position given twice: the second one cannot be the log's.
            self.mismatch |= index < self.size;
            return;
        }
        let mut made = Vec::new();
        while let Some(leaf) = self.early.remove(&self.frontier.size()) {
            self.frontier.push(leaf, &mut made);
            made.clear();
            self.check_signed();
        }
    }

    fn check_signed(&mut self) {
        while let Some(&(size, root)) = self.signed.last() {
            if size != self.frontier.size() {
                break;
            }
            self.mismatch |= root != self.frontier.root();
            self.signed.pop();
        }
    }

    /// The tree grown so far.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// Whether a leaf or a signed root already disagrees (the replay cannot match any more).
    pub fn mismatched(&self) -> bool {
        self.mismatch
    }

    /// Leaves held because they came before their turn.
    pub fn held(&self) -> usize {
        self.early.len()
    }

    /// Whether the leaves met make the log whose head root is `root`, with every signed root
    /// where it was signed.
    pub fn matches(&self, root: &Hash) -> bool {
        !self.mismatch && self.early.is_empty() && self.frontier.size() == self.size && self.frontier.root() == *root
    }
}

/// Lower-case hex.
pub fn to_hex(h: &Hash) -> String {
    hex::encode(h)
}

/// A hash from 64 hex digits.
pub fn from_hex(s: &str) -> Option<Hash> {
    hex::decode(s).ok()?.try_into().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DATA: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn h(s: &str) -> Hash {
        from_hex(s).unwrap()
    }

    /// A tree built leaf by leaf through the frontier, keeping every node it makes.
    fn build(leaves: &[Hash]) -> (NodeMap, Frontier) {
        let mut f = Frontier::default();
        let mut made = Vec::new();
        for l in leaves {
            f.push(*l, &mut made);
        }
        (NodeMap(made.into_iter().map(|(l, i, h)| ((l, i), h)).collect()), f)
    }

    fn rfc_leaves() -> Vec<Hash> {
        DATA.iter().map(|d| leaf_hash(&hex::decode(d).unwrap())).collect()
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn roots_match_rfc_6962() {
        let leaves = rfc_leaves();
        assert_eq!(empty_root(), h(ROOTS[0]));
        for n in 0..=8 {
            let (mut nodes, f) = build(&leaves[..n]);
            assert_eq!(root(&mut nodes, n as u64).unwrap(), h(ROOTS[n]), "size {n}");
            assert_eq!(f.root(), h(ROOTS[n]), "frontier root, size {n}");
        }
    }

    #[test]
    fn proofs_match_rfc_6962() {
        let (mut nodes, _) = build(&rfc_leaves());
        let inclusion: [(u64, u64, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        let leaves = rfc_leaves();
        for (index, size, want) in inclusion {
            let proof = inclusion_proof(&mut nodes, index, size).unwrap();
            assert_eq!(proof, want.iter().map(|s| h(s)).collect::<Vec<_>>(), "inclusion {index}/{size}");
            assert!(verify_inclusion(index, size, &leaves[index as usize], &proof, &h(ROOTS[size as usize])));
        }
        let consistency: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (from, to, want) in consistency {
            let proof = consistency_proof(&mut nodes, from, to).unwrap();
            assert_eq!(proof, want.iter().map(|s| h(s)).collect::<Vec<_>>(), "consistency {from}→{to}");
            assert!(verify_consistency(from, to, &h(ROOTS[from as usize]), &h(ROOTS[to as usize]), &proof));
        }
    }

    /// Every way of spoiling a valid inclusion proof is refused.
    /// `next_root` is the root of the tree one leaf larger: a proof for this size, checked as
    /// a proof for that tree (its size and its root), must fail. (With this size's root it may
    /// pass: an inclusion proof binds the size only through the root, which is why a
    /// checkpoint signs both.)
    fn inclusion_is_strict(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root_hash: &Hash, next_root: &Hash) {
        assert!(verify_inclusion(index, size, leaf, proof, root_hash), "{index}/{size}");
        let mut bad_leaf = *leaf;
        bad_leaf[0] ^= 1;
        assert!(!verify_inclusion(index, size, &bad_leaf, proof, root_hash));
        let mut bad_root = *root_hash;
        bad_root[31] ^= 1;
        assert!(!verify_inclusion(index, size, leaf, proof, &bad_root));
        for i in 0..proof.len() {
            let mut p = proof.to_vec();
            p[i][7] ^= 0x80;
            assert!(!verify_inclusion(index, size, leaf, &p, root_hash), "element {i} flipped");
            let mut p = proof.to_vec();
            p.remove(i);
            assert!(!verify_inclusion(index, size, leaf, &p, root_hash), "element {i} dropped");
        }
        let mut longer = proof.to_vec();
        longer.push(*leaf);
        assert!(!verify_inclusion(index, size, leaf, &longer, root_hash), "element added");
        assert!(!verify_inclusion(size, size, leaf, proof, root_hash), "index = size");
        if index + 1 < size {
            assert!(!verify_inclusion(index + 1, size, leaf, proof, root_hash), "wrong index");
        }
        assert!(!verify_inclusion(index, size + 1, leaf, proof, next_root), "wrong size {index}/{size}");
    }

    #[test]
    fn inclusion_proofs_verify_in_every_tree_to_130_and_in_large_odd_trees_and_nothing_forged_does() {
        let all = leaves(3000);
        let (mut nodes, _) = build(&all);
        for size in 1..=130u64 {
            let (r, next) = (root(&mut nodes, size).unwrap(), root(&mut nodes, size + 1).unwrap());
            for index in 0..size {
                let proof = inclusion_proof(&mut nodes, index, size).unwrap();
                inclusion_is_strict(index, size, &all[index as usize], &proof, &r, &next);
            }
        }
        for size in [255u64, 256, 257, 1000, 1023, 1024, 1025, 2047, 2998, 2999] {
            let (r, next) = (root(&mut nodes, size).unwrap(), root(&mut nodes, size + 1).unwrap());
            for index in [0, 1, size / 3, size / 2, size - 2, size - 1] {
                let proof = inclusion_proof(&mut nodes, index, size).unwrap();
                inclusion_is_strict(index, size, &all[index as usize], &proof, &r, &next);
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_between_every_pair_to_70_and_in_large_trees_and_nothing_forged_does() {
        let all = leaves(3000);
        let (mut nodes, _) = build(&all);
        let roots: Vec<Hash> = (0..=3000).map(|n| root(&mut nodes, n).unwrap()).collect();
        let check = |nodes: &mut NodeMap, from: u64, to: u64| {
            let (old, new) = (roots[from as usize], roots[to as usize]);
            let proof = consistency_proof(nodes, from, to).unwrap();
            assert!(verify_consistency(from, to, &old, &new, &proof), "{from}→{to}");
            let mut bad = old;
            bad[0] ^= 1;
            assert!(!verify_consistency(from, to, &bad, &new, &proof), "{from}→{to}: wrong old root");
            let mut bad = new;
            bad[0] ^= 1;
            assert!(!verify_consistency(from, to, &old, &bad, &proof), "{from}→{to}: wrong new root");
            for i in 0..proof.len() {
                let mut p = proof.clone();
                p[i][3] ^= 4;
                assert!(!verify_consistency(from, to, &old, &new, &p), "{from}→{to}: element {i} flipped");
                let mut p = proof.clone();
                p.remove(i);
                assert!(!verify_consistency(from, to, &old, &new, &p), "{from}→{to}: element {i} dropped");
            }
            let mut longer = proof.clone();
            longer.push(old);
            assert!(!verify_consistency(from, to, &old, &new, &longer), "{from}→{to}: element added");
            if to < 3000 {
                assert!(
                    !verify_consistency(from, to + 1, &old, &roots[to as usize + 1], &proof),
                    "{from}→{to}: wrong size"
                );
            }
        };
        for to in 1..=70 {
            for from in 1..=to {
                check(&mut nodes, from, to);
            }
        }
        for (from, to) in [(1, 3000), (7, 1025), (1024, 1025), (1000, 2999), (1500, 3000), (2047, 2048), (2999, 3000)] {
            check(&mut nodes, from, to);
        }
        assert!(!verify_consistency(0, 5, &roots[0], &roots[5], &[]));
        assert!(!verify_consistency(6, 5, &roots[6], &roots[5], &[]));
    }

    #[test]
    fn a_frontier_reloaded_from_its_peaks_goes_on_as_if_never_stopped() {
        let all = leaves(100);
        let (mut nodes, _) = build(&all);
        for size in [0u64, 1, 2, 3, 7, 8, 37, 63, 64, 99] {
            let peaks: Vec<Hash> = Frontier::peaks_of(size).iter().map(|&(l, i)| nodes.node(l, i).unwrap()).collect();
            let mut f = Frontier::from_peaks(size, peaks).unwrap();
            let mut made = Vec::new();
            for l in &all[size as usize..] {
                f.push(*l, &mut made);
            }
            assert_eq!(f.root(), root(&mut nodes, 100).unwrap(), "resumed at {size}");
            for (l, i, h) in made {
                assert_eq!(nodes.node(l, i).unwrap(), h);
            }
        }
    }

    #[test]
    fn a_recorder_names_exactly_the_nodes_a_proof_reads() {
        let all = leaves(1000);
        let (mut nodes, _) = build(&all);
        let mut rec = Recorder::default();
        inclusion_proof(&mut rec, 617, 999).unwrap();
        assert!(rec.0.len() <= 2 * 10 * 10);
        let mut subset = NodeMap(rec.0.iter().map(|k| (*k, nodes.0[k])).collect());
        assert_eq!(inclusion_proof(&mut subset, 617, 999).unwrap(), inclusion_proof(&mut nodes, 617, 999).unwrap());
    }

    #[test]
    fn a_log_replayed_from_leaves_in_any_order_has_the_root_and_checks_each_signed_one() {
        let leaves: Vec<Hash> = (0u8..13).map(|i| leaf_hash(&[i])).collect();
        let root_at = |n: usize| {
            let mut f = Frontier::default();
            let mut made = Vec::new();
            for l in &leaves[..n] {
                f.push(*l, &mut made);
            }
            f.root()
        };
        let order = [1usize, 0, 2, 5, 3, 4, 6, 7, 9, 8, 10, 12, 11];
        let signed = [(4u64, root_at(4)), (13, root_at(13)), (20, [9; 32])];
        let mut r = LogReplay::new(13, signed);
        for &i in &order {
            r.push(i as u64, leaves[i]);
        }
        assert!(r.matches(&root_at(13)));
        assert_eq!(r.held(), 0);
        // A wrong signed root, a missing leaf, an altered leaf, a leaf given twice: no match.
        let mut wrong = LogReplay::new(13, [(5u64, root_at(4))]);
        let mut missing = LogReplay::new(13, []);
        let mut altered = LogReplay::new(13, []);
        let mut twice = LogReplay::new(13, []);
        for &i in &order {
            wrong.push(i as u64, leaves[i]);
            if i != 7 {
                missing.push(i as u64, leaves[i]);
            }
            altered.push(i as u64, if i == 3 { leaf_hash(b"x") } else { leaves[i] });
            twice.push(i as u64, leaves[i]);
        }
        twice.push(2, leaves[2]);
        assert!(!wrong.matches(&root_at(13)));
        assert!(!missing.matches(&root_at(13)));
        assert_eq!(missing.held(), 5, "8..13 wait for 7");
        assert!(!altered.matches(&root_at(13)));
        assert!(!twice.matches(&root_at(13)));
    }
}

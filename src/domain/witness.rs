//! Witnesses of the Merkle log, in the C2SP formats: the `add-checkpoint` request of
//! c2sp.org/tlog-witness, what a witness decides about it, the trust policy an auditor holds
//! (a subset of c2sp.org/tlog-policy: logs, witnesses, groups, one quorum), and the
//! c2sp.org/tlog-proof bundle of one event.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::merkle::{self, Hash};
use super::note::{Checkpoint, NoteError, OpenedNote, VerifierKey, WitnessKey, read_note};

/// At most this many consistency-proof lines in a request (tlog-witness), or inclusion-proof
/// lines in a bundle (a tree of 2^63 leaves needs 63).
pub const MAX_PROOF_LINES: usize = 63;

/// An `add-checkpoint` request: the size the sender believes the witness last cosigned, the
/// consistency proof from it, and the new checkpoint note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The old size.
    pub old: u64,
    /// The consistency proof from `old` to the note's size.
    pub proof: Vec<Hash>,
    /// The note, with its signatures.
    pub note: String,
}

/// A decimal in its one spelling: no sign, no leading zero (except `0` itself).
fn decimal(text: &str) -> Option<u64> {
    let n: u64 = text.parse().ok()?;
    (n.to_string() == text).then_some(n)
}

/// A hash in canonical base64.
fn hash_line(line: &str) -> Option<Hash> {
    B64.decode(line).ok()?.try_into().ok()
}

/// The shape an add-checkpoint request and a tlog-proof bundle share: `head` (its lines), one
/// base64 line per hash, an empty line, then the note.
fn hashes_then_note(mut out: String, hashes: &[Hash], note: &str) -> String {
    for h in hashes {
        out.push_str(&B64.encode(h));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(note);
    out
}

/// Reads that shape: the `N` head lines, the hashes (at most [`MAX_PROOF_LINES`]) and the note.
fn split_hashes_note<const N: usize>(text: &str) -> Option<([&str; N], Vec<Hash>, &str)> {
    let (head, note) = text.split_once("\n\n")?;
    let mut lines = head.split('\n');
    let mut first = [""; N];
    for slot in &mut first {
        *slot = lines.next()?;
    }
    let hashes = lines.map(hash_line).collect::<Option<Vec<_>>>()?;
    (hashes.len() <= MAX_PROOF_LINES).then_some((first, hashes, note))
}

impl AddCheckpoint {
    /// The request body.
    pub fn to_body(&self) -> String {
        hashes_then_note(format!("old {}\n", self.old), &self.proof, &self.note)
    }

    /// Reads a request body; `None` when it is malformed (400).
    pub fn parse(body: &str) -> Option<Self> {
        let ([old], proof, note) = split_hashes_note(body)?;
        let old = decimal(old.strip_prefix("old ")?)?;
        Some(Self { old, proof, note: note.to_owned() })
    }
}

/// Why a witness refuses a checkpoint, with the status c2sp.org/tlog-witness gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the request or its note is malformed, or the old size is past the new one.
    #[error("malformed request")]
    Malformed,
    /// 404: the witness follows no log of this origin.
    #[error("unknown log")]
    UnknownOrigin,
    /// 403: no valid signature by the log's key.
    #[error("not signed by the log")]
    NotSigned,
    /// 409: the old size is not the size the witness last cosigned, which it tells.
    #[error("the witness last cosigned size {0}")]
    Conflict(u64),
    /// 422: the consistency proof fails (the log was rewritten or forked), or the same size
    /// comes with another root.
    #[error("not consistent with the checkpoint last cosigned")]
    Inconsistent,
}

impl Refusal {
    /// The HTTP status the protocol gives.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed => 400,
            Self::NotSigned => 403,
            Self::UnknownOrigin => 404,
            Self::Conflict(_) => 409,
            Self::Inconsistent => 422,
        }
    }
}

/// What a witness last cosigned for a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cosigned {
    /// The tree size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
}

/// A witness's decision on a request, given the log keys it trusts and what it last cosigned
/// for the note's origin (`None`: never). `Ok` is the checkpoint to record and cosign, with the
/// body to cosign; recording and answering must happen under one lock with this check.
pub fn decide(
    request: &AddCheckpoint,
    logs: &[VerifierKey],
    last: impl FnOnce(&str) -> Option<Cosigned>,
) -> Result<OpenedNote, Refusal> {
    let opened = read_note(&request.note).map_err(|_| Refusal::Malformed)?;
    let cp = &opened.checkpoint;
    let keys: Vec<&VerifierKey> = logs.iter().filter(|k| k.name() == cp.origin).collect();
    if keys.is_empty() {
        return Err(Refusal::UnknownOrigin);
    }
    // A line of a trusted key that fails makes the note malformed, even beside a valid one.
    if !keys.iter().any(|k| matches!(k.check(&request.note), Ok((true, _))))
        || keys.iter().any(|k| k.has_failing_line(&request.note))
    {
        return Err(Refusal::NotSigned);
    }
    if request.old > cp.size {
        return Err(Refusal::Malformed);
    }
    let last = last(&cp.origin);
    let last_size = last.map_or(0, |l| l.size);
    if request.old != last_size {
        return Err(Refusal::Conflict(last_size));
    }
    if cp.size == 0 && cp.root != merkle::empty_root() {
        return Err(Refusal::Inconsistent);
    }
    let consistent = match last {
        None => request.proof.is_empty(),
        Some(l) if l.size == cp.size => l.root == cp.root,
        Some(l) => merkle::verify_consistency(l.size, cp.size, &l.root, &cp.root, &request.proof),
    };
    if !consistent {
        return Err(Refusal::Inconsistent);
    }
    Ok(opened)
}

/// Why a policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A line that is not a policy line (from 1).
    #[error("line {0}: malformed policy")]
    Line(usize),
    /// No `quorum` line.
    #[error("no quorum")]
    NoQuorum,
}

#[derive(Debug, Clone)]
enum Member {
    Witness(usize),
    Group(usize),
}

#[derive(Debug, Clone)]
struct Group {
    threshold: usize,
    members: Vec<Member>,
}

/// An auditor's trust policy: the logs it accepts, the witnesses it knows, and the quorum of
/// them that must have cosigned a checkpoint for it to count.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The logs (empty: the log is named elsewhere).
    pub logs: Vec<VerifierKey>,
    /// The witnesses, by their policy name, in file order.
    pub witnesses: Vec<(String, WitnessKey)>,
    groups: Vec<Group>,
    quorum: Option<Member>,
}

/// The quorum's verdict on one note.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Witnessed {
    /// Enough witnesses cosigned.
    pub quorum_met: bool,
    /// The policy names of those who did, in the policy's order.
    pub cosigned_by: Vec<String>,
}

impl Policy {
    /// A policy of the witnesses given, `quorum` of them (a service's own configuration).
    pub fn of_witnesses(witnesses: Vec<(String, WitnessKey)>, quorum: usize) -> Self {
        let members = (0..witnesses.len()).map(Member::Witness).collect();
        let (groups, quorum) = match quorum {
            0 => (Vec::new(), None),
            k => (vec![Group { threshold: k, members }], Some(Member::Group(0))),
        };
        Self { logs: Vec::new(), witnesses, groups, quorum }
    }

    /// Reads a policy file.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let mut p = Self { logs: Vec::new(), witnesses: Vec::new(), groups: Vec::new(), quorum: None };
        let mut names: Vec<(String, Member)> = Vec::new();
        let mut quorum_seen = false;
        for (n, line) in (1..).zip(text.split('\n')) {
            let items: Vec<&str> = line.split([' ', '\t']).filter(|s| !s.is_empty()).collect();
            let bad = PolicyError::Line(n);
            // tlog-policy allows no control character but the tab (and the newline between lines).
            if line.chars().any(|c| (c < ' ' && c != '\t') || c == '\u{7f}') {
                return Err(bad);
            }
            let Some(&keyword) = items.first() else { continue };
            if keyword.starts_with('#') {
                continue;
            }
            let fresh = |name: &str, names: &[(String, Member)]| name != "none" && names.iter().all(|(m, _)| m != name);
            match (keyword, items.len()) {
                ("log", 2 | 3) => {
                    let key = VerifierKey::parse(items[1]).map_err(|_| bad.clone())?;
                    if p.logs.iter().any(|k| k.public_key() == key.public_key()) {
                        return Err(bad);
                    }
                    p.logs.push(key);
                }
                ("witness", 3 | 4) => {
                    let key = WitnessKey::parse(items[2]).map_err(|_| bad.clone())?;
                    if !fresh(items[1], &names) || p.witnesses.iter().any(|(_, k)| k.public_key() == key.public_key()) {
                        return Err(bad);
                    }
                    names.push((items[1].to_owned(), Member::Witness(p.witnesses.len())));
                    p.witnesses.push((items[1].to_owned(), key));
                }
                ("group", len) if len >= 4 => {
                    let mut members: Vec<(&str, Member)> = Vec::new();
                    for name in &items[3..] {
                        let found = names.iter().find(|(m, _)| m == name).ok_or(bad.clone())?;
                        if members.iter().any(|(m, _)| m == name) {
                            return Err(bad);
                        }
                        members.push((name, found.1.clone()));
                    }
                    let threshold = match items[2] {
                        "all" => members.len(),
                        "any" => 1,
                        k => decimal(k).and_then(|k| usize::try_from(k).ok()).filter(|&k| k >= 1).ok_or(bad.clone())?,
                    };
                    if threshold > members.len() || !fresh(items[1], &names) {
                        return Err(bad);
                    }
                    names.push((items[1].to_owned(), Member::Group(p.groups.len())));
                    p.groups.push(Group { threshold, members: members.into_iter().map(|(_, m)| m).collect() });
                }
                ("quorum", 2) if !quorum_seen => {
                    quorum_seen = true;
                    p.quorum = match items[1] {
                        "none" => None,
                        name => Some(names.iter().find(|(m, _)| m == name).ok_or(bad)?.1.clone()),
                    };
                }
                _ => return Err(bad),
            }
        }
        if quorum_seen { Ok(p) } else { Err(PolicyError::NoQuorum) }
    }

    /// Whether the log key is one the policy accepts (any, when it lists none).
    pub fn accepts_log(&self, key: &VerifierKey) -> bool {
        self.logs.is_empty() || self.logs.iter().any(|k| k.name() == key.name() && k.public_key() == key.public_key())
    }

    /// Which witnesses cosigned a note, and whether they make the quorum.
    pub fn witnessed(&self, note: &OpenedNote) -> Witnessed {
        let signed: Vec<bool> =
            self.witnesses.iter().map(|(_, k)| k.cosigned(&note.body, &note.signatures).is_some()).collect();
        let quorum_met = self.quorum.as_ref().is_none_or(|q| self.holds(q, &signed));
        let cosigned_by =
            self.witnesses.iter().zip(&signed).filter(|(_, s)| **s).map(|((n, _), _)| n.clone()).collect();
        Witnessed { quorum_met, cosigned_by }
    }

    fn holds(&self, member: &Member, signed: &[bool]) -> bool {
        match member {
            Member::Witness(i) => signed.get(*i).copied().unwrap_or(false),
            Member::Group(g) => self
                .groups
                .get(*g)
                .is_some_and(|g| g.members.iter().filter(|m| self.holds(m, signed)).count() >= g.threshold),
        }
    }
}

/// The first line of a tlog-proof bundle.
pub const BUNDLE_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A c2sp.org/tlog-proof bundle: the event (its export line, as the `extra` data), its
/// index, its inclusion proof and the cosigned checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The event's NDJSON export line (without its newline), as bytes.
    pub extra: Vec<u8>,
    /// The leaf index.
    pub index: u64,
    /// The inclusion proof, from the leaf's sibling up.
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim.
    pub note: String,
}

impl Bundle {
    /// The bundle's text.
    pub fn to_text(&self) -> String {
        let head = format!("{BUNDLE_HEADER}\nextra {}\nindex {}\n", B64.encode(&self.extra), self.index);
        hashes_then_note(head, &self.proof, &self.note)
    }

    /// Reads a bundle strictly; `None` when it is malformed. Its lines end in `\n` only (the
    /// note inside would forgive a CRLF or a missing last newline; a bundle does not, so that
    /// no byte of it can change unnoticed).
    pub fn parse(text: &str) -> Option<Self> {
        if !text.ends_with('\n') || text.contains("\r\n") {
            return None;
        }
        let ([header, extra, index], proof, note) = split_hashes_note(text)?;
        if header != BUNDLE_HEADER {
            return None;
        }
        let extra = B64.decode(extra.strip_prefix("extra ")?).ok()?;
        let index = decimal(index.strip_prefix("index ")?)?;
        Some(Self { extra, index, proof, note: note.to_owned() })
    }
}

/// The checkpoint of a note, if it reads as one (for callers that only need what it says).
pub fn checkpoint_of(note: &str) -> Result<Checkpoint, NoteError> {
    read_note(note).map(|n| n.checkpoint)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::merkle::{Frontier, NodeMap, consistency_proof, leaf_hash, root};
    use crate::domain::note::{Cosigner, LogSigner};

    const ORIGIN: &str = "example.org/log";

    fn tree_of(leaves: impl IntoIterator<Item = Hash>) -> NodeMap {
        let (mut f, mut made, mut nodes) = (Frontier::default(), Vec::new(), NodeMap::default());
        for leaf in leaves {
            f.push(leaf, &mut made);
        }
        nodes.0.extend(made.into_iter().map(|(level, index, h)| ((level, index), h)));
        nodes
    }

    fn tree(n: u64) -> NodeMap {
        tree_of((0..n).map(|i| leaf_hash(&i.to_be_bytes())))
    }

    fn signed(signer: &LogSigner, nodes: &mut NodeMap, size: u64) -> String {
        signer.sign(size, root(nodes, size).unwrap())
    }

    #[test]
    fn a_witness_cosigns_an_extension_and_refuses_a_fork_a_stale_size_and_a_stranger() {
        let log = LogSigner::new(ORIGIN, [1; 32]);
        let keys = vec![VerifierKey::parse(&log.verifier_key()).unwrap()];
        let mut nodes = tree(10);
        let first = AddCheckpoint { old: 0, proof: vec![], note: signed(&log, &mut nodes, 6) };
        let opened = decide(&first, &keys, |_| None).unwrap();
        let last = Cosigned { size: 6, root: opened.checkpoint.root };
        // An extension, with its proof.
        let proof = consistency_proof(&mut nodes, 6, 10).unwrap();
        let next = AddCheckpoint { old: 6, proof: proof.clone(), note: signed(&log, &mut nodes, 10) };
        assert_eq!(decide(&next, &keys, |_| Some(last)).unwrap().checkpoint.size, 10);
        // A stale old size: 409 with the size the witness holds.
        let stale = AddCheckpoint { old: 0, ..next.clone() };
        assert_eq!(decide(&stale, &keys, |_| Some(last)), Err(Refusal::Conflict(6)));
        // A fork: the same sizes over a rewritten leaf.
        let mut forked = tree_of((0..10_u64).map(|i| leaf_hash(if i == 2 { b"rewritten" } else { &[0; 0] })));
        let fork_proof = consistency_proof(&mut forked, 6, 10).unwrap();
        let fork = AddCheckpoint { old: 6, proof: fork_proof, note: signed(&log, &mut forked, 10) };
        assert_eq!(decide(&fork, &keys, |_| Some(last)).unwrap_err().status(), 422);
        // The same size with another root.
        let same = AddCheckpoint { old: 6, proof: vec![], note: signed(&log, &mut forked, 6) };
        assert_eq!(decide(&same, &keys, |_| Some(last)), Err(Refusal::Inconsistent));
        // A proof given from nothing.
        let from_zero = AddCheckpoint { old: 0, proof, note: next.note.clone() };
        assert_eq!(decide(&from_zero, &keys, |_| None), Err(Refusal::Inconsistent));
        // Old past new.
        assert_eq!(decide(&AddCheckpoint { old: 11, ..next.clone() }, &keys, |_| Some(last)), Err(Refusal::Malformed));
        // A second line of the log's key that fails, beside the valid one.
        let line = next.note.lines().last().unwrap();
        let mut bad = B64.decode(line.rsplit_once(' ').unwrap().1).unwrap();
        bad[67] ^= 1;
        let tampered = format!("{}\u{2014} {ORIGIN} {}\n", next.note, B64.encode(&bad));
        let tampered = AddCheckpoint { note: tampered, ..next.clone() };
        assert_eq!(decide(&tampered, &keys, |_| Some(last)), Err(Refusal::NotSigned));
        // Another key for the origin; another origin.
        let impostor = LogSigner::new(ORIGIN, [2; 32]);
        let forged = AddCheckpoint { old: 6, proof: vec![], note: signed(&impostor, &mut nodes, 10) };
        assert_eq!(decide(&forged, &keys, |_| Some(last)), Err(Refusal::NotSigned));
        let other = LogSigner::new("other.example/log", [1; 32]);
        let stranger = AddCheckpoint { old: 0, proof: vec![], note: signed(&other, &mut nodes, 10) };
        assert_eq!(decide(&stranger, &keys, |_| None), Err(Refusal::UnknownOrigin));
        // The request round-trips through its text.
        assert_eq!(AddCheckpoint::parse(&next.to_body()), Some(next.clone()));
        assert_eq!(AddCheckpoint::parse(&next.to_body().replacen("old 6", "old 06", 1)), None);
        assert_eq!(AddCheckpoint::parse("old 6\nnot base64\n\nx"), None);
    }

    #[test]
    fn a_cosignature_verifies_with_its_key_only_and_the_quorum_counts_groups() {
        let log = LogSigner::new(ORIGIN, [1; 32]);
        let mut nodes = tree(4);
        let note = signed(&log, &mut nodes, 4);
        let (a, b, c) = (
            Cosigner::new("a.example/w", [3; 32]),
            Cosigner::new("b.example/w", [4; 32]),
            Cosigner::new("c.example/w", [5; 32]),
        );
        let opened = read_note(&note).unwrap();
        let cosigned =
            format!("{note}{}{}", a.cosign(&opened.body, 1_700_000_000), b.cosign(&opened.body, 1_700_000_001));
        let opened = read_note(&cosigned).unwrap();
        let key_a = WitnessKey::parse(&a.verifier_key()).unwrap();
        assert_eq!(key_a.cosigned(&opened.body, &opened.signatures), Some(1_700_000_000));
        // The log key does not read as a witness key, nor the other way round.
        assert!(WitnessKey::parse(&log.verifier_key()).is_err());
        assert!(VerifierKey::parse(&a.verifier_key()).is_err());
        // Over another body, it fails.
        let other = read_note(&signed(&log, &mut tree(5), 5)).unwrap();
        assert_eq!(key_a.cosigned(&other.body, &opened.signatures), None);
        // The log's own signature still opens.
        assert!(VerifierKey::parse(&log.verifier_key()).unwrap().open(&cosigned).is_ok());
        let policy = |quorum: &str| {
            Policy::parse(&format!(
                "# the funds-review committee and the bureau\nlog {}\nwitness A {}\nwitness B {}\n\twitness C {} https://c.example/\ngroup AB all A B\ngroup any-two 2 A B C\ngroup nested all AB C\n{quorum}\n",
                log.verifier_key(), a.verifier_key(), b.verifier_key(), c.verifier_key()
            ))
            .unwrap()
        };
        let verdict = |q: &str| policy(q).witnessed(&opened);
        assert_eq!(verdict("quorum AB"), Witnessed { quorum_met: true, cosigned_by: vec!["A".into(), "B".into()] });
        assert!(verdict("quorum any-two").quorum_met);
        assert!(!verdict("quorum nested").quorum_met);
        assert!(!verdict("quorum C").quorum_met);
        assert!(verdict("quorum none").quorum_met);
        assert!(policy("quorum none").accepts_log(&VerifierKey::parse(&log.verifier_key()).unwrap()));
        assert!(
            !policy("quorum none")
                .accepts_log(&VerifierKey::parse(&LogSigner::new(ORIGIN, [9; 32]).verifier_key()).unwrap())
        );
        // Malformed lines, with their numbers.
        let w = a.verifier_key();
        for (text, err) in [
            (format!("witness A {w}\nquorum B\n"), PolicyError::Line(2)),
            (format!("witness A {w}\nwitness A2 {w}\nquorum A\n"), PolicyError::Line(2)),
            (format!("witness none {w}\nquorum none\n"), PolicyError::Line(1)),
            (format!("witness A {w}\ngroup G 2 A\nquorum G\n"), PolicyError::Line(2)),
            (format!("witness A {w}\ngroup G 0 A\nquorum G\n"), PolicyError::Line(2)),
            (format!("witness A {w}\ngroup G any A A\nquorum G\n"), PolicyError::Line(2)),
            (format!("witness A {w}\nquorum A\nquorum A\n"), PolicyError::Line(3)),
            (format!("witness A {w}\r\nquorum A\n"), PolicyError::Line(1)),
            (format!("log {w}\nquorum none\n"), PolicyError::Line(1)),
            ("frobnicate\nquorum none\n".to_owned(), PolicyError::Line(1)),
            (format!("witness A {w}\n"), PolicyError::NoQuorum),
        ] {
            assert_eq!(Policy::parse(&text).unwrap_err(), err, "{text}");
        }
    }

    #[test]
    fn a_bundle_reads_back_what_was_written_and_nothing_else() {
        let log = LogSigner::new(ORIGIN, [1; 32]);
        let b = Bundle {
            extra: b"{\"seq\":1}".to_vec(),
            index: 3,
            proof: vec![[7; 32], [8; 32]],
            note: log.sign(4, [9; 32]),
        };
        let text = b.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra eyJzZXEiOjF9\nindex 3\nBwcH"));
        assert_eq!(Bundle::parse(&text), Some(b));
        assert_eq!(Bundle::parse(text.trim_end_matches('\n')), None);
        assert_eq!(Bundle::parse(&text.replacen("index 3\n", "index 3\r\n", 1)), None);
        for (from, to) in [("@v1", "@v2"), ("index 3", "index 03"), ("extra ", "extra  "), ("BwcH", "BwcHBw")] {
            assert_eq!(Bundle::parse(&text.replacen(from, to, 1)), None, "{from}");
        }
    }
}

/// The formats checked against Cloudflare's crates, which run its production CT logs
/// (`signed_note`, `tlog_tiles`; dev-dependencies only): their note parser reads our cosigned
/// notes, their verifier accepts our log signature, their key-id rule is ours for witness keys,
/// and their RFC 6962 proof checkers accept our inclusion and consistency proofs.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod against_cloudflare {
    use signed_note::{Note, StandardVerifier, Verifier, VerifierError, VerifierList};

    use crate::domain::merkle::{Frontier, NodeMap, consistency_proof, inclusion_proof, leaf_hash, root};
    use crate::domain::note::{Cosigner, LogSigner, read_note};

    /// A cosignature v1 verifier over their `Verifier` trait, written from the C2SP text.
    struct Cosig {
        name: String,
        id: u32,
        key: ed25519_dalek::VerifyingKey,
    }

    impl Verifier for Cosig {
        fn name(&self) -> &str {
            &self.name
        }
        fn key_id(&self) -> u32 {
            self.id
        }
        fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
            use ed25519_dalek::Verifier as _;
            let (Ok(ts), Ok(s)) =
                (<[u8; 8]>::try_from(&sig[..8.min(sig.len())]), <[u8; 64]>::try_from(&sig[8.min(sig.len())..]))
            else {
                return false;
            };
            let mut m = format!("cosignature/v1\ntime {}\n", u64::from_be_bytes(ts)).into_bytes();
            m.extend_from_slice(msg);
            self.key.verify(&m, &ed25519_dalek::Signature::from_bytes(&s)).is_ok()
        }
    }

    #[test]
    fn their_note_reader_verifies_our_log_signature_and_our_cosignatures() {
        let log = LogSigner::new("example.org/log", [1; 32]);
        let w = Cosigner::new("witness.example/w1", [2; 32]);
        let note = log.sign(7, [5; 32]);
        let body = read_note(&note).unwrap().body;
        let cosigned = format!("{note}{}", w.cosign(&body, 1_679_315_147));
        let theirs = Note::from_bytes(cosigned.as_bytes()).unwrap();
        // The log's key alone: its signature verifies, the cosignature is an unknown key's.
        let log_only = VerifierList::new(vec![Box::new(StandardVerifier::new(&log.verifier_key()).unwrap())]);
        let (verified, unverified) = theirs.verify(&log_only).unwrap();
        assert_eq!((verified.len(), unverified.len()), (1, 1));
        // Their key-id rule for a 0x04 key is ours (the id checks; only the algorithm is not theirs).
        assert!(matches!(StandardVerifier::new(&w.verifier_key()), Err(VerifierError::Alg)));
        let raw = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            w.verifier_key().rsplit('+').next().unwrap(),
        )
        .unwrap();
        let id = signed_note::key_id(w.name(), &raw);
        let key = ed25519_dalek::VerifyingKey::from_bytes(&raw[1..].try_into().unwrap()).unwrap();
        let both = VerifierList::new(vec![
            Box::new(StandardVerifier::new(&log.verifier_key()).unwrap()),
            Box::new(Cosig { name: w.name().into(), id, key }),
        ]);
        let (verified, unverified) = theirs.verify(&both).unwrap();
        assert_eq!((verified.len(), unverified.len()), (2, 0));
        // Over another body, the cosignature fails their check.
        let other = format!("{}{}", log.sign(8, [5; 32]), w.cosign(&body, 1_679_315_147));
        assert!(Note::from_bytes(other.as_bytes()).unwrap().verify(&both).is_err());
    }

    #[test]
    fn their_rfc_6962_checkers_accept_our_proofs() {
        let leaves: Vec<_> = (0..37_u64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let (mut f, mut made, mut nodes) = (Frontier::default(), Vec::new(), NodeMap::default());
        for l in &leaves {
            f.push(*l, &mut made);
        }
        nodes.0.extend(made.into_iter().map(|(level, index, h)| ((level, index), h)));
        let h = |x: [u8; 32]| tlog_tiles::Hash(x);
        for size in 1..=37_u64 {
            let r = root(&mut nodes, size).unwrap();
            assert_eq!(tlog_tiles::record_hash(&3_u64.to_be_bytes()), h(leaves[3]));
            for index in 0..size {
                let p: Vec<_> = inclusion_proof(&mut nodes, index, size).unwrap().into_iter().map(h).collect();
                tlog_tiles::check_record(&p, size, h(r), index, h(leaves[index as usize])).unwrap();
            }
            for from in 1..=size {
                let p: Vec<_> = consistency_proof(&mut nodes, from, size).unwrap().into_iter().map(h).collect();
                tlog_tiles::check_tree(&p, size, h(r), from, h(root(&mut nodes, from).unwrap())).unwrap();
            }
        }
    }
}

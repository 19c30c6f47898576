#!/usr/bin/env python3
"""Verify an audit-trail NDJSON export offline, with the standard library.

Usage:
  python3 tools/verify_trail.py FILE.ndjson
  python3 tools/verify_trail.py FILE.ndjson --checkpoint NOTE --key VKEY
                                [--policy POLICY]
  python3 tools/verify_trail.py consistency OLD NEW PROOF.json --key VKEY
                                [--policy POLICY]
  python3 tools/verify_trail.py proof BUNDLE --key VKEY [--policy POLICY]
  python3 tools/verify_trail.py selftest

This script and ``unionfund audit verify-export`` / ``verify-consistency`` /
``verify-proof`` follow one output contract (the README's Auditors' guide):
on the same input they print the same line of JSON, byte for byte, and exit
with the same status.

Exit status, in every form: 0 when everything holds, 1 when something is
broken, 2 when the input cannot be read.  When the input cannot be read the
script prints ``{"ok":false,"error":"<what>: <problem>"}``, where <what> is a
path as given on the command line, or ``verifier key``, and <problem> is one
of: ``no such file``, ``permission denied``, ``is a directory``, ``cannot be
read``, ``not UTF-8`` (``line N: not UTF-8`` in an export), ``malformed
checkpoint note``, ``malformed`` (the verifier key), ``no events`` (an export
with no event line), ``line N: <why the line is not an event>`` (``not JSON``,
``not a JSON object``, ``missing field 'F'``, ``'F' is not an integer``, ``'F'
is not text``, ``'F' is neither text nor null``, ``'log_index' is neither a
non-negative integer nor null``), for a proof file ``not JSON``, ``expected
from, to and proof`` or ``a proof element is not 64 hex digits``, for a policy
``line N: malformed policy``, ``no quorum`` or ``log key not in policy``, and
for a proof bundle ``malformed proof bundle`` or ``event: <why the event is
not one>`` (the words an export line gets, without ``line N``).  The first
problem met is reported; inputs are read in the order key, policy, note(s),
then export, proof or bundle.  A wrong command line (``--policy`` without
``--checkpoint``, say) prints the usage on stderr and exits 2.

**The chain** (``FILE.ndjson`` alone).  The file holds one JSON event per
line, as exported by GET /api/v1/audit/export?format=ndjson; lines that are
empty or hold only spaces, tabs and carriage returns are skipped.  Every
other line must be a JSON object with the 18 hashed fields and ``hash``:
``seq`` and ``stream_seq`` integers (64-bit), ``stream`` and ``hash`` text,
every other hashed field text or null, and ``log_index``, when present, a
non-negative integer or null.  Each event is then checked, in file order:

1. Its hash is recomputed: SHA-256 over the 18 ASCII bytes
   ``unionfund-audit-v1`` followed by the 18 hashed fields in their fixed
   order, each field being a 4-byte big-endian length and its UTF-8 text
   exactly as exported (integers in decimal), or ``FF FF FF FF`` when the
   field is null.  The lower-case hex digest must equal the event's ``hash``,
   otherwise the event is ``hash_mismatch``.
2. Its ``seq`` must be greater than the previous line's, its ``stream_seq``
   one more than that of the previous line of its stream (1 for a stream's
   first), and its ``prev_hash`` that line's ``hash`` (64 zeros for a
   stream's first event); otherwise the event is ``chain_broken``.

The first check that fails names the event's reason.  Verification does not
stop at a break: every event is checked, each against the lines before it *as
read* (whatever their own verdict), so one altered line is one break, one
removed line one break (at the next event of its stream), and a moved line a
few.  The script prints
``{"ok":...,"checked":N,"broken":B,"first_broken":...,"checkpoint":null}``:
N counts every event read and checked, B the events that failed a check, and
``first_broken`` is null or the first of them in the file,
``{"seq":S,"line":L,"reason":...,"detail":...}`` (L is the line number in the
file, counting from 1).  ``ok`` is true when B is 0.

An export alone cannot show that events were cut off the *end* of a stream;
that needs the stream heads or a checkpoint, which the online verifier checks.
Offline, ``--checkpoint`` (below) shows that no event logged up to a signed
checkpoint is missing.

**A signed checkpoint** (``--checkpoint NOTE --key VKEY [--policy
POLICY]``).  The audit log is
also an RFC 6962 Merkle tree: the event with ``log_index`` i is leaf i, and its
leaf hash is SHA-256(0x00 || the event's v1 hash input above).  NOTE is a C2SP
signed note (tlog-checkpoint): an origin line, the tree size n in decimal, the
root hash in base64, a blank line, then signature lines
``— <key name> <base64(4-byte key id || Ed25519 signature)>``.  VKEY is the
verifier key ``<name>+<key id, 8 hex>+<base64(0x01 || 32-byte public key)>``.
The note's signature is valid when its origin is the key's name and one of its
signature lines, for the key's name and id, verifies over the body (lines that
are not for this key are ignored).  The chain is checked as above, then the
tree is rebuilt from the events with log_index 0 .. n-1 and its root compared
with the note's.  ``checkpoint`` is then ``{"tree_size":n,
"signature_valid":...,"root_matches":...,"log_problem":null,
"witnesses":...}``; when the events do not hold each of 0 .. n-1 exactly
once, root_matches is false and log_problem is ``"log_incomplete"``.
``witnesses`` is null without ``--policy``, else the policy's verdict on the
note (below).  ``ok`` is true only when the chain holds, the signature is
valid, the root matches and, with a policy, its quorum is met.

**Consistency of two checkpoints** (``consistency OLD NEW PROOF.json --key
VKEY [--policy POLICY]``).  OLD and NEW are checkpoint notes; PROOF.json is
the answer of GET /api/v1/audit/consistency:
``{"from": m, "to": n, "proof": ["<64 hex>", ...]}`` (integers and an array
of hex hashes; other keys are ignored).  The script checks both notes'
signatures, that from/to are the old and new tree sizes, and the RFC 9162
section 2.1.4.2 consistency proof between the two roots, and prints
``{"ok":...,"from":m,"to":n,"signatures_valid":...,"proof_valid":...,
"witnesses":...}`` with the notes' sizes; ``witnesses`` is null without
``--policy``, else ``{"old":<verdict>,"new":<verdict>}``, and ``ok`` then
also needs both quorums met.

**Witness cosignatures** (C2SP tlog-cosignature v1, Ed25519).  A witness's
verifier key is ``<name>+<key id>+<base64(0x04 || 32-byte public key)>``,
its key id SHA-256(name || "\\n" || 0x04 || key)[:4], read by the same rules
as the log's key (exactly: name non-empty, 8 hex digits, canonical base64 of
33 bytes, type byte 0x04, the id the key's; white space around it that
Rust's str::trim() strips is ignored).  A cosignature is a signature
line ``— <witness key name> <base64(key id || u64 timestamp, big-endian ||
Ed25519 signature)>`` (76 bytes) over ``cosignature/v1\\ntime <timestamp in
decimal>\\n`` followed by the note's body.  A witness has cosigned a note
when one of its lines has the witness key's name and key id, decodes to
exactly 76 bytes, has a timestamp below 2^63 and verifies.  Lines for other
keys are ignored, and a line for the key that fails does not count (it is
not an error).

**A policy** (``--policy POLICY``, a subset of C2SP tlog-policy).  The file
is UTF-8 text, split into lines on "\\n" only (a "\\r" is not stripped); on
each line, spaces and tabs around it are ignored and runs of them separate
its items.  Empty lines and lines whose first item starts with ``#`` are
ignored; every other line is one of:

- ``log <vkey> [<url>]``: a log key (type 0x01), no two with one public key;
- ``witness <name> <vkey> [<url>]``: a witness key (type 0x04), no two with
  one public key or one name;
- ``group <name> all|any|<k> <member>...``: at least one member, each a
  witness or group named on an earlier line, none twice; k in decimal
  without leading zeros, at most the number of members;
- ``quorum <name>|none``: exactly one, naming an earlier witness or group.

Witnesses and groups share one namespace, in which ``none`` is reserved and
every name is new.  Any line holding a control character other than tab (a
carriage return, say), even an empty line or a comment, is malformed, and so
is anything else: an unknown keyword, a wrong number of items, a bad key.
The first bad line is ``<path>: line N: malformed policy`` (N from 1); a
policy without a quorum line is ``<path>: no quorum``; a policy with
``log`` lines none of which has the name and public key of ``--key`` is
``<path>: log key not in policy``.  A witness witnesses a note when it
cosigned it, a group when at least k of its members do (``all``: every
member, ``any``: one); ``quorum none`` is always met.  The verdict on a
note is ``{"quorum_met":...,"cosigned_by":[...]}``, cosigned_by being the
policy names of the witnesses that cosigned it, in the policy's order.

**A proof bundle** (``proof BUNDLE --key VKEY [--policy POLICY]``).
BUNDLE is a C2SP tlog-proof as
GET /api/v1/audit/events/{seq}/proof?format=tlog-proof answers it, read
strictly: every line ends in "\\n" (none in "\\r\\n"), the first is
``c2sp.org/tlog-proof@v1``, the second ``extra <canonical base64 of the
event's export line>``, the third ``index <decimal, no leading zeros>``, then
0 to 63 lines of canonical base64 of a 32-byte hash and an empty line; the
rest is the checkpoint note, read as any note.  A bundle not so is
``<path>: malformed proof bundle``, a note that is not one ``<path>:
malformed checkpoint note`` (checked before the event), an event line that
is not one ``<path>: event: <reason>``.  The script prints
``{"ok":...,"index":i,"tree_size":n,"signature_valid":...,"event_valid":...,
"inclusion_valid":...,"witnesses":...,"event":{"seq":S,"stream":"...",
"hash":"..."}}``: signature_valid as for a checkpoint; event_valid when the
event's hash, recomputed as for an export line, is its ``hash`` and its
``log_index`` is i; inclusion_valid when i < n and the hash lines are the
RFC 9162 section 2.1.3 inclusion proof of the event's leaf at i in the tree
of size n with the note's root; witnesses null without ``--policy``, else
the policy's verdict on the note.  ``ok`` is true when all three hold and,
with a policy, its quorum is met.

**Self-test** (``selftest``).  Runs the RFC 6962 tree vectors (roots, proof
generation and verification, tampered proofs), RFC 8032 Ed25519 vectors on
both the ``cryptography`` package (when it imports) and the pure-Python
fallback (and, signing, on an RFC 8032 signer used only by the self-test),
the Go sumdb/note signed-note vector, cosignatures made and altered,
policies of every shape and kind of malformed line, quorums, and a proof
bundle built from the tree vectors, refused whenever any byte of it is
changed; prints
``{"ok": ..., "checks": N, "failed": [...], "ed25519_backends": [...]}``.

Ed25519 signatures are checked with the ``cryptography`` package when it
imports; otherwise with a pure-Python verifier following RFC 8032 section 6,
so the script still needs nothing but the standard library.
"""

import base64
import functools
import hashlib
import json
import math
import os
import re
import sys
from typing import NamedTuple

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PublicKey,
    )
except Exception:  # not installed (or unusable): use the pure-Python path
    Ed25519PublicKey = None

HASH_PREFIX = b"unionfund-audit-v1"
HASHED_FIELDS = (
    "seq", "stream", "stream_seq", "occurred_at", "actor", "actor_role",
    "org_id", "request_id", "action", "entity_type", "entity_id", "fund_id",
    "stage", "amount", "entry_id", "before", "after", "prev_hash",
)
INTEGER_FIELDS = ("seq", "stream_seq")
TEXT_FIELDS = ("stream", "hash")
ABSENT = b"\xff\xff\xff\xff"
GENESIS_HASH = "0" * 64

HASH_MISMATCH = "hash_mismatch"
CHAIN_BROKEN = "chain_broken"
LOG_INCOMPLETE = "log_incomplete"

EXIT_OK = 0
EXIT_BROKEN = 1
EXIT_UNREADABLE = 2

# The integer ranges the Rust verifier reads (i64, u64): a number outside
# them is not an integer there, so it is not one here either.
I64_MIN, I64_MAX, U64_MAX = -2**63, 2**63 - 1, 2**64 - 1

# What Rust's str::trim() strips (Unicode White_Space), used where the Rust
# verifier trims, so that both read the same text.
RUST_WHITESPACE = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
                   "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f"
                   "\u205f\u3000")
# The bytes a blank export line may hold besides its line end.
BLANK_LINE_BYTES = b" \t\r\n"

USAGE = """usage: {prog} FILE.ndjson
       {prog} FILE.ndjson --checkpoint NOTE --key VKEY [--policy POLICY]
       {prog} consistency OLD_NOTE NEW_NOTE PROOF.json --key VKEY
           [--policy POLICY]
       {prog} proof BUNDLE --key VKEY [--policy POLICY]
       {prog} selftest"""


class UnreadableInput(Exception):
    """The input is missing, is not JSON, or holds something not an event."""


def shown(path):
    """A path as the messages name it: as given, undecodable bytes replaced
    (as Rust's Path::display does)."""
    return os.fsencode(path).decode("utf-8", "replace")


def read_problem(err):
    """The words for an error opening or reading a file."""
    if isinstance(err, FileNotFoundError):
        return "no such file"
    if isinstance(err, PermissionError):
        return "permission denied"
    if isinstance(err, IsADirectoryError):
        return "is a directory"
    return "cannot be read"


def read_text(path):
    """A whole file as UTF-8 text (a note, a proof)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise UnreadableInput(f"{shown(path)}: {read_problem(err)}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableInput(f"{shown(path)}: not UTF-8") from None


def rust_lines(text):
    """Split text as Rust's str::lines() does: on "\\n", no empty last line
    for a final "\\n", one "\\r" before each "\\n" dropped."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def b64decode_canonical(text):
    """Standard, padded base64 in its one canonical form, or None."""
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return data if base64.b64encode(data).decode("ascii") == text else None


# ---------------------------------------------------------------------------
# Events and the hash chain
# ---------------------------------------------------------------------------

def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _parse_float(text):
    value = float(text)
    if math.isinf(value):                # out of range: not JSON to Rust
        raise ValueError("number out of range")
    return value


def _parse_int(text):
    if text == "-0":                     # a float to serde_json: -0.0
        return -0.0
    value = int(text)
    if len(text) > 300:
        float(value)                     # OverflowError past f64's range
    return value


# serde_json's nesting limit: 127 arrays and objects, the outermost included.
MAX_DEPTH = 127


def _too_deep(value):
    level = [value]
    for _ in range(MAX_DEPTH):
        level = [v for c in level if isinstance(c, (dict, list))
                 for v in (c.values() if isinstance(c, dict) else c)]
        if not level:
            return False
    return any(isinstance(c, (dict, list)) for c in level)


def loads_strict(text):
    """json.loads, refusing what serde_json refuses: NaN and Infinity, numbers
    out of range, lone surrogates (valid escapes, invalid text), and nesting
    past its limit; like serde_json, reading -0 as a float."""
    value = json.loads(text, parse_constant=_reject_constant,
                       parse_float=_parse_float, parse_int=_parse_int)
    if "\\u" in text:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    if text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(value):
        raise ValueError("nested too deeply")
    return value


def _is_int(value, low, high):
    return (isinstance(value, int) and not isinstance(value, bool)
            and low <= value <= high)


class Event(NamedTuple):
    """One export line, read: what the checks need, and its hash input."""
    seq: int
    stream: str
    stream_seq: int
    prev_hash: object                    # text, or None when null
    hash: str
    log_index: object                    # a non-negative integer, or None
    canonical: bytes


def encode_field(text):
    """Encode one field as a 4-byte big-endian length plus its UTF-8 bytes."""
    if text is None:
        return ABSENT
    data = text.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def field_text(event, name):
    """A field's text as hashed (None when null); raise if it has none."""
    if name not in event:
        raise UnreadableInput(f"missing field '{name}'")
    value = event[name]
    if name in INTEGER_FIELDS:
        if not _is_int(value, I64_MIN, I64_MAX):
            raise UnreadableInput(f"'{name}' is not an integer")
        return str(value)
    if isinstance(value, str):
        return value
    if name in TEXT_FIELDS:
        raise UnreadableInput(f"'{name}' is not text")
    if value is None:
        return None
    raise UnreadableInput(f"'{name}' is neither text nor null")


def parse_event(text):
    """Read one export line into an Event; raise UnreadableInput if it is
    not one (the message without the line number)."""
    try:
        event = loads_strict(text)
    except (ValueError, ArithmeticError, UnicodeEncodeError,
            RecursionError):
        raise UnreadableInput("not JSON") from None
    if not isinstance(event, dict):
        raise UnreadableInput("not a JSON object")
    # The hash covers each field's text exactly as exported, not a value
    # re-formatted from it.
    parts = [HASH_PREFIX]
    for name in HASHED_FIELDS:
        parts.append(encode_field(field_text(event, name)))
    stored_hash = field_text(event, "hash")
    index = event.get("log_index")
    if index is not None and not _is_int(index, 0, U64_MAX):
        raise UnreadableInput(
            "'log_index' is neither a non-negative integer nor null")
    return Event(event["seq"], event["stream"], event["stream_seq"],
                 event["prev_hash"], stored_hash, index, b"".join(parts))


class Chain:
    """The chain checks over events in file order.

    Each event is judged against the previous line and the previous event of
    its stream *as read*, whatever their own verdict, so that one altered,
    removed or moved line shows as one break (or a few), not as every line
    after it.
    """

    def __init__(self):
        self.last_seq = None
        self.heads = {}                  # stream -> (stream_seq, hash)

    def check(self, event):
        """Return None, or (reason, detail) for the first check that fails."""
        prev_stream_seq, prev_hash = self.heads.get(event.stream,
                                                    (0, GENESIS_HASH))
        if hashlib.sha256(event.canonical).hexdigest() != event.hash:
            verdict = (HASH_MISMATCH,
                       "recomputed hash differs from the stored hash")
        elif self.last_seq is not None and event.seq <= self.last_seq:
            verdict = (CHAIN_BROKEN,
                       f"seq {event.seq} does not follow seq {self.last_seq}")
        elif event.stream_seq != prev_stream_seq + 1:
            verdict = (CHAIN_BROKEN,
                       f"stream_seq {event.stream_seq} in {event.stream} "
                       f"should be {prev_stream_seq + 1}")
        elif event.prev_hash != prev_hash:
            verdict = (CHAIN_BROKEN, "prev_hash does not match the previous "
                       f"hash in {event.stream}")
        else:
            verdict = None
        self.last_seq = event.seq
        self.heads[event.stream] = (event.stream_seq, event.hash)
        return verdict


def iter_events(path):
    """Yield (line_no, Event) for each non-blank line of the export."""
    try:
        with open(path, "rb") as handle:
            for line_no, raw in enumerate(handle, start=1):
                if not raw.strip(BLANK_LINE_BYTES):
                    continue
                try:
                    yield line_no, parse_event(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    raise UnreadableInput(
                        f"{shown(path)}: line {line_no}: not UTF-8") from None
                except UnreadableInput as err:
                    raise UnreadableInput(
                        f"{shown(path)}: line {line_no}: {err}") from None
    except OSError as err:
        raise UnreadableInput(f"{shown(path)}: {read_problem(err)}") from None


def verify_events(events, tree_size=None):
    """Check the chain over (line_no, Event) pairs; return (the result dict,
    the leaves by log_index below ``tree_size`` or None if one repeats)."""
    chain = Chain()
    checked = broken = 0
    first_broken = None
    leaves, repeated = {}, False
    for line_no, event in events:
        checked += 1
        verdict = chain.check(event)
        if verdict is not None:
            broken += 1
            if first_broken is None:
                first_broken = {"seq": event.seq, "line": line_no,
                                "reason": verdict[0], "detail": verdict[1]}
        index = event.log_index
        if tree_size is not None and index is not None and index < tree_size:
            repeated = repeated or index in leaves
            leaves[index] = leaf_hash(event.canonical)
    result = {"ok": broken == 0, "checked": checked, "broken": broken,
              "first_broken": first_broken, "checkpoint": None}
    return result, (None if repeated else leaves)


def verify_file(path, checkpoint=None):
    """Verify the export at ``path``, and the checked ``checkpoint`` (a
    Checkpoint) when given; return the result as a dict."""
    size = None if checkpoint is None else checkpoint.size
    result, leaves = verify_events(iter_events(path), size)
    if result["checked"] == 0:
        raise UnreadableInput(f"{shown(path)}: no events")
    if checkpoint is not None:
        report = checkpoint_report(leaves, checkpoint)
        result["checkpoint"] = report
        result["ok"] = (result["ok"] and report["signature_valid"]
                        and report["root_matches"]
                        and _quorum_ok(report["witnesses"]))
    return result


# ---------------------------------------------------------------------------
# RFC 6962 / RFC 9162 Merkle trees
# ---------------------------------------------------------------------------

def leaf_hash(data):
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    """RFC 6962 interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n):
    """The largest power of two strictly less than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaves):
    """MTH over a list of leaf *hashes* (RFC 6962 section 2.1)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_path(index, leaves):
    """RFC 6962 section 2.1.1 PATH(m, D[n]) over leaf hashes (selftest)."""
    if len(leaves) <= 1:
        return []
    k = split_point(len(leaves))
    if index < k:
        return inclusion_path(index, leaves[:k]) + [merkle_root(leaves[k:])]
    return inclusion_path(index - k, leaves[k:]) + [merkle_root(leaves[:k])]


def consistency_proof(m, leaves):
    """RFC 6962 section 2.1.2 PROOF(m, D[n]) over leaf hashes (selftest)."""
    return _subproof(m, leaves, True)


def _subproof(m, leaves, complete):
    """RFC 6962 SUBPROOF(m, D[n], b); ``complete`` is b."""
    n = len(leaves)
    if m == n:
        return [] if complete else [merkle_root(leaves)]
    k = split_point(n)
    if m <= k:
        return _subproof(m, leaves[:k], complete) + [merkle_root(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [merkle_root(leaves[:k])]


def _shift_to_odd(fn, sn):
    """Right-shift fn and sn together until fn is odd or zero."""
    while fn & 1 == 0 and fn != 0:
        fn >>= 1
        sn >>= 1
    return fn, sn


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 section 2.1.3.2: is ``leaf`` at ``index`` in the tree?

    Every element must be used and the walk must end exactly at the root
    (sn == 0), so a proof with a missing or an extra element fails.
    """
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:                      # more elements than the tree needs
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_to_odd(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 section 2.1.4.2: is tree ``first`` a prefix of ``second``?

    Both roots are recomputed from the proof and compared, every element
    must be used, and sn must reach exactly 0.  Equal sizes need an empty
    proof and equal roots; size 0 is refused (the spec does not allow it).
    """
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:         # first is an exact power of two
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:                      # more elements than the trees need
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            fn, sn = _shift_to_odd(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


# ---------------------------------------------------------------------------
# Ed25519 verification: the cryptography package, or RFC 8032 section 6
# ---------------------------------------------------------------------------

# Curve constants, named as in RFC 8032 section 6.
ED_P = 2**255 - 19
ED_Q = 2**252 + 27742317777372353535851937790883648493   # the group order L
ED_D = -121665 * pow(121666, ED_P - 2, ED_P) % ED_P
ED_SQRT_M1 = pow(2, (ED_P - 1) // 4, ED_P)


def _ed_add(a, b):
    """Add two points in extended coordinates (x, y, z, t)."""
    p = ED_P
    aa = (a[1] - a[0]) * (b[1] - b[0]) % p
    bb = (a[1] + a[0]) * (b[1] + b[0]) % p
    cc = 2 * a[3] * b[3] * ED_D % p
    dd = 2 * a[2] * b[2] % p
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _ed_mul(scalar, point):
    """Multiply a point by a scalar (double-and-add; verification only)."""
    result = (0, 1, 1, 0)                # the neutral element
    while scalar > 0:
        if scalar & 1:
            result = _ed_add(result, point)
        point = _ed_add(point, point)
        scalar >>= 1
    return result


def _ed_equal(a, b):
    """Compare two points: x1/z1 == x2/z2 and y1/z1 == y2/z2."""
    p = ED_P
    return ((a[0] * b[2] - b[0] * a[2]) % p == 0
            and (a[1] * b[2] - b[1] * a[2]) % p == 0)


def _ed_recover_x(y, sign):
    """Recover x from y and its sign bit, or None when there is none."""
    p = ED_P
    if y >= p:
        return None
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, p - 2, p) % p
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p != 0:
        x = x * ED_SQRT_M1 % p
    if (x * x - x2) % p != 0:
        return None
    if (x & 1) != sign:
        x = p - x
    return x


def _ed_decompress(data):
    """Decode a 32-byte point encoding, or None when it is not a point."""
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _ed_recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % ED_P)


ED_G_Y = 4 * pow(5, ED_P - 2, ED_P) % ED_P
ED_G = (_ed_recover_x(ED_G_Y, 0), ED_G_Y, 1,
        _ed_recover_x(ED_G_Y, 0) * ED_G_Y % ED_P)


def ed25519_verify_pure(public_key, message, signature):
    """RFC 8032 section 6 verify: is [S]B == R + [SHA-512(R||A||M)]A ?"""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _ed_decompress(public_key)
    r = _ed_decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= ED_Q:                        # S must be reduced
        return False
    digest = hashlib.sha512(signature[:32] + public_key + message).digest()
    h = int.from_bytes(digest, "little") % ED_Q
    return _ed_equal(_ed_mul(s, ED_G), _ed_add(r, _ed_mul(h, a)))


def _ed_encode(point):
    """The 32-byte encoding of a point: y, and the sign of x in bit 255."""
    z_inv = pow(point[2], ED_P - 2, ED_P)
    x, y = point[0] * z_inv % ED_P, point[1] * z_inv % ED_P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _ed_secret(secret):
    """RFC 8032 section 5.1.5: the clamped scalar and the prefix."""
    digest = hashlib.sha512(secret).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar = scalar & ((1 << 254) - 8) | (1 << 254)
    return scalar, digest[32:]


def ed25519_public_pure(secret):
    """The public key of a 32-byte secret (RFC 8032 5.1.5; selftest only)."""
    return _ed_encode(_ed_mul(_ed_secret(secret)[0], ED_G))


def ed25519_sign_pure(secret, message):
    """RFC 8032 section 5.1.6 signing (selftest only: not constant-time)."""
    scalar, prefix = _ed_secret(secret)
    public = _ed_encode(_ed_mul(scalar, ED_G))
    r = int.from_bytes(hashlib.sha512(prefix + message).digest(),
                       "little") % ED_Q
    r_enc = _ed_encode(_ed_mul(r, ED_G))
    k = int.from_bytes(hashlib.sha512(r_enc + public + message).digest(),
                       "little") % ED_Q
    return r_enc + ((r + k * scalar) % ED_Q).to_bytes(32, "little")


def ed25519_verify_library(public_key, message, signature):
    """Verify with the cryptography package (which must have imported)."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=4096)
def ed25519_verify(public_key, message, signature):
    """Verify an Ed25519 signature with the best backend available (each
    triple once: the self-test reads one note in many altered bundles)."""
    if Ed25519PublicKey is not None:
        return ed25519_verify_library(public_key, message, signature)
    return ed25519_verify_pure(public_key, message, signature)


# ---------------------------------------------------------------------------
# Verifier keys, signed notes and checkpoints (C2SP)
# ---------------------------------------------------------------------------

EM_DASH_PREFIX = "\u2014 "
ED25519_TYPE = b"\x01"                   # a log's key (signed-note Ed25519)
COSIGNATURE_TYPE = b"\x04"               # a witness's key (tlog-cosignature)
KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")
TREE_SIZE = re.compile(r"0|[1-9][0-9]*")
COSIGNATURE_SIZE = 76                    # key id, u64 timestamp, signature
MAX_TIMESTAMP = 2**63 - 1

MALFORMED_KEY = "verifier key: malformed"
MALFORMED_NOTE = "malformed checkpoint note"


class VerifierKey(NamedTuple):
    """A parsed verifier key string."""
    name: str
    key_id: bytes
    public_key: bytes


class Checkpoint(NamedTuple):
    """A checkpoint note as read, with its signature checked, and its
    cosignatures judged by a policy (``witnesses``: None without one)."""
    origin: str
    size: int
    root: bytes
    signature_valid: bool
    witnesses: object = None


def key_id(name, public_key, key_type=ED25519_TYPE):
    """Key id: first 4 bytes of SHA-256(name || "\\n" || type || key)."""
    data = name.encode("utf-8") + b"\n" + key_type + public_key
    return hashlib.sha256(data).digest()[:4]


def _is_curve_point(data):
    """Whether 32 bytes decode to a curve point as the Rust verifier decodes
    a public key (the y coordinate reduced mod p, any sign of x = 0)."""
    y = (int.from_bytes(data, "little") & ((1 << 255) - 1)) % ED_P
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, ED_P - 2, ED_P) % ED_P
    return x2 == 0 or pow(x2, (ED_P - 1) // 2, ED_P) == 1


def parse_vkey(text, key_type):
    """Parse ``<name>+<key id hex>+<base64(type || public key)>``, white
    space around it trimmed as Rust's str::trim() does; None unless it is a
    key of ``key_type``."""
    parts = text.strip(RUST_WHITESPACE).split("+", 2)  # base64 may hold '+'
    if len(parts) != 3:
        return None
    name, id_hex, key_b64 = parts
    key = b64decode_canonical(key_b64)
    if (not name or not KEY_ID_HEX.fullmatch(id_hex) or key is None
            or len(key) != 33 or key[:1] != key_type
            or not _is_curve_point(key[1:])
            or key_id(name, key[1:], key_type) != bytes.fromhex(id_hex)):
        return None
    return VerifierKey(name, bytes.fromhex(id_hex), key[1:])


def parse_verifier_key(text):
    """Parse the log's key ``<name>+<key id hex>+<base64(0x01 || key)>``."""
    key = parse_vkey(text, ED25519_TYPE)
    if key is None:
        raise UnreadableInput(MALFORMED_KEY)
    return key


def split_note(text):
    """Split a signed note into (body, signature lines).

    The body is every line before the last blank line, each with its "\\n";
    the lines after it are the signature lines.
    """
    # A note saved with CRLF line ends or extra newlines at its end (as
    # ``jq -r .note > FILE`` writes it) is read as the note it is.
    text = text.replace("\r\n", "\n").rstrip("\n") + "\n"
    cut = text.rfind("\n\n")
    if cut < 0:
        raise UnreadableInput(MALFORMED_NOTE)
    return text[:cut] + "\n", rust_lines(text[cut + 2:])


def note_signatures(signature_lines, key, size):
    """The decoded signatures of the lines for ``key`` (its name, then its
    key id) that decode, in canonical base64, to ``size`` bytes; other
    lines, and lines that are not signature lines, are skipped."""
    for line in signature_lines:
        if not line.startswith(EM_DASH_PREFIX):
            continue
        name, space, blob = line[len(EM_DASH_PREFIX):].rpartition(" ")
        signature = b64decode_canonical(blob) if space else None
        if (signature is not None and name == key.name
                and len(signature) == size and signature[:4] == key.key_id):
            yield signature


def note_signature_valid(body, signature_lines, key):
    """Whether one signature line for ``key`` verifies over the body.

    Lines for other key names or key ids, or not signature lines at all, are
    ignored; if none is for this key, the signature is not valid.
    """
    message = body.encode("utf-8")
    return any(ed25519_verify(key.public_key, message, signature[4:])
               for signature in note_signatures(signature_lines, key, 68))


def cosigned_message(timestamp, body):
    """What a tlog-cosignature v1 signs: two lines, then the note's body."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode("utf-8")


def note_cosigned(body, signature_lines, key):
    """Whether the witness ``key`` cosigned the note: one of its lines for
    the key decodes to 76 bytes (key id, big-endian u64 timestamp below
    2^63, Ed25519 signature) and verifies over the cosigned message.  A line
    for the key that fails does not count; it is not an error."""
    for signature in note_signatures(signature_lines, key, COSIGNATURE_SIZE):
        timestamp = int.from_bytes(signature[4:12], "big")
        if timestamp <= MAX_TIMESTAMP and ed25519_verify(
                key.public_key, cosigned_message(timestamp, body),
                signature[12:]):
            return True
    return False


def parse_checkpoint_body(body):
    """Parse origin, tree size and root from a checkpoint body.

    Lines after the third are extension lines: signed, but not interpreted.
    """
    lines = rust_lines(body)
    if len(lines) < 3:
        raise UnreadableInput(MALFORMED_NOTE)
    origin, size_text, root_b64 = lines[:3]
    # The size in its one decimal form: "042" is not 42.
    if not TREE_SIZE.fullmatch(size_text) or int(size_text) > U64_MAX:
        raise UnreadableInput(MALFORMED_NOTE)
    root = b64decode_canonical(root_b64)
    if root is None or len(root) != 32:
        raise UnreadableInput(MALFORMED_NOTE)
    return origin, int(size_text), root


def open_checkpoint(text, key, policy=None):
    """Parse a checkpoint note's text, check its signature by ``key`` and,
    with a ``policy``, judge its cosignatures.

    A checkpoint whose origin is not the key's name is not this log's, so
    its signature does not count as valid.
    """
    body, signature_lines = split_note(text)
    origin, size, root = parse_checkpoint_body(body)
    valid = (origin == key.name
             and note_signature_valid(body, signature_lines, key))
    witnesses = (None if policy is None
                 else witness_verdict(policy, body, signature_lines))
    return Checkpoint(origin, size, root, valid, witnesses)


def read_checkpoint(path, key, policy=None):
    """Read a checkpoint note file (UTF-8) and check it."""
    text = read_text(path)
    try:
        return open_checkpoint(text, key, policy)
    except UnreadableInput as err:
        raise UnreadableInput(f"{shown(path)}: {err}") from None


# ---------------------------------------------------------------------------
# Witness policy (a subset of C2SP tlog-policy) and its quorum
# ---------------------------------------------------------------------------

MALFORMED_POLICY = "malformed policy"
NO_QUORUM = "no quorum"
LOG_KEY_NOT_IN_POLICY = "log key not in policy"
POLICY_SPACE = " \t"
POLICY_ITEM_SEPARATOR = re.compile(r"[ \t]+")
# The control characters tlog-policy allows are tab and newline only; a
# trailing carriage return (a CRLF file) is one of the others.
POLICY_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
THRESHOLD = re.compile(r"[1-9][0-9]*")
QUORUM_NONE = "none"


class Policy(NamedTuple):
    """A policy as read.

    ``witnesses`` lists (policy name, key) in file order; ``groups`` maps a
    group's name to (k, member names), in file order; ``quorum`` is the name
    of a witness or a group, or ``none``.
    """
    logs: tuple
    witnesses: tuple
    groups: dict
    quorum: str


class _PolicyReader:
    """Reads a policy's lines one at a time; ``line`` returns False for a
    malformed one."""

    def __init__(self):
        self.logs, self.witnesses, self.groups = [], [], {}
        self.names = set()               # witnesses and groups: one namespace
        self.quorum = None

    def line(self, line):
        if POLICY_CONTROL.search(line):  # on any line, a comment's too
            return False
        items = [item for item in
                 POLICY_ITEM_SEPARATOR.split(line.strip(POLICY_SPACE)) if item]
        if not items or items[0].startswith("#"):
            return True                  # an empty line or a comment
        keyword, args = items[0], items[1:]
        if keyword == "log" and len(args) in (1, 2):
            return self.log(args[0])
        if keyword == "witness" and len(args) in (2, 3):
            return self.witness(args[0], args[1])
        if keyword == "group" and len(args) >= 3:
            return self.group(args[0], args[1], args[2:])
        if keyword == "quorum" and len(args) == 1:
            return self.set_quorum(args[0])
        return False

    def new_name(self, name):
        return name != QUORUM_NONE and name not in self.names

    def log(self, text):
        key = parse_vkey(text, ED25519_TYPE)
        if key is None or any(key.public_key == log.public_key
                              for log in self.logs):
            return False
        self.logs.append(key)
        return True

    def witness(self, name, text):
        key = parse_vkey(text, COSIGNATURE_TYPE)
        if (key is None or not self.new_name(name)
                or any(key.public_key == other.public_key
                       for _, other in self.witnesses)):
            return False
        self.witnesses.append((name, key))
        self.names.add(name)
        return True

    def group(self, name, threshold, members):
        if (not self.new_name(name) or len(set(members)) != len(members)
                or not all(member in self.names for member in members)):
            return False
        if threshold == "all":
            k = len(members)
        elif threshold == "any":
            k = 1
        elif THRESHOLD.fullmatch(threshold) and int(threshold) <= len(members):
            k = int(threshold)
        else:
            return False
        self.groups[name] = (k, tuple(members))
        self.names.add(name)
        return True

    def set_quorum(self, name):
        if self.quorum is not None or not (name == QUORUM_NONE
                                           or name in self.names):
            return False
        self.quorum = name
        return True


def parse_policy(text):
    """Read a policy's text; raise UnreadableInput (``line N: malformed
    policy`` for the first bad line, ``no quorum``) when it is not one."""
    reader = _PolicyReader()
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not reader.line(line):
            raise UnreadableInput(f"line {line_no}: {MALFORMED_POLICY}")
    if reader.quorum is None:
        raise UnreadableInput(NO_QUORUM)
    return Policy(tuple(reader.logs), tuple(reader.witnesses),
                  reader.groups, reader.quorum)


def read_policy(path, key):
    """Read a policy file for the log ``key``: it must name the key among
    its logs when it lists any."""
    text = read_text(path)
    try:
        policy = parse_policy(text)
    except UnreadableInput as err:
        raise UnreadableInput(f"{shown(path)}: {err}") from None
    if not policy_has_log(policy, key):
        raise UnreadableInput(f"{shown(path)}: {LOG_KEY_NOT_IN_POLICY}")
    return policy


def policy_has_log(policy, key):
    """Whether a policy accepts the log ``key``: it lists no log, or one of
    its logs has the key's name and public key."""
    return not policy.logs or any(
        (log.name, log.public_key) == (key.name, key.public_key)
        for log in policy.logs)


def quorum_met(policy, cosigners):
    """Whether the policy's quorum is met when the witnesses named in
    ``cosigners`` (policy names) have witnessed a note: a group when at
    least k of its members have; ``none`` always."""
    witnessed = {name: name in cosigners for name, _ in policy.witnesses}
    for name, (k, members) in policy.groups.items():   # in file order
        witnessed[name] = sum(witnessed[m] for m in members) >= k
    return policy.quorum == QUORUM_NONE or witnessed[policy.quorum]


def witness_verdict(policy, body, signature_lines):
    """The ``witnesses`` object for one note under a policy."""
    cosigned_by = [name for name, key in policy.witnesses
                   if note_cosigned(body, signature_lines, key)]
    return {"quorum_met": quorum_met(policy, set(cosigned_by)),
            "cosigned_by": cosigned_by}


def _quorum_ok(witnesses):
    """A ``witnesses`` object (or None: no policy) does not stop ``ok``."""
    return witnesses is None or witnesses["quorum_met"]


# ---------------------------------------------------------------------------
# Export + checkpoint
# ---------------------------------------------------------------------------

def checkpoint_report(leaves, checkpoint):
    """The ``checkpoint`` object of the output for one checked note.

    ``leaves`` maps each log_index below the tree size to its leaf hash, or
    is None when one of them occurs twice.
    """
    report = {"tree_size": checkpoint.size,
              "signature_valid": checkpoint.signature_valid}
    if leaves is None or len(leaves) != checkpoint.size:
        report["root_matches"] = False
        report["log_problem"] = LOG_INCOMPLETE
    else:
        tree = [leaves[i] for i in range(checkpoint.size)]
        report["root_matches"] = merkle_root(tree) == checkpoint.root
        report["log_problem"] = None
    report["witnesses"] = checkpoint.witnesses
    return report


def verify_file_with_checkpoint(path, note_path, key_text, policy_path=None):
    """Verify the chain of an export, then its signed checkpoint (and the
    checkpoint's cosignatures, with a policy)."""
    key = parse_verifier_key(key_text)
    policy = None if policy_path is None else read_policy(policy_path, key)
    return verify_file(path, read_checkpoint(note_path, key, policy))


# ---------------------------------------------------------------------------
# Consistency between two checkpoints
# ---------------------------------------------------------------------------

HEX_HASH = re.compile(r"[0-9a-fA-F]{64}")


def read_consistency_proof(path):
    """Read ``{"from": m, "to": n, "proof": [hex, ...]}`` as (m, n, proof)."""
    text = read_text(path)
    try:
        doc = loads_strict(text)
    except (ValueError, ArithmeticError, UnicodeEncodeError,
            RecursionError):
        raise UnreadableInput(f"{shown(path)}: not JSON") from None
    if (not isinstance(doc, dict)
            or not _is_int(doc.get("from"), I64_MIN, U64_MAX)
            or not _is_int(doc.get("to"), I64_MIN, U64_MAX)
            or not isinstance(doc.get("proof"), list)):
        raise UnreadableInput(f"{shown(path)}: expected from, to and proof")
    proof = doc["proof"]
    if not all(isinstance(h, str) and HEX_HASH.fullmatch(h) for h in proof):
        raise UnreadableInput(
            f"{shown(path)}: a proof element is not 64 hex digits")
    return doc["from"], doc["to"], [bytes.fromhex(h) for h in proof]


def verify_consistency_files(old_path, new_path, proof_path, key_text,
                             policy_path=None):
    """Verify two checkpoint notes and the consistency proof between them
    (and both notes' cosignatures, with a policy)."""
    key = parse_verifier_key(key_text)
    policy = None if policy_path is None else read_policy(policy_path, key)
    old = read_checkpoint(old_path, key, policy)
    new = read_checkpoint(new_path, key, policy)
    claimed_from, claimed_to, proof = read_consistency_proof(proof_path)
    signatures_valid = old.signature_valid and new.signature_valid
    proof_valid = (claimed_from == old.size and claimed_to == new.size
                   and verify_consistency(old.size, new.size, old.root,
                                          new.root, proof))
    witnesses = (None if policy is None
                 else {"old": old.witnesses, "new": new.witnesses})
    quorum = policy is None or (old.witnesses["quorum_met"]
                                and new.witnesses["quorum_met"])
    return {"ok": signatures_valid and proof_valid and quorum,
            "from": old.size, "to": new.size,
            "signatures_valid": signatures_valid, "proof_valid": proof_valid,
            "witnesses": witnesses}


# ---------------------------------------------------------------------------
# A proof bundle (C2SP tlog-proof): one event, its inclusion, the checkpoint
# ---------------------------------------------------------------------------

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
PROOF_EXTRA = "extra "
PROOF_INDEX = "index "
MAX_PROOF_HASHES = 63
MALFORMED_BUNDLE = "malformed proof bundle"


class ProofBundle(NamedTuple):
    """A tlog-proof as read: the extra data, the index, the inclusion proof
    and the checkpoint note's text."""
    extra: bytes
    index: int
    proof: list
    note: str


def parse_proof_bundle(text):
    """Split a tlog-proof into its parts, strictly: every line ends in "\\n"
    (none in "\\r\\n"), the header, the extra line, the index line, 0 to 63
    hash lines and an empty line; the rest is the note (not read here)."""
    if not text.endswith("\n") or "\r\n" in text:
        raise UnreadableInput(MALFORMED_BUNDLE)
    lines = text.split("\n")
    header, extra, index = (lines + ["", "", ""])[:3]
    extra = (b64decode_canonical(extra[len(PROOF_EXTRA):])
             if extra.startswith(PROOF_EXTRA) else None)
    index = index[len(PROOF_INDEX):] if index.startswith(PROOF_INDEX) else ""
    if (header != PROOF_HEADER or extra is None
            or not TREE_SIZE.fullmatch(index) or int(index) > U64_MAX):
        raise UnreadableInput(MALFORMED_BUNDLE)
    proof = []
    for line in lines[3:-1]:             # lines[-1] follows the last "\\n"
        if line == "":
            break
        digest = b64decode_canonical(line)
        if (digest is None or len(digest) != 32
                or len(proof) == MAX_PROOF_HASHES):
            raise UnreadableInput(MALFORMED_BUNDLE)
        proof.append(digest)
    else:                                # no empty line
        raise UnreadableInput(MALFORMED_BUNDLE)
    note = "\n".join(lines[4 + len(proof):])
    return ProofBundle(extra, int(index), proof, note)


def bundle_event(extra):
    """The event the bundle's extra data holds, read as an export line."""
    try:
        return parse_event(extra.decode("utf-8"))
    except UnicodeDecodeError:
        raise UnreadableInput("event: not UTF-8") from None
    except UnreadableInput as err:
        raise UnreadableInput(f"event: {err}") from None


def open_proof_bundle(text, key, policy=None):
    """Verify a tlog-proof's text: the note, the event, its inclusion."""
    bundle = parse_proof_bundle(text)
    checkpoint = open_checkpoint(bundle.note, key, policy)
    event = bundle_event(bundle.extra)
    event_valid = (hashlib.sha256(event.canonical).hexdigest() == event.hash
                   and event.log_index == bundle.index)
    inclusion_valid = verify_inclusion(bundle.index, checkpoint.size,
                                       leaf_hash(event.canonical),
                                       bundle.proof, checkpoint.root)
    return {"ok": (checkpoint.signature_valid and event_valid
                   and inclusion_valid and _quorum_ok(checkpoint.witnesses)),
            "index": bundle.index, "tree_size": checkpoint.size,
            "signature_valid": checkpoint.signature_valid,
            "event_valid": event_valid, "inclusion_valid": inclusion_valid,
            "witnesses": checkpoint.witnesses,
            "event": {"seq": event.seq, "stream": event.stream,
                      "hash": event.hash}}


def verify_proof_file(path, key_text, policy_path=None):
    """Verify a tlog-proof bundle file."""
    key = parse_verifier_key(key_text)
    policy = None if policy_path is None else read_policy(policy_path, key)
    text = read_text(path)
    try:
        return open_proof_bundle(text, key, policy)
    except UnreadableInput as err:
        raise UnreadableInput(f"{shown(path)}: {err}") from None


# ---------------------------------------------------------------------------
# Self-test: RFC 6962, RFC 8032 and Go sumdb/note vectors
# ---------------------------------------------------------------------------

RFC6962_LEAVES = (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)
RFC6962_ROOTS = (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)
_H_96A2 = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
_H_5F08 = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
_H_6B47 = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
_H_BC1A = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
_H_CA85 = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
_H_0EBC = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
# (leaf index, tree size, proof), indices 0-based.
RFC6962_INCLUSION = (
    (0, 8, (_H_96A2, _H_5F08, _H_6B47)),
    (5, 8, (_H_BC1A, _H_CA85, RFC6962_ROOTS[4])),
    (2, 3, (RFC6962_ROOTS[2],)),
    (1, 5, (RFC6962_ROOTS[1], _H_5F08, _H_BC1A)),
)
# (first size, second size, proof).
RFC6962_CONSISTENCY = (
    (1, 1, ()),
    (1, 8, (_H_96A2, _H_5F08, _H_6B47)),
    (6, 8, (_H_0EBC, _H_CA85, RFC6962_ROOTS[4])),
    (2, 5, (_H_5F08, _H_BC1A)),
)
# RFC 8032 section 7.1 TEST 1 and TEST 2: (secret, public, message, sig).
RFC8032_VECTORS = (
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
     "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
     "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
)
# (byte, bit) positions flipped to tamper with a signature or a key.
SIG_FLIPS = ((0, 0), (31, 7), (32, 0), (63, 4))
KEY_FLIPS = ((0, 0), (16, 3), (31, 7))

# The example note of Go's golang.org/x/mod/sumdb/note.
GO_NOTE_KEY = ("PeterNeumann+c74f20a3+"
               "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
GO_NOTE_SIG_LINE = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8p"
                    "AcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJn"
                    "AM=\n")
GO_NOTE = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n\n" + GO_NOTE_SIG_LINE)

# A checkpoint of the 8 RFC 6962 leaves, signed with the RFC 8032 TEST 1
# key; the foreign PeterNeumann line before it must be ignored.
SELFTEST_KEY = ("unionfund.example/selftest+a1ac9cad+"
                "AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea")
SELFTEST_BODY = ("unionfund.example/selftest\n8\n"
                 "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n")
SELFTEST_SIG_LINE = ("\u2014 unionfund.example/selftest oaycrTHFXKAiAokMBznhsn"
                     "Gl5jHKj0Xpp8OEEAgrzagTYUmWkmSYRDDsx/P2jtIuMtD0fabdUikxKK"
                     "MNXz9s6IYHBwc=\n")
SELFTEST_NOTE = SELFTEST_BODY + "\n" + GO_NOTE_SIG_LINE + SELFTEST_SIG_LINE
# The same key's valid signature over a checkpoint of another origin.
OTHER_ORIGIN_NOTE = (
    "other.example/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"
    "\u2014 unionfund.example/selftest oaycrXrjhKZ79XNTUzbVp4H30wOMP2mJvs4mbY7"
    "+OsKf5b6CQF6D3KLDHfDway9eA9dDJIcyvbUVg6HP1iyXzIFzXwc=\n")


class SelfTest:
    """Counts checks and remembers the names of those that failed."""

    def __init__(self):
        self.checks = 0
        self.failed = []

    def check(self, name, condition):
        self.checks += 1
        if not condition:
            self.failed.append(name)


def _flip(data, byte=0, bit=0):
    """Return ``data`` with one bit flipped."""
    changed = bytearray(data)
    changed[byte] ^= 1 << bit
    return bytes(changed)


def _raises_unreadable(func, *args):
    try:
        func(*args)
    except UnreadableInput:
        return True
    return False


def proof_tampers(proof):
    """Yield (label, tampered proof): each element flipped or dropped, and
    an element added at either end."""
    extra = hashlib.sha256(b"extra").digest()
    for i in range(len(proof)):
        before, after = proof[:i], proof[i + 1:]
        yield f"element {i} flipped", before + [_flip(proof[i])] + after
        yield f"element {i} dropped", before + after
    yield "element appended", proof + [extra]
    yield "element prepended", [extra] + proof


def selftest_roots(t, leaves, roots):
    for n in range(len(roots)):
        t.check(f"root of size {n}", merkle_root(leaves[:n]) == roots[n])


def selftest_inclusion_case(t, leaves, roots, index, size, proof):
    """A valid inclusion proof verifies; every tampered form fails."""
    name = f"inclusion {index}/{size}"
    leaf, root = leaves[index], roots[size]
    t.check(f"{name} verifies",
            verify_inclusion(index, size, leaf, proof, root))
    for label, bad in proof_tampers(proof):
        t.check(f"{name} {label} fails",
                not verify_inclusion(index, size, leaf, bad, root))
    for other in range(size + 2):        # includes index == size, size + 1
        t.check(f"{name} as index {other} fails", other == index
                or not verify_inclusion(other, size, leaf, proof, root))
    for other, other_root in enumerate(roots):
        t.check(f"{name} as size {other} fails", other == size
                or not verify_inclusion(index, other, leaf, proof, other_root))
    t.check(f"{name} claimed in size {2 * size} fails",
            not verify_inclusion(index, 2 * size, leaf, proof, root))
    t.check(f"{name} wrong root fails",
            not verify_inclusion(index, size, leaf, proof, _flip(root)))
    t.check(f"{name} wrong leaf fails",
            not verify_inclusion(index, size, _flip(leaf), proof, root))


def selftest_inclusion(t, leaves, roots):
    for index, size, expected in RFC6962_INCLUSION:
        expected = [bytes.fromhex(h) for h in expected]
        t.check(f"inclusion {index}/{size} generated as in RFC 6962",
                inclusion_path(index, leaves[:size]) == expected)
        selftest_inclusion_case(t, leaves, roots, index, size, expected)
    for size in range(1, len(leaves) + 1):
        for index in range(size):
            proof = inclusion_path(index, leaves[:size])
            selftest_inclusion_case(t, leaves, roots, index, size, proof)


def selftest_consistency_case(t, roots, first, second, proof):
    """A valid consistency proof verifies; every tampered form fails."""
    name = f"consistency {first}->{second}"
    old, new = roots[first], roots[second]
    t.check(f"{name} verifies",
            verify_consistency(first, second, old, new, proof))
    for label, bad in proof_tampers(proof):
        t.check(f"{name} {label} fails",
                not verify_consistency(first, second, old, new, bad))
    for other in range(len(roots)):      # includes 0 and sizes > second
        t.check(f"{name} from {other} fails", other == first or not
                verify_consistency(other, second, roots[other], new, proof))
        t.check(f"{name} to {other} fails", other == second or not
                verify_consistency(first, other, old, roots[other], proof))
    t.check(f"{name} claimed up to size {2 * second} fails",
            not verify_consistency(first, 2 * second, old, new, proof))
    t.check(f"{name} wrong old root fails",
            not verify_consistency(first, second, _flip(old), new, proof))
    t.check(f"{name} wrong new root fails",
            not verify_consistency(first, second, old, _flip(new), proof))


def selftest_consistency(t, leaves, roots):
    for first, second, expected in RFC6962_CONSISTENCY:
        expected = [bytes.fromhex(h) for h in expected]
        t.check(f"consistency {first}->{second} generated as in RFC 6962",
                consistency_proof(first, leaves[:second]) == expected)
        selftest_consistency_case(t, roots, first, second, expected)
    for second in range(1, len(leaves) + 1):
        for first in range(1, second + 1):
            proof = consistency_proof(first, leaves[:second])
            selftest_consistency_case(t, roots, first, second, proof)


def ed25519_tampers(public, message, signature):
    """Yield (label, public, message, signature) with one bit flipped."""
    altered = _flip(message) if message else b"\x00"
    yield "message altered", public, altered, signature
    for byte, bit in SIG_FLIPS:
        yield (f"signature bit {byte}.{bit} flipped", public, message,
               _flip(signature, byte, bit))
    for byte, bit in KEY_FLIPS:
        yield (f"key bit {byte}.{bit} flipped", _flip(public, byte, bit),
               message, signature)
    # S + L is the same scalar mod L: only the range check refuses it.
    s_plus_l = int.from_bytes(signature[32:], "little") + ED_Q
    yield ("signature S + L (not reduced)", public, message,
           signature[:32] + s_plus_l.to_bytes(32, "little"))


def ed25519_backends():
    """The Ed25519 verifiers to test: (name, function)."""
    backends = [("pure-python", ed25519_verify_pure)]
    if Ed25519PublicKey is not None:
        backends.insert(0, ("cryptography", ed25519_verify_library))
    return backends


class Signer(NamedTuple):
    """An Ed25519 signer for the selftest: public(secret), sign(secret, m)."""
    name: str
    public: object
    sign: object


def _library_private(secret):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
    )
    return Ed25519PrivateKey.from_private_bytes(secret)


def _library_public(secret):
    from cryptography.hazmat.primitives.serialization import (
        Encoding, PublicFormat,
    )
    return _library_private(secret).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def _library_sign(secret, message):
    return _library_private(secret).sign(message)


def ed25519_signers():
    """The Ed25519 signers the selftest makes its notes with: the library's
    (when it imports) and RFC 8032's pure-Python one."""
    signers = [Signer("pure-python", ed25519_public_pure, ed25519_sign_pure)]
    if Ed25519PublicKey is not None:
        signers.insert(0, Signer("cryptography", _library_public,
                                 _library_sign))
    return signers


def selftest_rfc8032_signing(t, number, secret, public, message, signature):
    """Each signer derives the vector's public key and its signature."""
    for signer in ed25519_signers():
        name = f"RFC 8032 test {number} ({signer.name} signing)"
        t.check(f"{name}: public key from secret",
                signer.public(secret) == public)
        t.check(f"{name}: signature recomputed",
                signer.sign(secret, message) == signature)


def selftest_ed25519(t):
    for number, vector in enumerate(RFC8032_VECTORS, start=1):
        secret, public, message, signature = map(bytes.fromhex, vector)
        selftest_rfc8032_signing(t, number, secret, public, message,
                                 signature)
        for backend, verify in ed25519_backends():
            name = f"RFC 8032 test {number} ({backend})"
            t.check(f"{name} verifies", verify(public, message, signature))
            for label, *bad in ed25519_tampers(public, message, signature):
                t.check(f"{name} {label} fails", not verify(*bad))


def selftest_go_note(t):
    """The Go sumdb/note example: key id, body and signature line format."""
    key = parse_verifier_key(GO_NOTE_KEY)
    body, signatures = split_note(GO_NOTE)
    t.check("Go note verifies", note_signature_valid(body, signatures, key))
    body, signatures = split_note(GO_NOTE.replace("problem,", "problem;"))
    t.check("Go note with altered text fails",
            not note_signature_valid(body, signatures, key))


def selftest_checkpoint_note(t, roots):
    """A signed checkpoint: parsed, verified, and refused when altered."""
    key = parse_verifier_key(SELFTEST_KEY)
    checkpoint = open_checkpoint(SELFTEST_NOTE, key)
    t.check("checkpoint note verifies", checkpoint.signature_valid)
    t.check("checkpoint size and root read",
            (checkpoint.size, checkpoint.root) == (8, roots[8]))
    altered = SELFTEST_NOTE.replace("\n8\n", "\n7\n")
    t.check("checkpoint with altered size fails",
            not open_checkpoint(altered, key).signature_valid)
    foreign_only = SELFTEST_BODY + "\n" + GO_NOTE_SIG_LINE
    t.check("checkpoint without a line for the key fails",
            not open_checkpoint(foreign_only, key).signature_valid)
    body, signatures = split_note(OTHER_ORIGIN_NOTE)
    t.check("other-origin note is signed by the key",
            note_signature_valid(body, signatures, key))
    t.check("checkpoint of another origin fails",
            not open_checkpoint(OTHER_ORIGIN_NOTE, key).signature_valid)
    other_key = parse_verifier_key(GO_NOTE_KEY)
    t.check("checkpoint under another key fails",
            not open_checkpoint(SELFTEST_NOTE, other_key).signature_valid)
    selftest_malformed_notes(t)


def selftest_malformed_notes(t):
    """Malformed notes and keys are unreadable input, not invalid ones; a
    line that is not a signature line is ignored, as a foreign one is."""
    key = parse_verifier_key(SELFTEST_KEY)
    for label, text in (
            ("no blank line", SELFTEST_BODY + SELFTEST_SIG_LINE),
            ("no signature", SELFTEST_BODY + "\n"),
            ("size with a leading zero", SELFTEST_NOTE.replace("\n8\n",
                                                               "\n08\n")),
            ("a root of 31 bytes", SELFTEST_NOTE.replace(
                "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
                "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQw==")),
            ("a root not in canonical base64", SELFTEST_NOTE.replace(
                "RgQyg=", "RgQyh="))):
        t.check(f"note with {label} is unreadable",
                _raises_unreadable(open_checkpoint, text, key))
    dashes = SELFTEST_NOTE.replace("\u2014", "--")
    t.check("note with ASCII dashes is read but not validly signed",
            not open_checkpoint(dashes, key).signature_valid)
    t.check("note with a non-signature line before its signature verifies",
            open_checkpoint(SELFTEST_BODY + "\nnot a signature\n"
                            + SELFTEST_SIG_LINE, key).signature_valid)
    wrong_id = SELFTEST_KEY.replace("+a1ac9cad+", "+a1ac9cae+")
    t.check("key with a wrong key id is unreadable",
            _raises_unreadable(parse_verifier_key, wrong_id))
    t.check("key with an upper-case key id is read",
            parse_verifier_key(SELFTEST_KEY.replace("+a1ac9cad+",
                                                    "+A1AC9CAD+")) == key)


# ---------------------------------------------------------------------------
# Self-test: cosignatures, policies, quorums and proof bundles
# ---------------------------------------------------------------------------

SELFTEST_LOG_SECRET = bytes.fromhex(RFC8032_VECTORS[0][0])  # SELFTEST_KEY's
SELFTEST_TIME = 1700000000


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def witness_secret(number):
    """Witness n's secret: RFC 8032 TEST 2's for 1, derived for the others."""
    if number == 1:
        return bytes.fromhex(RFC8032_VECTORS[1][0])
    return hashlib.sha256(f"unionfund selftest witness {number}"
                          .encode("ascii")).digest()


def make_vkey(name, public, key_type):
    """A verifier key string for a public key of ``key_type``."""
    return (f"{name}+{key_id(name, public, key_type).hex()}+"
            f"{_b64(key_type + public)}")


def make_signature_line(name, blob):
    return f"{EM_DASH_PREFIX}{name} {_b64(blob)}\n"


def make_cosignature(signer, name, secret, body, timestamp):
    """A cosignature line (with its newline), and its 76 decoded bytes."""
    public = signer.public(secret)
    # The signed message spelled out here, not by cosigned_message: a
    # mistake there must fail this check.
    message = b"cosignature/v1\ntime %d\n" % timestamp + body.encode("utf-8")
    blob = (hashlib.sha256(name.encode("utf-8") + b"\n\x04"
                           + public).digest()[:4]
            + timestamp.to_bytes(8, "big") + signer.sign(secret, message))
    return make_signature_line(name, blob), blob


def make_log_signature(signer, name, secret, body):
    """A log's signature line over a note body (with its newline)."""
    blob = (key_id(name, signer.public(secret))
            + signer.sign(secret, body.encode("utf-8")))
    return make_signature_line(name, blob)


def _cosigned(body, lines, key):
    return note_cosigned(body, rust_lines(lines), key)


def selftest_cosignatures(t):
    """A cosignature verifies; any change to it, or to what it signs, fails."""
    name, secret = "witness.example/w1", witness_secret(1)
    log_key = parse_verifier_key(SELFTEST_KEY)
    t.check("cosigned message as in tlog-cosignature", cosigned_message(
        1679315147, "example.com/behind-the-sofa\n20852163\n"
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n") == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n"
        b"20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"))
    for signer in ed25519_signers():
        label = f"cosignature ({signer.name} signing)"
        vkey = make_vkey(name, signer.public(secret), COSIGNATURE_TYPE)
        key = parse_vkey(vkey, COSIGNATURE_TYPE)
        t.check(f"{label}: witness key read", key is not None
                and key.public_key == bytes.fromhex(RFC8032_VECTORS[1][1]))
        t.check(f"{label}: witness key is not a log key",
                parse_vkey(vkey, ED25519_TYPE) is None
                and _raises_unreadable(parse_verifier_key, vkey))
        line, blob = make_cosignature(signer, name, secret, SELFTEST_BODY,
                                      SELFTEST_TIME)
        body, lines = split_note(SELFTEST_NOTE + line)
        t.check(f"{label} verifies", note_cosigned(body, lines, key))
        t.check(f"{label}: the log's signature still verifies beside it",
                open_checkpoint(SELFTEST_NOTE + line,
                                log_key).signature_valid)
        other_time = blob[:4] + (SELFTEST_TIME + 1).to_bytes(8, "big") \
            + blob[12:]
        t.check(f"{label} with its timestamp changed fails", not _cosigned(
            SELFTEST_BODY, make_signature_line(name, other_time), key))
        t.check(f"{label} over another body fails", not _cosigned(
            SELFTEST_BODY.replace("\n8\n", "\n7\n"), line, key))
        t.check(f"{label} with its key id changed fails", not _cosigned(
            SELFTEST_BODY, make_signature_line(name, _flip(blob)), key))
        t.check(f"{label} under another name fails", not _cosigned(
            SELFTEST_BODY, line.replace("/w1 ", "/w2 "), key))
        renamed = parse_vkey(make_vkey("witness.example/w2", key.public_key,
                                       COSIGNATURE_TYPE), COSIGNATURE_TYPE)
        t.check(f"{label} for a key of another name fails",
                not _cosigned(SELFTEST_BODY, line, renamed))
        for byte, bit in SIG_FLIPS:
            t.check(f"{label} with signature bit {byte}.{bit} flipped fails",
                    not _cosigned(SELFTEST_BODY, make_signature_line(
                        name, _flip(blob, 12 + byte, bit)), key))
        t.check(f"{label} cut to 75 bytes fails", not _cosigned(
            SELFTEST_BODY, make_signature_line(name, blob[:-1]), key))
        for stamp, counts in ((MAX_TIMESTAMP, True), (MAX_TIMESTAMP + 1,
                                                      False), (0, True)):
            signed, _ = make_cosignature(signer, name, secret, SELFTEST_BODY,
                                         stamp)
            t.check(f"{label} at time {stamp} "
                    f"{'verifies' if counts else 'fails'}",
                    _cosigned(SELFTEST_BODY, signed, key) == counts)
        as_log = make_log_signature(signer, name, secret, SELFTEST_BODY)
        as_log_key = parse_verifier_key(make_vkey(name, key.public_key,
                                                  ED25519_TYPE))
        t.check(f"{label}: a plain note signature by the witness fails",
                not _cosigned(SELFTEST_BODY, as_log, key)
                and _cosigned(SELFTEST_BODY, line, key)
                and not note_signature_valid(SELFTEST_BODY, [line[:-1]],
                                             as_log_key))
        bad = make_signature_line(name, _flip(blob, 40))
        t.check(f"{label}: a failing line before it does not stop it",
                _cosigned(SELFTEST_BODY, bad + line, key)
                and not _cosigned(SELFTEST_BODY, bad, key))
        by_log, _ = make_cosignature(signer, log_key.name,
                                     SELFTEST_LOG_SECRET, SELFTEST_BODY,
                                     SELFTEST_TIME)
        t.check(f"{label}: a cosignature by the log's key is not its "
                "signature", not open_checkpoint(SELFTEST_BODY + "\n" + by_log,
                                                 log_key).signature_valid)


def selftest_witness_keys(signer, count):
    """Witness vkeys ``w1`` .. ``w<count>`` (key names witness<n>.example)."""
    return [make_vkey(f"witness{n}.example", signer.public(witness_secret(n)),
                      COSIGNATURE_TYPE) for n in range(1, count + 1)]


def example_policy(vkeys):
    """The tlog-policy example, with keys."""
    return (f"log {SELFTEST_KEY}\n\n"
            f"witness X1 {vkeys[0]}\nwitness X2 {vkeys[1]}\n"
            f"witness X3 {vkeys[2]}\ngroup X-witnesses 2 X1 X2 X3\n\n"
            f"witness Y1 {vkeys[3]}\nwitness Y2 {vkeys[4]}\n"
            f"witness Y3 {vkeys[5]}\ngroup Y-witnesses any Y1 Y2 Y3\n\n"
            "group X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n")


def _policy_error(text):
    try:
        parse_policy(text)
    except UnreadableInput as err:
        return str(err)
    return None


def selftest_policy_shapes(t, vkeys):
    """The spec's shapes are read as written."""
    policy = parse_policy(example_policy(vkeys))
    t.check("example policy read", (
        [name for name, _ in policy.witnesses],
        [key.name for key in policy.logs], policy.groups, policy.quorum) == (
        ["X1", "X2", "X3", "Y1", "Y2", "Y3"], ["unionfund.example/selftest"],
        {"X-witnesses": (2, ("X1", "X2", "X3")),
         "Y-witnesses": (1, ("Y1", "Y2", "Y3")),
         "X-and-Y": (2, ("X-witnesses", "Y-witnesses"))}, "X-and-Y"))
    t.check("example policy keys read", [key for _, key in policy.witnesses]
            == [parse_vkey(v, COSIGNATURE_TYPE) for v in vkeys[:6]])
    spaced = (f"# a comment\n  \t# an indented comment\n\t \n"
              f" \tlog\t {SELFTEST_KEY}  https://log.example/  \n"
              f"witness\tW\u00e9 {vkeys[0]} https://w.example/a\t\n"
              f"witness #2 {vkeys[1]}\n"
              f"group g 1 W\u00e9 #2\nquorum g\n"
              f"witness late {vkeys[2]}\n# the end, no final newline")
    policy = parse_policy(spaced)
    t.check("policy with comments, tabs, URLs and names read", (
        [name for name, _ in policy.witnesses], policy.groups,
        policy.quorum, len(policy.logs)) == (
        ["W\u00e9", "#2", "late"], {"g": (1, ("W\u00e9", "#2"))}, "g", 1))
    for label, text, quorum in (
            ("quorum none alone", "quorum none\n", "none"),
            ("quorum none with witnesses", f"witness a {vkeys[0]}\n"
             "quorum none", "none"),
            ("quorum of one witness", f"witness a {vkeys[0]}\nquorum a\n",
             "a"),
            ("no log line", f"witness a {vkeys[0]}\ngroup b all a\n"
             "quorum b\n", "b")):
        t.check(f"policy with {label} read",
                _policy_error(text) is None
                and parse_policy(text).quorum == quorum)
    key = parse_verifier_key(SELFTEST_KEY)
    t.check("policy without log lines accepts the log",
            policy_has_log(parse_policy("quorum none"), key))
    t.check("policy listing the log accepts it", policy_has_log(
        parse_policy(f"log {GO_NOTE_KEY}\nlog {SELFTEST_KEY}\nquorum none"),
        key))
    renamed = make_vkey("other.example/log", key.public_key, ED25519_TYPE)
    for label, logs in (("another log", GO_NOTE_KEY),
                        ("the log's key under another name", renamed)):
        t.check(f"policy listing only {label} refuses the log",
                not policy_has_log(parse_policy(f"log {logs}\nquorum none"),
                                   key))


def selftest_policy_errors(t, vkeys):
    """Each kind of malformed line is refused, at its line number."""
    w1, w2, w7 = vkeys[0], vkeys[1], vkeys[6]
    head = f"# policy\nwitness a {w1}\nwitness b {w2}\ngroup g any a b\n"
    same_w1 = make_vkey("renamed.example", parse_vkey(
        w1, COSIGNATURE_TYPE).public_key, COSIGNATURE_TYPE)
    same_log = make_vkey("renamed.example",
                         parse_verifier_key(SELFTEST_KEY).public_key,
                         ED25519_TYPE)
    bad_id = w7.split("+")[0] + "+00000000+" + w7.split("+", 2)[2]
    for label, line in (
            ("an unknown keyword", f"witnesses c {w7}"),
            ("a keyword in capitals", f"Witness c {w7}"),
            ("a log without a key", "log"),
            ("a log with a witness key", f"log {w7}"),
            ("a log with two URLs", f"log {SELFTEST_KEY} https://a/ b"),
            ("a log key twice", f"log {SELFTEST_KEY}\nlog {same_log}"),
            ("a witness without a key", "witness c"),
            ("a witness with a log key", f"witness c {SELFTEST_KEY}"),
            ("a witness key of a wrong key id", f"witness c {bad_id}"),
            ("a witness key with padding added", f"witness c {w7}="),
            ("a witness key cut short", f"witness c {w7[:-4]}"),
            ("a witness with two URLs", f"witness c {w7} https://a/ b"),
            ("a witness name taken by a witness", f"witness a {w7}"),
            ("a witness name taken by a group", f"witness g {w7}"),
            ("a witness called none", f"witness none {w7}"),
            ("a witness key twice", f"witness c {same_w1}"),
            ("a group without members", "group h any"),
            ("a group without a threshold", "group h"),
            ("a group called none", "group none any a"),
            ("a group name taken", "group a any b"),
            ("a group of an undefined name", "group h any a c"),
            ("a group of none", "group h any a none"),
            ("a group listing a member twice", "group h 2 a b a"),
            ("a group of itself", "group h any h"),
            ("a threshold of 0", "group h 0 a b"),
            ("a threshold with a leading zero", "group h 01 a b"),
            ("a threshold above the members", "group h 3 a b"),
            ("a negative threshold", "group h -1 a b"),
            ("a threshold with a sign", "group h +1 a b"),
            ("a threshold in capitals", "group h ANY a b"),
            ("a quorum of an undefined name", "quorum c"),
            ("a quorum without a name", "quorum"),
            ("a quorum of two names", "quorum a b"),
            ("a second quorum", "quorum a\nquorum b"),
            ("a carriage return after a key", f"witness c {w7}\r"),
            ("a carriage return after a URL",
             f"witness c {w7} https://w.example/\r"),
            ("a carriage return alone", "\r"),
            ("a carriage return after a comment", "# a comment\r"),
            ("a form feed on an empty line", " \f "),
            ("a vertical tab between items", f"witness c\v{w7}"),
            ("a NUL in a name", f"witness c\0 {w7}")):
        text = head + line + "\nquorum g\n"
        # The bad line is the last one before "quorum g".
        number = head.count("\n") + line.count("\n") + 1
        t.check(f"policy with {label} is malformed at line {number}",
                _policy_error(text) == f"line {number}: malformed policy")
    t.check("a member defined on a later line is refused on its line",
            _policy_error(f"witness a {w1}\ngroup g all a b\n"
                          f"witness b {w2}\nquorum g\n")
            == "line 2: malformed policy")
    t.check("a key is read as --key is: Unicode white space around it "
            "trimmed", _policy_error(f"witness a {w1}\u00a0\u3000\n"
                                     "quorum a") is None)
    t.check("a quorum before its name is defined is refused",
            _policy_error(f"quorum a\nwitness a {w1}\n")
            == "line 1: malformed policy")
    t.check("the first bad line is named", _policy_error(
        "quorum none\nfoo\nbar\n") == "line 2: malformed policy")
    for label, text in (("an empty policy", ""),
                        ("comments only", "# quorum none\n\n"),
                        ("no quorum line", head)):
        t.check(f"{label} has no quorum", _policy_error(text) == NO_QUORUM)
    t.check("a bad line is reported before the missing quorum",
            _policy_error("witness\n") == "line 1: malformed policy")


def selftest_quorums(t, vkeys):
    """all, any, k, nested groups and none, against their definitions."""
    policy = parse_policy(example_policy(vkeys))
    names = ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
    wrong = []
    for bits in range(64):
        chosen = {n for i, n in enumerate(names) if bits >> i & 1}
        expected = (len(chosen & {"X1", "X2", "X3"}) >= 2
                    and len(chosen & {"Y1", "Y2", "Y3"}) >= 1)
        if quorum_met(policy, chosen) != expected:
            wrong.append(sorted(chosen))
    t.check("example quorum (2 of X and any of Y) on every subset", not wrong)
    w = "".join(f"witness w{n} {vkeys[n - 1]}\n" for n in range(1, 6))
    for label, rules, cases in (
            ("none", "quorum none\n", ((set(), True), ({"w1"}, True))),
            ("one witness", "quorum w2\n",
             ((set(), False), ({"w1"}, False), ({"w2"}, True))),
            ("all", "group g all w1 w2 w3\nquorum g\n",
             (({"w1", "w2"}, False), ({"w1", "w2", "w3"}, True))),
            ("any", "group g any w1 w2 w3\nquorum g\n",
             ((set(), False), ({"w4", "w5"}, False), ({"w3"}, True))),
            ("3 of 4", "group g 3 w1 w2 w3 w4\nquorum g\n",
             (({"w1", "w4"}, False), ({"w1", "w2", "w5"}, False),
              ({"w1", "w2", "w4"}, True))),
            ("nested", "group a all w1 w2\ngroup b any w3 w4\n"
             "group c 1 a b\ngroup d all c w5\nquorum d\n",
             (({"w1", "w5"}, False), ({"w1", "w2"}, False),
              ({"w1", "w2", "w5"}, True), ({"w4", "w5"}, True),
              ({"w3", "w4"}, False))),
            ("a group beside a witness", "group a all w1 w2\n"
             "group b 2 a w3 w4\nquorum b\n",
             (({"w3", "w4"}, True), ({"w1", "w3"}, False),
              ({"w1", "w2", "w4"}, True)))):
        policy = parse_policy(w + rules)
        for chosen, expected in cases:
            t.check(f"quorum {label} with {sorted(chosen)}: {expected}",
                    quorum_met(policy, chosen) == expected)


def selftest_witness_verdict(t, signer, vkeys):
    """Cosignatures judged on a note: policy names, in the policy's order."""
    policy = parse_policy(example_policy(vkeys))
    lines = [make_cosignature(signer, f"witness{n}.example", witness_secret(n),
                              SELFTEST_BODY, SELFTEST_TIME + n)[0]
             for n in (1, 2, 6)]
    failing = make_signature_line("witness4.example", _flip(
        base64.b64decode(make_cosignature(
            signer, "witness4.example", witness_secret(4), SELFTEST_BODY,
            SELFTEST_TIME)[0].split()[-1]), 20))
    note = SELFTEST_NOTE + lines[1] + failing + lines[0]
    body, signature_lines = split_note(note)
    t.check("two X witnesses alone: no quorum, named in policy order",
            witness_verdict(policy, body, signature_lines)
            == {"quorum_met": False, "cosigned_by": ["X1", "X2"]})
    body, signature_lines = split_note(note + lines[2])
    t.check("two X witnesses and a Y witness: quorum",
            witness_verdict(policy, body, signature_lines)
            == {"quorum_met": True, "cosigned_by": ["X1", "X2", "Y3"]})
    reordered = parse_policy(f"witness b {vkeys[1]}\nwitness c {vkeys[2]}\n"
                             f"witness a {vkeys[0]}\nquorum a\n")
    t.check("cosigners named in the policy's order, not the note's",
            witness_verdict(reordered, body, signature_lines)
            == {"quorum_met": True, "cosigned_by": ["b", "a"]})
    checkpoint = open_checkpoint(note + lines[2],
                                 parse_verifier_key(SELFTEST_KEY), policy)
    report = checkpoint_report(None, checkpoint)
    t.check("checkpoint report carries the verdict last",
            list(report) == ["tree_size", "signature_valid", "root_matches",
                             "log_problem", "witnesses"]
            and report["witnesses"]["quorum_met"])
    t.check("checkpoint report without a policy has witnesses null",
            checkpoint_report(None, open_checkpoint(
                SELFTEST_NOTE, parse_verifier_key(SELFTEST_KEY)))["witnesses"]
            is None)


def selftest_event_line(log_index=5):
    """An export line (compact JSON), with its event read."""
    event = dict.fromkeys(HASHED_FIELDS)
    event.update(seq=6, stream="fund:selftest", stream_seq=1,
                 occurred_at="2024-01-02T03:04:05.000000Z", actor="selftest",
                 actor_role="auditor", action="fund.created",
                 entity_type="fund", entity_id="f-1", amount="12.50",
                 after='{"name":"\u5e2e\u6276"}', prev_hash=GENESIS_HASH,
                 hash="")
    event["hash"] = hashlib.sha256(
        parse_event(json.dumps(event)).canonical).hexdigest()
    event["log_index"] = log_index
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def make_bundle(extra, index, proof, note):
    return (f"{PROOF_HEADER}\n{PROOF_EXTRA}{_b64(extra)}\n{PROOF_INDEX}"
            f"{index}\n" + "".join(f"{_b64(h)}\n" for h in proof)
            + "\n" + note)


def selftest_bundle_parts(signer, leaves):
    """A tree of the RFC 6962 leaves with the event as leaf 5, its inclusion
    proof, and a note of it signed by the log and cosigned by w1 and w2."""
    line = selftest_event_line()
    tree = list(leaves)
    tree[5] = leaf_hash(parse_event(line).canonical)
    body = (f"unionfund.example/selftest\n{len(tree)}\n"
            f"{_b64(merkle_root(tree))}\n")
    note = (body + "\n"
            + make_log_signature(signer, "unionfund.example/selftest",
                                 SELFTEST_LOG_SECRET, body)
            + make_cosignature(signer, "witness1.example", witness_secret(1),
                               body, SELFTEST_TIME)[0]
            + make_cosignature(signer, "witness2.example", witness_secret(2),
                               body, SELFTEST_TIME + 7)[0])
    return line, inclusion_path(5, tree), note


def _byte_replacements(byte):
    """The values a byte is changed to: its lowest bit flipped, a line end,
    and its neighbour in the base64 alphabet, a carriage return for a line
    end, or (another byte) bit 5 flipped."""
    alphabet = (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                b"0123456789+/")
    if byte in alphabet:
        other = alphabet[(alphabet.index(byte) + 1) % len(alphabet)]
    else:
        other = 0x0d if byte == 0x0a else byte ^ 0x20
    return sorted({byte ^ 0x01, other, 0x0a} - {byte})


def _bundle_fails(data, key, policy):
    """Whether a bundle's bytes are refused: unreadable, or not ok."""
    try:
        return not open_proof_bundle(data.decode("utf-8"), key, policy)["ok"]
    except (UnicodeDecodeError, UnreadableInput):
        return True


def _bundle_error(text, key):
    try:
        open_proof_bundle(text, key)
    except UnreadableInput as err:
        return str(err)
    return None


def selftest_proof_bundle(t, signer, leaves, vkeys):
    """A tlog-proof verifies, and fails when any byte of it changes."""
    key = parse_verifier_key(SELFTEST_KEY)
    line, proof, note = selftest_bundle_parts(signer, leaves)
    bundle = make_bundle(line.encode("utf-8"), 5, proof, note)
    both = parse_policy(f"log {SELFTEST_KEY}\nwitness w1 {vkeys[0]}\n"
                        f"witness w2 {vkeys[1]}\nwitness w3 {vkeys[2]}\n"
                        "group both all w1 w2\nquorum both\n")
    event = parse_event(line)
    expected = {"ok": True, "index": 5, "tree_size": 8,
                "signature_valid": True, "event_valid": True,
                "inclusion_valid": True,
                "witnesses": {"quorum_met": True,
                              "cosigned_by": ["w1", "w2"]},
                "event": {"seq": 6, "stream": "fund:selftest",
                          "hash": event.hash}}
    result = open_proof_bundle(bundle, key, both)
    t.check(f"proof bundle ({signer.name} signing) verifies",
            json.dumps(result) == json.dumps(expected))
    expected.update(witnesses=None)
    t.check("proof bundle without a policy verifies",
            json.dumps(open_proof_bundle(bundle, key)) == json.dumps(expected))
    w3 = parse_policy(f"witness w1 {vkeys[0]}\nwitness w3 {vkeys[2]}\n"
                      "group g all w1 w3\nquorum g\n")
    result = open_proof_bundle(bundle, key, w3)
    t.check("proof bundle short of its quorum fails", not result["ok"]
            and result["witnesses"] == {"quorum_met": False,
                                        "cosigned_by": ["w1"]})
    data = bundle.encode("utf-8")
    missed = [f"{i}:{value:#04x}" for i in range(len(data))
              for value in _byte_replacements(data[i])
              if not _bundle_fails(data[:i] + bytes([value]) + data[i + 1:],
                                   key, both)]
    t.check(f"proof bundle fails with any byte changed ({len(data)} bytes)",
            not missed)
    selftest_bundle_verdicts(t, key, line, proof, note)
    selftest_malformed_bundles(t, key, line, proof, note)


def selftest_bundle_verdicts(t, key, line, proof, note):
    """Readable bundles whose event or inclusion does not hold."""
    for label, event_line, index, path, verdict in (
            ("an event of another log_index", line.replace(
                '"log_index":5', '"log_index":4'), 5, proof, (False, True)),
            ("an event without a log_index", line.replace(
                '"log_index":5', '"log_index":null'), 5, proof, (False, True)),
            ("an altered event", line.replace("12.50", "12.51"), 5, proof,
             (False, False)),
            ("another index", line.replace('"log_index":5', '"log_index":4'),
             4, proof, (True, False)),
            ("an index past the tree", line.replace(
                '"log_index":5', '"log_index":8'), 8, proof, (True, False)),
            ("a proof element dropped", line, 5, proof[:-1], (True, False)),
            ("63 hashes", line, 5, proof * 21, (True, False))):
        result = open_proof_bundle(make_bundle(event_line.encode("utf-8"),
                                               index, path, note), key)
        t.check(f"proof bundle with {label}: event and inclusion {verdict}",
                (result["event_valid"], result["inclusion_valid"]) == verdict
                and not result["ok"] and result["signature_valid"])


def selftest_malformed_bundles(t, key, line, proof, note):
    """Each kind of unreadable bundle, with its words."""
    good = make_bundle(line.encode("utf-8"), 5, proof, note)
    header = f"{PROOF_HEADER}\n{PROOF_EXTRA}{_b64(line.encode('utf-8'))}\n"
    bad_event = lambda data: make_bundle(data, 5, proof, note)  # noqa: E731
    hashes = "".join(f"{_b64(h)}\n" for h in proof)
    for label, text, error in (
            ("another header", good.replace("@v1", "@v2", 1),
             MALFORMED_BUNDLE),
            ("CRLF line ends", good.replace("\n", "\r\n"), MALFORMED_BUNDLE),
            ("a carriage return ending the note", good[:-1] + "\r",
             MALFORMED_BUNDLE),
            ("no final newline", good[:-1], MALFORMED_BUNDLE),
            ("no extra line", good.replace(header, PROOF_HEADER + "\n"),
             MALFORMED_BUNDLE),
            ("extra without its space", good.replace("extra ", "extra", 1),
             MALFORMED_BUNDLE),
            ("extra not in canonical base64", good.replace(
                header, header[:-2] + "=\n"), MALFORMED_BUNDLE),
            ("an index with a leading zero", good.replace(
                "index 5", "index 05"), MALFORMED_BUNDLE),
            ("a negative index", good.replace("index 5", "index -5"),
             MALFORMED_BUNDLE),
            ("an empty index", good.replace("index 5", "index "),
             MALFORMED_BUNDLE),
            ("an index past 2^64", good.replace(
                "index 5", f"index {U64_MAX + 1}"), MALFORMED_BUNDLE),
            ("a hash of 31 bytes", good.replace(hashes, _b64(proof[0][:31])
                                                + "\n"), MALFORMED_BUNDLE),
            ("a hash in hex", good.replace(hashes, proof[0].hex() + "\n"),
             MALFORMED_BUNDLE),
            ("64 hashes", make_bundle(line.encode("utf-8"), 5,
                                      proof * 21 + proof[:1], note),
             MALFORMED_BUNDLE),
            ("no empty line", good.replace(hashes + "\n", hashes),
             MALFORMED_BUNDLE),
            ("only its header lines", header + "index 5\n", MALFORMED_BUNDLE),
            ("an empty file", "", MALFORMED_BUNDLE),
            ("a note without its blank line", good.replace(
                "=\n\n\u2014", "=\n\u2014"), MALFORMED_NOTE),
            ("no note", good[:len(good) - len(note)], MALFORMED_NOTE),
            ("an event not in UTF-8", bad_event(b"\xff"), "event: not UTF-8"),
            ("an event not JSON", bad_event(b'{"seq":'), "event: not JSON"),
            ("an empty event", bad_event(b""), "event: not JSON"),
            ("an event not an object", bad_event(b"[]"),
             "event: not a JSON object"),
            ("an event without seq", bad_event(line.replace(
                '"seq":6,', "").encode("utf-8")),
             "event: missing field 'seq'"),
            ("an event of a negative log_index", bad_event(line.replace(
                '"log_index":5', '"log_index":-1').encode("utf-8")),
             "event: 'log_index' is neither a non-negative integer nor null"),
            ("a bad note and a bad event", make_bundle(b"[]", 5, proof,
                                                       "x\n"),
             MALFORMED_NOTE)):
        t.check(f"proof bundle with {label} is unreadable",
                _bundle_error(text, key) == error)


def selftest_witnesses(t, leaves):
    """Cosignatures, policies, quorums and proof bundles."""
    selftest_cosignatures(t)
    signer = ed25519_signers()[0]
    vkeys = selftest_witness_keys(signer, 7)
    selftest_policy_shapes(t, vkeys)
    selftest_policy_errors(t, vkeys)
    selftest_quorums(t, vkeys)
    selftest_witness_verdict(t, signer, vkeys)
    for signer in ed25519_signers():
        selftest_proof_bundle(t, signer, leaves, vkeys)


def run_selftest():
    """Run every self-test; return the result dict."""
    t = SelfTest()
    leaves = [leaf_hash(bytes.fromhex(d)) for d in RFC6962_LEAVES]
    roots = [bytes.fromhex(r) for r in RFC6962_ROOTS]
    selftest_roots(t, leaves, roots)
    selftest_inclusion(t, leaves, roots)
    selftest_consistency(t, leaves, roots)
    selftest_ed25519(t)
    selftest_go_note(t)
    selftest_checkpoint_note(t, roots)
    selftest_witnesses(t, leaves)
    return {"ok": not t.failed, "checks": t.checks, "failed": t.failed,
            "ed25519_backends": [name for name, _ in ed25519_backends()]}


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def split_options(args, required, optional=()):
    """Split args into (positionals, {option: value}).

    Every option in ``required`` must be given exactly once, with a value,
    and those in ``optional`` at most once; returns None otherwise or for an
    unknown option.
    """
    positionals, options = [], {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("--"):
            positionals.append(arg)
        elif (arg in required or arg in optional) and arg not in options \
                and rest:
            options[arg] = rest.pop(0)
        else:
            return None
    if not set(required) <= set(options):
        return None
    return positionals, options


def parse_command_line(args):
    """Return a function running the requested check, or None (usage)."""
    if args == ["selftest"]:
        return run_selftest
    if len(args) == 1 and not args[0].startswith("--"):
        return lambda: verify_file(args[0])
    if args[:1] == ["consistency"]:
        parsed = split_options(args[1:], ("--key",), ("--policy",))
        if parsed and len(parsed[0]) == 3:
            paths, options = parsed
            return lambda: verify_consistency_files(
                *paths, options["--key"], options.get("--policy"))
        return None
    if args[:1] == ["proof"]:
        parsed = split_options(args[1:], ("--key",), ("--policy",))
        if parsed and len(parsed[0]) == 1:
            (path,), options = parsed
            return lambda: verify_proof_file(path, options["--key"],
                                             options.get("--policy"))
        return None
    parsed = split_options(args, ("--checkpoint", "--key"), ("--policy",))
    if parsed and len(parsed[0]) == 1:
        (path,), options = parsed
        return lambda: verify_file_with_checkpoint(
            path, options["--checkpoint"], options["--key"],
            options.get("--policy"))
    return None


def print_json(value):
    """Print one line of compact JSON in UTF-8, as serde_json writes it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.buffer.write(text.encode("utf-8") + b"\n")
    sys.stdout.flush()


def main(argv):
    """Command-line entry point; returns the exit status."""
    command = parse_command_line(argv[1:])
    if command is None:
        print(USAGE.format(prog=argv[0]), file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        result = command()
    except UnreadableInput as err:
        print_json({"ok": False, "error": str(err)})
        return EXIT_UNREADABLE
    print_json(result)
    return EXIT_OK if result["ok"] else EXIT_BROKEN


if __name__ == "__main__":
    sys.exit(main(sys.argv))

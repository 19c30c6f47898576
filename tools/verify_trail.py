#!/usr/bin/env python3
"""Verify an audit-trail NDJSON export offline, with the standard library.

Usage:
  python3 tools/verify_trail.py FILE.ndjson
  python3 tools/verify_trail.py FILE.ndjson --checkpoint NOTE --key VKEY
  python3 tools/verify_trail.py consistency OLD NEW PROOF.json --key VKEY
  python3 tools/verify_trail.py selftest

This script and ``unionfund audit verify-export`` / ``verify-consistency``
follow one output contract (the README's Auditors' guide): on the same input
they print the same line of JSON, byte for byte, and exit with the same status.

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
non-negative integer nor null``), and for a proof file ``not JSON``,
``expected from, to and proof`` or ``a proof element is not 64 hex digits``.
The first problem met is reported; inputs are read in the order key, note(s),
export or proof.  A wrong command line prints the usage on stderr and exits 2.

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

**A signed checkpoint** (``--checkpoint NOTE --key VKEY``).  The audit log is
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
"signature_valid":...,"root_matches":...,"log_problem":null}``; when the
events do not hold each of 0 .. n-1 exactly once, root_matches is false and
log_problem is ``"log_incomplete"``.  ``ok`` is true only when the chain
holds, the signature is valid and the root matches.

**Consistency of two checkpoints** (``consistency OLD NEW PROOF.json --key
VKEY``).  OLD and NEW are checkpoint notes; PROOF.json is the answer of
GET /api/v1/audit/consistency:
``{"from": m, "to": n, "proof": ["<64 hex>", ...]}`` (integers and an array
of hex hashes; other keys are ignored).  The script checks both notes'
signatures, that from/to are the old and new tree sizes, and the RFC 9162
section 2.1.4.2 consistency proof between the two roots, and prints
``{"ok":...,"from":m,"to":n,"signatures_valid":...,"proof_valid":...}`` with
the notes' sizes.

**Self-test** (``selftest``).  Runs the RFC 6962 tree vectors (roots, proof
generation and verification, tampered proofs), RFC 8032 Ed25519 vectors on
both the ``cryptography`` package (when it imports) and the pure-Python
fallback, and the Go sumdb/note signed-note vector; prints
``{"ok": ..., "checks": N, "failed": [...], "ed25519_backends": [...]}``.

Ed25519 signatures are checked with the ``cryptography`` package when it
imports; otherwise with a pure-Python verifier following RFC 8032 section 6,
so the script still needs nothing but the standard library.
"""

import base64
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
       {prog} FILE.ndjson --checkpoint NOTE --key VKEY
       {prog} consistency OLD_NOTE NEW_NOTE PROOF.json --key VKEY
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
                        and report["root_matches"])
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


def ed25519_verify_library(public_key, message, signature):
    """Verify with the cryptography package (which must have imported)."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def ed25519_verify(public_key, message, signature):
    """Verify an Ed25519 signature with the best backend available."""
    if Ed25519PublicKey is not None:
        return ed25519_verify_library(public_key, message, signature)
    return ed25519_verify_pure(public_key, message, signature)


# ---------------------------------------------------------------------------
# Verifier keys, signed notes and checkpoints (C2SP)
# ---------------------------------------------------------------------------

EM_DASH_PREFIX = "\u2014 "
ED25519_TYPE = b"\x01"
KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")
TREE_SIZE = re.compile(r"0|[1-9][0-9]*")

MALFORMED_KEY = "verifier key: malformed"
MALFORMED_NOTE = "malformed checkpoint note"


class VerifierKey(NamedTuple):
    """A parsed verifier key string."""
    name: str
    key_id: bytes
    public_key: bytes


class Checkpoint(NamedTuple):
    """A checkpoint note as read, with its signature checked."""
    origin: str
    size: int
    root: bytes
    signature_valid: bool


def key_id(name, public_key):
    """Key id: first 4 bytes of SHA-256(name || "\\n" || 0x01 || key)."""
    data = name.encode("utf-8") + b"\n" + ED25519_TYPE + public_key
    return hashlib.sha256(data).digest()[:4]


def _is_curve_point(data):
    """Whether 32 bytes decode to a curve point as the Rust verifier decodes
    a public key (the y coordinate reduced mod p, any sign of x = 0)."""
    y = (int.from_bytes(data, "little") & ((1 << 255) - 1)) % ED_P
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, ED_P - 2, ED_P) % ED_P
    return x2 == 0 or pow(x2, (ED_P - 1) // 2, ED_P) == 1


def parse_verifier_key(text):
    """Parse ``<name>+<key id hex>+<base64(0x01 || public key)>``."""
    parts = text.strip(RUST_WHITESPACE).split("+", 2)  # base64 may hold '+'
    if len(parts) != 3:
        raise UnreadableInput(MALFORMED_KEY)
    name, id_hex, key_b64 = parts
    key = b64decode_canonical(key_b64)
    if (not name or not KEY_ID_HEX.fullmatch(id_hex) or key is None
            or len(key) != 33 or key[:1] != ED25519_TYPE
            or not _is_curve_point(key[1:])
            or key_id(name, key[1:]) != bytes.fromhex(id_hex)):
        raise UnreadableInput(MALFORMED_KEY)
    return VerifierKey(name, bytes.fromhex(id_hex), key[1:])


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


def note_signature_valid(body, signature_lines, key):
    """Whether one signature line for ``key`` verifies over the body.

    Lines for other key names or key ids, or not signature lines at all, are
    ignored; if none is for this key, the signature is not valid.
    """
    for line in signature_lines:
        if not line.startswith(EM_DASH_PREFIX):
            continue
        name, space, blob = line[len(EM_DASH_PREFIX):].rpartition(" ")
        signature = b64decode_canonical(blob) if space else None
        if (signature is None or name != key.name or len(signature) != 68
                or signature[:4] != key.key_id):
            continue
        if ed25519_verify(key.public_key, body.encode("utf-8"),
                          signature[4:]):
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


def open_checkpoint(text, key):
    """Parse a checkpoint note's text and check its signature by ``key``.

    A checkpoint whose origin is not the key's name is not this log's, so
    its signature does not count as valid.
    """
    body, signature_lines = split_note(text)
    origin, size, root = parse_checkpoint_body(body)
    valid = (origin == key.name
             and note_signature_valid(body, signature_lines, key))
    return Checkpoint(origin, size, root, valid)


def read_checkpoint(path, key):
    """Read a checkpoint note file (UTF-8) and check it."""
    text = read_text(path)
    try:
        return open_checkpoint(text, key)
    except UnreadableInput as err:
        raise UnreadableInput(f"{shown(path)}: {err}") from None


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
    return report


def verify_file_with_checkpoint(path, note_path, key_text):
    """Verify the chain of an export, then its signed checkpoint."""
    key = parse_verifier_key(key_text)
    return verify_file(path, read_checkpoint(note_path, key))


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


def verify_consistency_files(old_path, new_path, proof_path, key_text):
    """Verify two checkpoint notes and the consistency proof between them."""
    key = parse_verifier_key(key_text)
    old = read_checkpoint(old_path, key)
    new = read_checkpoint(new_path, key)
    claimed_from, claimed_to, proof = read_consistency_proof(proof_path)
    signatures_valid = old.signature_valid and new.signature_valid
    proof_valid = (claimed_from == old.size and claimed_to == new.size
                   and verify_consistency(old.size, new.size, old.root,
                                          new.root, proof))
    return {"ok": signatures_valid and proof_valid,
            "from": old.size, "to": new.size,
            "signatures_valid": signatures_valid, "proof_valid": proof_valid}


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


def selftest_rfc8032_signing(t, number, secret, public, message, signature):
    """With the library, signing the vector's message gives its signature."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
    )
    from cryptography.hazmat.primitives.serialization import (
        Encoding, PublicFormat,
    )
    private = Ed25519PrivateKey.from_private_bytes(secret)
    derived = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    t.check(f"RFC 8032 test {number}: public key from secret",
            derived == public)
    t.check(f"RFC 8032 test {number}: signature recomputed",
            private.sign(message) == signature)


def selftest_ed25519(t):
    for number, vector in enumerate(RFC8032_VECTORS, start=1):
        secret, public, message, signature = map(bytes.fromhex, vector)
        if Ed25519PublicKey is not None:
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
    return {"ok": not t.failed, "checks": t.checks, "failed": t.failed,
            "ed25519_backends": [name for name, _ in ed25519_backends()]}


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def split_options(args, required):
    """Split args into (positionals, {option: value}).

    Every option in ``required`` must be given exactly once, with a value;
    returns None otherwise or for an unknown option.
    """
    positionals, options = [], {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("--"):
            positionals.append(arg)
        elif arg in required and arg not in options and rest:
            options[arg] = rest.pop(0)
        else:
            return None
    if set(options) != set(required):
        return None
    return positionals, options


def parse_command_line(args):
    """Return a function running the requested check, or None (usage)."""
    if args == ["selftest"]:
        return run_selftest
    if len(args) == 1 and not args[0].startswith("--"):
        return lambda: verify_file(args[0])
    if args[:1] == ["consistency"]:
        parsed = split_options(args[1:], ("--key",))
        if parsed and len(parsed[0]) == 3:
            paths, options = parsed
            return lambda: verify_consistency_files(*paths, options["--key"])
        return None
    parsed = split_options(args, ("--checkpoint", "--key"))
    if parsed and len(parsed[0]) == 1:
        (path,), options = parsed
        return lambda: verify_file_with_checkpoint(
            path, options["--checkpoint"], options["--key"])
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

#!/usr/bin/env python3
"""Verify an audit-trail NDJSON export offline, with the standard library.

Usage: python3 tools/verify_trail.py FILE.ndjson

The file holds one JSON event per line, as exported by
GET /api/v1/audit/export?format=ndjson.  Following "The hash, byte for byte"
(version 1) in the README's Auditors' guide, each event is checked in file
order:

1. Its hash is recomputed: SHA-256 over the 18 ASCII bytes
   ``unionfund-audit-v1`` followed by the 18 hashed fields in their fixed
   order, each field being a 4-byte big-endian length and its UTF-8 text
   exactly as exported (integers in decimal), or ``FF FF FF FF`` when the
   field is null.  The lower-case hex digest must equal the event's ``hash``,
   otherwise the event is reported as ``hash_mismatch``.
2. ``seq`` must increase through the file, and within each stream
   ``stream_seq`` must count 1, 2, 3, ... without gaps while ``prev_hash``
   equals the previous event's ``hash`` (64 zeros for a stream's first
   event); otherwise the event is reported as ``chain_broken``.

Verification stops at the first broken event.  The script prints
``{"ok": ..., "checked": N, "first_broken": {"seq": S, "reason": ...}}``,
where N counts the events that passed every check (all of them when ok), and
exits 0 when everything holds, 1 when something is broken and 2 when the input
cannot be read (missing file, bad JSON, or a line that is not an event).

An export alone cannot show that events were cut off the *end* of a stream;
that needs the stream heads or a checkpoint, which the online verifier checks.
"""

import hashlib
import json
import sys

HASH_PREFIX = b"unionfund-audit-v1"
HASHED_FIELDS = (
    "seq", "stream", "stream_seq", "occurred_at", "actor", "actor_role",
    "org_id", "request_id", "action", "entity_type", "entity_id", "fund_id",
    "stage", "amount", "entry_id", "before", "after", "prev_hash",
)
ABSENT = b"\xff\xff\xff\xff"
GENESIS_HASH = "0" * 64

HASH_MISMATCH = "hash_mismatch"
CHAIN_BROKEN = "chain_broken"

EXIT_OK = 0
EXIT_BROKEN = 1
EXIT_UNREADABLE = 2


class UnreadableInput(Exception):
    """The input is missing, is not JSON, or holds something not an event."""


class Broken(Exception):
    """An event failed verification; carries its seq and the reason word."""

    def __init__(self, seq, reason, detail):
        super().__init__(detail)
        self.seq = seq
        self.reason = reason
        self.detail = detail


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def parse_event(line, line_no):
    """Parse one NDJSON line into an event dict, checking its shape."""
    try:
        # parse_float=str keeps any non-integer number exactly as written,
        # so a numeric amount would still be hashed in its exported text form.
        event = json.loads(line, parse_float=str,
                           parse_constant=_reject_constant)
    except ValueError as err:
        raise UnreadableInput(f"line {line_no}: bad JSON: {err}") from None
    if not isinstance(event, dict):
        raise UnreadableInput(f"line {line_no}: not a JSON object")
    for name in HASHED_FIELDS + ("hash",):
        if name not in event:
            raise UnreadableInput(f"line {line_no}: missing field {name!r}")
    for name in ("seq", "stream_seq"):
        value = event[name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise UnreadableInput(
                f"line {line_no}: {name!r} is not an integer")
    if not isinstance(event["stream"], str):
        raise UnreadableInput(f"line {line_no}: 'stream' is not a string")
    return event


def field_text(name, value, line_no):
    """Return a field's exported text form, or None when it is absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise UnreadableInput(
            f"line {line_no}: field {name!r} is neither text, an integer "
            "nor null")
    return str(value)


def encode_field(text, name, line_no):
    """Encode one field as a 4-byte big-endian length plus its UTF-8 bytes."""
    if text is None:
        return ABSENT
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnreadableInput(
            f"line {line_no}: field {name!r} is not valid Unicode") from None
    return len(data).to_bytes(4, "big") + data


def event_hash(event, line_no):
    """Recompute an event's hash (version 1) as lower-case hex."""
    digest = hashlib.sha256(HASH_PREFIX)
    for name in HASHED_FIELDS:
        text = field_text(name, event[name], line_no)
        digest.update(encode_field(text, name, line_no))
    return digest.hexdigest()


def check_event(event, line_no, last_seq, heads):
    """Check one event against the trail so far; raise Broken if it fails.

    ``heads`` maps each stream to its last (stream_seq, hash) and is updated
    when the event holds.
    """
    seq = event["seq"]
    if event_hash(event, line_no) != event["hash"]:
        raise Broken(seq, HASH_MISMATCH,
                     "recomputed hash differs from the stored hash")
    if last_seq is not None and seq <= last_seq:
        raise Broken(seq, CHAIN_BROKEN,
                     f"seq {seq} does not follow seq {last_seq}")
    stream = event["stream"]
    prev_stream_seq, prev_hash = heads.get(stream, (0, GENESIS_HASH))
    if event["stream_seq"] != prev_stream_seq + 1:
        raise Broken(seq, CHAIN_BROKEN,
                     f"stream_seq {event['stream_seq']} in {stream} should be "
                     f"{prev_stream_seq + 1}")
    if event["prev_hash"] != prev_hash:
        raise Broken(seq, CHAIN_BROKEN,
                     f"prev_hash does not match the previous hash in {stream}")
    heads[stream] = (event["stream_seq"], event["hash"])


def verify_file(path):
    """Verify the export at ``path``; return the result as a dict."""
    checked = 0
    last_seq = None
    heads = {}
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                event = parse_event(line, line_no)
                try:
                    check_event(event, line_no, last_seq, heads)
                except Broken as broken:
                    return {
                        "ok": False,
                        "checked": checked,
                        "first_broken": {
                            "seq": broken.seq,
                            "reason": broken.reason,
                            "detail": broken.detail,
                        },
                    }
                last_seq = event["seq"]
                checked += 1
    except (OSError, UnicodeDecodeError) as err:
        raise UnreadableInput(f"cannot read {path}: {err}") from None
    return {"ok": True, "checked": checked, "first_broken": None}


def main(argv):
    """Command-line entry point; returns the exit status."""
    if len(argv) != 2:
        print(f"usage: {argv[0]} FILE.ndjson", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        result = verify_file(argv[1])
    except UnreadableInput as err:
        print(json.dumps({"ok": False, "error": str(err)}, ensure_ascii=False))
        return EXIT_UNREADABLE
    print(json.dumps(result, ensure_ascii=False))
    return EXIT_OK if result["ok"] else EXIT_BROKEN


if __name__ == "__main__":
    sys.exit(main(sys.argv))

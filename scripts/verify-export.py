#!/usr/bin/env python3
"""Verifies a `jobsprint replay export` file with nothing but Python's stdlib.

Each line is one CloudEvents JSON object; its `jobsprinthash` must be the
SHA-256 of the canonical JSON of the rest of the line, and each line must
link (`jobsprintprevhash`) to the hash of the line before it whenever their
chain positions are consecutive (always, in a full export). Usage:
    python3 scripts/verify-export.py export.ndjson   (or read from stdin)
"""
import hashlib, json, sys

prev_seq, prev_hash, lines = None, "0" * 64, 0
for number, line in enumerate(open(sys.argv[1], encoding="utf-8") if sys.argv[1:] else sys.stdin, 1):
    record = json.loads(line)
    claimed, seq = record.pop("jobsprinthash"), record["jobsprintchainseq"]
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    where = f"line {number}: chain seq {seq}, event {record['id']}"
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != claimed:
        sys.exit(f"{where}: the hash does not match the content")
    if seq == (prev_seq or 0) + 1 and record["jobsprintprevhash"] != prev_hash:
        sys.exit(f"{where}: does not link to the hash of chain seq {seq - 1}")
    prev_seq, prev_hash, lines = seq, claimed, lines + 1
print(f"ok: {lines} records verified")

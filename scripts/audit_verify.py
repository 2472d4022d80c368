#!/usr/bin/env python3
"""Verify a Portcullis audit log export without Portcullis: only this file, Python 3,
the export directory (`portcullis audit export --out DIR`) and the log's public
(verifier) key. See docs/audit.md.

    python3 scripts/audit_verify.py DIR --vkey VKEY_FILE
    python3 scripts/audit_verify.py DIR --vkey VKEY_FILE --inclusion proof.json
    python3 scripts/audit_verify.py DIR --vkey VKEY_FILE --consistency cons.json --old-checkpoint old.note

It checks, from first principles:
- the verifier key (`<name>+<key id>+<base64(0x01 || Ed25519 public key)>`, key id =
  SHA-256(name || 0x0A || 0x01 || public key)[:4]);
- every checkpoint (C2SP tlog-checkpoint in a C2SP signed note): its Ed25519 signature
  by that key, its origin (the same for all), and that its root is the RFC 6962 Merkle
  root of the first <size> leaves of leaves.jsonl (leaf hash SHA-256(0x00 || leaf),
  node hash SHA-256(0x01 || left || right));
- optionally an inclusion or consistency proof (JSON from `portcullis audit proof`)
  against the latest checkpoint, with the RFC 9162 section 2.1.3.2 / 2.1.4.2 algorithms.

Ed25519 uses the `cryptography` package when installed, else the `openssl` command.
Exit status 0 when everything verifies, 1 otherwise.
"""

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile


class Bad(Exception):
    pass


def sha256(b):
    return hashlib.sha256(b).digest()


def leaf_hash(leaf):
    return sha256(b"\x00" + leaf)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def mth(hashes):
    """RFC 6962 Merkle tree hash over leaf hashes."""
    n = len(hashes)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def roots_at(hashes, sizes):
    """The root at each size, in one pass (a stack of complete subtrees)."""
    want = set(sizes)
    out = {}
    if 0 in want:
        out[0] = sha256(b"")
    stack = []  # (height, hash) of complete subtrees, left to right
    for i, h in enumerate(hashes):
        stack.append((0, h))
        while len(stack) >= 2 and stack[-1][0] == stack[-2][0]:
            (hgt, r), (_, l) = stack.pop(), stack.pop()
            stack.append((hgt + 1, node_hash(l, r)))
        if i + 1 in want:
            acc = stack[-1][1]
            for _, l in reversed(stack[:-1]):
                acc = node_hash(l, acc)
            out[i + 1] = acc
    return out


def ed25519_verify(public_key, signature, message):
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.exceptions import InvalidSignature

        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
            return True
        except InvalidSignature:
            return False
    except ImportError:
        pass
    # openssl: the raw key in a SubjectPublicKeyInfo (RFC 8410).
    der = bytes.fromhex("302a300506032b6570032100") + public_key
    with tempfile.TemporaryDirectory() as d:
        paths = {n: os.path.join(d, n) for n in ("k.pem", "sig", "msg")}
        with open(paths["k.pem"], "w") as f:
            f.write("-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n"
                    % base64.b64encode(der).decode())
        with open(paths["sig"], "wb") as f:
            f.write(signature)
        with open(paths["msg"], "wb") as f:
            f.write(message)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths["k.pem"],
                            "-rawin", "-in", paths["msg"], "-sigfile", paths["sig"]],
                           capture_output=True)
        return r.returncode == 0


def parse_vkey(text):
    parts = text.strip().split("+", 2)  # the base64 key may itself contain '+'
    if len(parts) != 3:
        raise Bad("verifier key: want <name>+<id>+<key>")
    name, id_hex, key_b64 = parts
    key = base64.b64decode(key_b64, validate=True)
    if len(key) != 33 or key[0] != 1:
        raise Bad("verifier key: not an Ed25519 key (type 0x01 and 32 bytes)")
    key_id = sha256(name.encode() + b"\n" + key)[:4]
    if key_id.hex() != id_hex:
        raise Bad("verifier key: key id %s does not match %s computed from name and key"
                  % (id_hex, key_id.hex()))
    return name, key_id, key[1:]


def open_checkpoint(note, vkey):
    """Verifies a signed note with the key; returns (origin, size, root)."""
    name, key_id, pub = vkey
    if "\n\n" not in note or not note.endswith("\n"):
        raise Bad("checkpoint: not a signed note")
    text, sigs = note.rsplit("\n\n", 1)
    text += "\n"
    good = 0
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Bad("checkpoint: malformed signature line")
        sname, sig_b64 = line[2:].split(" ")
        sig = base64.b64decode(sig_b64, validate=True)
        if sname != name or sig[:4] != key_id:
            continue  # another key's signature (e.g. a witness)
        if len(sig) != 68 or not ed25519_verify(pub, sig[4:], text.encode()):
            raise Bad("checkpoint: the signature by %s does not verify" % name)
        good += 1
    if good == 0:
        raise Bad("checkpoint: no signature by %s" % name)
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not lines[1].isdigit():
        raise Bad("checkpoint: malformed body")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise Bad("checkpoint: root is not 32 bytes")
    return lines[0], int(lines[1]), root


def verify_inclusion(index, size, lh, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        raise Bad("inclusion: index beyond size")
    fn, sn, r = index, size - 1, lh
    for p in proof:
        if sn == 0:
            raise Bad("inclusion: proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise Bad("inclusion: the proof does not lead to the checkpoint's root")


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 section 2.1.4.2."""
    if first == second:
        if proof or first_root != second_root:
            raise Bad("consistency: equal sizes need an empty proof and equal roots")
        return
    if first == 0 or first > second:
        raise Bad("consistency: sizes out of order")
    if not proof:
        raise Bad("consistency: empty proof")
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Bad("consistency: proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise Bad("consistency: the proof does not lead to both roots")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="the directory `portcullis audit export` wrote")
    ap.add_argument("--vkey", required=True, help="file holding the log's verifier key")
    ap.add_argument("--inclusion", help="an inclusion proof (JSON) to check")
    ap.add_argument("--consistency", help="a consistency proof (JSON) to check")
    ap.add_argument("--old-checkpoint", help="for --consistency: the signed checkpoint of the old size")
    a = ap.parse_args()
    try:
        vkey = parse_vkey(open(a.vkey).read())
        with open(os.path.join(a.dir, "leaves.jsonl"), "rb") as f:
            leaves = f.read().split(b"\n")
        if leaves and leaves[-1] == b"":
            leaves.pop()
        hashes = [leaf_hash(l) for l in leaves]
        cps = [json.loads(l) for l in open(os.path.join(a.dir, "checkpoints.jsonl")) if l.strip()]
        if not cps:
            raise Bad("no checkpoints to verify against")
        opened = [open_checkpoint(c["note"], vkey) for c in cps]
        origins = {o for o, _, _ in opened}
        if len(origins) != 1:
            raise Bad("checkpoints of more than one origin: %s" % sorted(origins))
        roots = roots_at(hashes, [s for _, s, _ in opened])
        prev = 0
        for n, (origin, size, root) in enumerate(opened, 1):
            if size > len(hashes):
                raise Bad("checkpoint #%d signs %d leaves; the export has %d" % (n, size, len(hashes)))
            if size < prev:
                raise Bad("checkpoint #%d is smaller than the one before it" % n)
            if roots[size] != root:
                raise Bad("checkpoint #%d (size %d): the leaves do not hash to its root" % (n, size))
            prev = size
        origin, size, root = opened[-1]
        with open(os.path.join(a.dir, "checkpoint")) as f:
            if open_checkpoint(f.read(), vkey) != opened[-1]:
                raise Bad("`checkpoint` is not the last of checkpoints.jsonl")
        print("ok: %d checkpoints of %s verify with key %s; the latest signs %d of the %d exported leaves, root %s"
              % (len(opened), origin, vkey[0], size, len(hashes), root.hex()))
        if a.inclusion:
            p = json.load(open(a.inclusion))
            if p.get("type") != "inclusion" or p["size"] != size:
                raise Bad("inclusion: want a proof of type inclusion for size %d (the latest checkpoint)" % size)
            leaf = p["leaf"].encode()
            verify_inclusion(p["index"], size, leaf_hash(leaf),
                             [bytes.fromhex(h) for h in p["proof"]], root)
            event = json.loads(leaf)
            print("ok: event %s (%s) is leaf %d of the checkpointed tree of size %d"
                  % (event["request_id"], event["kind"], p["index"], size))
        if a.consistency:
            p = json.load(open(a.consistency))
            if not a.old_checkpoint:
                raise Bad("--consistency needs --old-checkpoint")
            o_origin, o_size, o_root = open_checkpoint(open(a.old_checkpoint).read(), vkey)
            if p.get("type") != "consistency" or p["old"] != o_size or p["new"] != size or o_origin != origin:
                raise Bad("consistency: the proof is not from the old checkpoint's size to the latest")
            verify_consistency(o_size, size, o_root, root, [bytes.fromhex(h) for h in p["proof"]])
            print("ok: the log at size %d is a prefix of the log at size %d" % (o_size, size))
    except (Bad, OSError, ValueError, KeyError) as e:
        print("FAILED: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

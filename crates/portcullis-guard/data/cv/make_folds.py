#!/usr/bin/env python3
"""Grouped K-fold split of train + dev (never test), for choosing a training recipe.

Dev alone (about 420 positives, 143 wildguardtest rows) is too small to rank candidates
whose TPR at 1% FPR differ by 0.01-0.03: an earlier candidate improved dev's
wildguardtest FPR and then regressed it on test. Pooling K held-out folds of train + dev
gives about 2,300 positives and 800 wildguardtest rows. BIPIA documents that carry the
same inserted instruction stay in one fold (the instruction is mined as the trainer
does: a line or sentence recurring in >= 2 injected documents and in no clean one), so
an attack string never sits on both sides. Dev remains the final selector and the
calibration set of the shipped model; this is only a more stable ranking signal.

Usage: python3 make_folds.py K OUTDIR [PROMPTS_DIR]  (writes OUTDIR/f{k}/{train,held}.jsonl)
"""
import collections, hashlib, json, os, sys

K = int(sys.argv[1])
OUT = sys.argv[2]
D = sys.argv[3] if len(sys.argv) > 3 else '../shared/data/prompts'
rows = [json.loads(l) for f in ('train', 'dev') for l in open(f'{D}/{f}.jsonl', encoding='utf-8') if l.strip()]


def units(t):
    out = set()
    for line in t.split('\n'):
        line = line.strip()
        if len(line) > 8:
            out.add(line)
        rest = line
        while True:
            ps = [rest.find(c) for c in '.?!' if rest.find(c) >= 0]
            if not ps:
                break
            p = min(ps)
            s = rest[:p + 1].strip()
            if len(s) > 8:
                out.add(s)
            rest = rest[p + 1:]
    return out


inj = collections.Counter()
ben = set()
for r in rows:
    if r['source'] == 'bipia':
        u = units(r['text'])
        if r['label'] == 'injection':
            inj.update(u)
        else:
            ben |= u
attacks = sorted(u for u, c in inj.items() if c >= 2 and u not in ben)


def key(r):
    if r['source'] == 'bipia' and r['label'] == 'injection':
        for a in attacks:
            if a in r['text']:
                return 'A:' + a
    return r['id']


parts = {k: ([], []) for k in range(K)}
for r in rows:
    f = int(hashlib.sha256(key(r).encode()).hexdigest()[:8], 16) % K
    for k in range(K):
        parts[k][1 if k == f else 0].append(r)
for k in range(K):
    os.makedirs(f'{OUT}/f{k}', exist_ok=True)
    for name, rs in zip(('train', 'held'), parts[k]):
        with open(f'{OUT}/f{k}/{name}.jsonl', 'w', encoding='utf-8') as fh:
            for r in rs:
                fh.write(json.dumps(r, ensure_ascii=False) + '\n')
print(len(attacks), 'mined attacks;', {k: len(parts[k][1]) for k in range(K)}, 'held-out rows per fold')

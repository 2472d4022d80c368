#!/usr/bin/env python3
"""Scores each fold's model on its held-out fold (harmful rows excluded, positives =
injection + jailbreak): mean ROC-AUC and TPR at 1%/5% FPR over folds, and, at each
model's own threshold (set on the held-out fold at <= 1% FPR, like dev for the shipped
model), the pooled benign false positives per source (wildguardtest, hard benign) and
how many of the 35 short benign requests are flagged.

Usage: cv_eval.py GUARD_BIN FOLDDIR NAME K
"""
import collections, json, os, struct, subprocess, sys

import numpy as np
from sklearn.metrics import roc_auc_score

G, DIR, name, K = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
HARD = ['notinject', 'xstest', 'cyberseceval-frr', 'gpteacher']
SHORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'short-benign-check.jsonl')


def thr(path):
    with open(path, 'rb') as f:
        return max(struct.unpack('<ff', f.read(64)[56:64]))


def score(model, path):
    with open(path, 'rb') as f:
        out = subprocess.run([G, 'score', '--model', model], stdin=f, capture_output=True, check=True).stdout
    return {o['id']: max(o['injection'], o['jailbreak']) for o in map(json.loads, out.decode().splitlines())}


def tpr_at(y, s, fpr):
    neg = np.sort(s[y == 0])[::-1]
    return float(np.mean(s[y == 1] > neg[int(np.floor(len(neg) * fpr))]))


res, shortf = [], []
fp, nb = collections.Counter(), collections.Counter()
for k in range(K):
    m = f'{DIR}/m/{name}-f{k}.bin'
    with open(f'{DIR}/f{k}/held.jsonl', encoding='utf-8') as f:
        rows = [r for r in map(json.loads, f) if r['label'] != 'harmful']
    sc, t = score(m, f'{DIR}/f{k}/held.jsonl'), thr(m)
    y = np.array([r['label'] != 'benign' for r in rows], int)
    s = np.array([sc[r['id']] for r in rows])
    res.append((roc_auc_score(y, s), tpr_at(y, s, .01), tpr_at(y, s, .05), float(np.mean(s[y == 1] >= t))))
    for r, v in zip(rows, s):
        if r['label'] == 'benign':
            nb[r['source']] += 1
            fp[r['source']] += int(v >= t)
    shortf.append(int(sum(v >= t for v in score(m, SHORT).values())))
r = np.array(res)
print(f'{name}: ROC-AUC {r[:, 0].mean():.4f}  TPR@1% {r[:, 1].mean():.3f} (folds {" ".join(f"{x:.3f}" for x in r[:, 1])})'
      f'  TPR@5% {r[:, 2].mean():.3f}  recall at threshold {r[:, 3].mean():.3f}')
w = 'wildguardtest-benign'
print(f'  benign FP at threshold: wildguardtest {fp[w]}/{nb[w]}, hard benign {sum(fp[h] for h in HARD)}/{sum(nb[h] for h in HARD)},'
      f' all {sum(fp.values())}/{sum(nb.values())}; short requests flagged per fold {shortf}')
print('  FP by source:', {k: v for k, v in fp.items() if v})

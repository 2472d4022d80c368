#!/usr/bin/env python3
"""Evaluate the Portcullis injection/jailbreak detector against a TF-IDF baseline.

Positives: injection + jailbreak; negatives: benign; rows labelled `harmful` excluded.
The detector's score is max(injection, jailbreak) from `portcullis guard score` (or any
command given with --scorer that reads JSONL on stdin and writes {"id","injection",
"jailbreak"} lines). The decision threshold is read from the model header (--model).

The baseline (sklearn: TF-IDF word 1-2 grams + char 3-5 grams, LogisticRegression) is
trained on --train only; its threshold is set on --dev at 1% FPR, like the detector's.

Usage (from the repo root, after `python3 -m venv bench/.venv-ml &&
bench/.venv-ml/bin/pip install scikit-learn numpy`):

    bench/.venv-ml/bin/python scripts/eval_injection.py \
        --data ../shared/data/prompts/dev.jsonl \
        --scorer "target/release/portcullis guard score" \
        --model crates/portcullis-guard/model/injection.bin \
        --train ../shared/data/prompts/train.jsonl --dev ../shared/data/prompts/dev.jsonl
"""

import argparse
import json
import shlex
import struct
import subprocess
import sys
from collections import defaultdict

import numpy as np

HARD_BENIGN = ["notinject", "xstest", "cyberseceval-frr", "gpteacher"]


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def model_threshold(path):
    with open(path, "rb") as f:
        head = f.read(8 + 4 + 4 + 8 + 32 + 8)
    if head[:8] != b"PCGINJ\0\x01":
        sys.exit(f"{path}: not an injection model")
    ti, tj = struct.unpack("<ff", head[56:64])
    return max(ti, tj), min(ti, tj)


def run_scorer(cmd, rows):
    inp = "".join(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n" for r in rows)
    out = subprocess.run(shlex.split(cmd), input=inp.encode(), capture_output=True, check=True).stdout
    by_id = {}
    for line in out.decode().splitlines():
        o = json.loads(line)
        by_id[o["id"]] = max(o["injection"], o["jailbreak"])
    return np.array([by_id[r["id"]] for r in rows])


def auc(y, s):
    from sklearn.metrics import roc_auc_score
    return roc_auc_score(y, s) if 0 < y.sum() < len(y) else float("nan")


def thr_at_fpr(y, s, fpr):
    neg = np.sort(s[y == 0])[::-1]
    k = int(np.floor(len(neg) * fpr))
    return neg[k] if k < len(neg) else -np.inf


def tpr_at_fpr(y, s, fpr):
    t = thr_at_fpr(y, s, fpr)
    return float((s[y == 1] > t).mean())


def prf(y, pred):
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    p = tp / max(tp + fp, 1)
    r = tp / max(tp + fn, 1)
    f = 2 * p * r / max(p + r, 1e-12)
    return p, r, f


def report(name, rows, s, thr):
    y = np.array([0 if r["label"] == "benign" else 1 for r in rows])
    print(f"\n== {name} ==")
    print(f"overall: n={len(y)} pos={int(y.sum())}  ROC-AUC {auc(y, s):.4f}  "
          f"TPR@1%FPR {tpr_at_fpr(y, s, 0.01):.3f}  TPR@5%FPR {tpr_at_fpr(y, s, 0.05):.3f}")
    pred = (s >= thr).astype(int)
    p, r, f = prf(y, pred)
    fpr = float(pred[y == 0].mean())
    print(f"at threshold {thr:.4f}: precision {p:.3f} recall {r:.3f} F1 {f:.3f} FPR {fpr:.4f}")
    groups = defaultdict(list)
    for i, row in enumerate(rows):
        groups[row["source"]].append(i)
    print(f"{'source':<26}{'n':>6}{'pos':>6}{'AUC':>8}{'TPR@thr':>9}{'FPR@thr':>9}")
    for src in sorted(groups):
        ix = np.array(groups[src])
        ys, ss, ps = y[ix], s[ix], pred[ix]
        a = auc(ys, ss)
        tpr = f"{ps[ys == 1].mean():.3f}" if ys.sum() else "-"
        fp = f"{ps[ys == 0].mean():.3f}" if (ys == 0).sum() else "-"
        print(f"{src:<26}{len(ix):>6}{int(ys.sum()):>6}{'' if np.isnan(a) else f'{a:.3f}':>8}{tpr:>9}{fp:>9}")
    hb = [i for i, row in enumerate(rows) if row["source"] in HARD_BENIGN and row["label"] == "benign"]
    if hb:
        hb = np.array(hb)
        print(f"hard-benign FPR at threshold ({', '.join(HARD_BENIGN)}): "
              f"{pred[hb].mean():.4f} ({int(pred[hb].sum())}/{len(hb)})")
    return {"auc": auc(y, s), "tpr1": tpr_at_fpr(y, s, 0.01), "tpr5": tpr_at_fpr(y, s, 0.05), "f1": f}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="labelled JSONL to evaluate")
    ap.add_argument("--scorer", default="target/release/portcullis guard score")
    ap.add_argument("--model", default="crates/portcullis-guard/model/injection.bin")
    ap.add_argument("--train", help="train JSONL for the TF-IDF baseline (omit to skip it)")
    ap.add_argument("--dev", help="dev JSONL for the baseline threshold")
    args = ap.parse_args()

    rows = [r for r in load(args.data) if r["label"] != "harmful"]
    thr, _ = model_threshold(args.model)
    s = run_scorer(args.scorer, rows)
    ours = report(f"portcullis detector on {args.data}", rows, s, thr)

    if args.train:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion
        tr = [r for r in load(args.train) if r["label"] != "harmful"]
        vec = FeatureUnion([
            ("w", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
            ("c", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True, max_features=300000)),
        ])
        X = vec.fit_transform([r["text"] for r in tr])
        yt = np.array([0 if r["label"] == "benign" else 1 for r in tr])
        clf = LogisticRegression(C=10.0, max_iter=2000).fit(X, yt)
        bthr = 0.5
        if args.dev:
            dv = [r for r in load(args.dev) if r["label"] != "harmful"]
            ds = clf.predict_proba(vec.transform([r["text"] for r in dv]))[:, 1]
            dy = np.array([0 if r["label"] == "benign" else 1 for r in dv])
            bthr = float(np.nextafter(thr_at_fpr(dy, ds, 0.01), 1.0))
        bs = clf.predict_proba(vec.transform([r["text"] for r in rows]))[:, 1]
        base = report(f"TF-IDF LR baseline on {args.data}", rows, bs, bthr)
        print("\n== side by side ==")
        print(f"{'':<12}{'ROC-AUC':>9}{'TPR@1%':>9}{'TPR@5%':>9}{'F1@thr':>9}")
        for name, m in [("portcullis", ours), ("tfidf-lr", base)]:
            print(f"{name:<12}{m['auc']:>9.4f}{m['tpr1']:>9.3f}{m['tpr5']:>9.3f}{m['f1']:>9.3f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Evaluate `portcullis dataset scan` on planted poison (issue 9).

Steps (each a subcommand; `all` runs them in order):

  prepare   Build the clean sets from the labelled prompts data:
              instruct.jsonl  benign rows of the split as Alpaca records, with a
                              synthetic but plausible output per row (seeded by the row id)
              classify.jsonl  every row of the split as {"text", "label"}
  poison    For each seed: `portcullis dataset poison` at --rate per type on
            instruct.jsonl, `portcullis dataset scan`, then recall per type and the
            false-positive rate on clean records.
  flip      For each seed: flip --flip of classify.jsonl's labels, scan, and compare
            LABEL_ERROR with cleanlab's find_label_issues (TF-IDF + LogisticRegression,
            5-fold out-of-fold probabilities) on the same file.

Definitions. A planted record counts as found when the scan reports a finding of its
type on its line. Originals of planted conflicts and donors of floods are part of the
poison group: they are neither positives nor clean. Clean records are all others; the
false-positive rate is the share of clean records with any finding (of any type) at or
above the threshold.

Use dev seeds while developing and other seeds for reported figures; never tune on the
prompts test split. The cleanlab step needs scikit-learn and cleanlab (see
docs/dataset-scan.md for the venv).
"""
import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time

DATA = "/work/shared/data/prompts"

OPENERS = [
    "Here is a {adj} answer about {topic}.",
    "Sure, let's look at {topic} step by step.",
    "Good question about {topic}.",
    "Below is a {adj} take on {topic}.",
    "Let me explain {topic} in a {adj} way.",
    "This is how I would approach {topic}.",
]
SUBJECTS = ["The first point", "A useful idea", "The key detail", "One common approach", "The main trade-off",
            "A good starting place", "The simplest option", "An important caveat", "The usual pattern",
            "A second consideration", "The practical result", "A frequent mistake", "The underlying reason",
            "A helpful example", "The final step", "An alternative view"]
VERBS = ["is to", "would be to", "usually means you", "suggests that you", "often requires you to",
         "makes it easier to", "lets you", "helps you", "is a reason to", "may lead you to"]
OBJECTS = ["check the assumptions first", "break the problem into smaller parts", "compare the options side by side",
           "write down what you already know", "test the idea on a small case", "keep the audience in mind",
           "look for edge cases", "measure before optimizing", "start from a clear definition",
           "revisit the goal", "summarize the evidence", "keep the explanation short", "use concrete numbers",
           "consider the long-term effects", "ask what could go wrong", "reuse what already works",
           "follow the official guidance", "document each decision", "avoid unnecessary jargon",
           "plan the next steps"]
TAILS = ["", "", " in this case", " here", " for {topic}", " before moving on", " as a rule"]
CLOSERS = ["I hope this helps.", "Let me know if you want more detail.", "", "", "Feel free to ask a follow-up.",
           "That should cover the basics."]
ADJS = ["short", "clear", "practical", "detailed", "simple", "balanced"]
STOP = set("the a an and or of to in on for with about your you this that is are be can what how why when "
           "which who from as at by it its into please write give me my i we our".split())


def synthetic_output(row):
    rnd = random.Random(int(hashlib.sha256(row["id"].encode()).hexdigest()[:16], 16))
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", row["text"]) if w.lower() not in STOP]
    topic = " ".join(words[:3]).lower() if words else "this request"
    parts = [rnd.choice(OPENERS).format(adj=rnd.choice(ADJS), topic=topic)]
    for _ in range(rnd.randint(2, 4)):
        tail = rnd.choice(TAILS).format(topic=topic)
        parts.append(f"{rnd.choice(SUBJECTS)} {rnd.choice(VERBS)} {rnd.choice(OBJECTS)}{tail}.")
    c = rnd.choice(CLOSERS)
    if c:
        parts.append(c)
    return " ".join(parts)


def prepare(args):
    os.makedirs(args.work, exist_ok=True)
    rows = [json.loads(l) for l in open(os.path.join(DATA, f"{args.split}.jsonl"), encoding="utf-8")]
    n_i = 0
    with open(os.path.join(args.work, "instruct.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            if r["label"] != "benign":
                continue
            rec = {"instruction": r["text"], "input": "", "output": synthetic_output(r)}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n_i += 1
    with open(os.path.join(args.work, "classify.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"text": r["text"], "label": r["label"]}, ensure_ascii=False) + "\n")
    print(f"prepare: {n_i} instruction records, {len(rows)} classification records from {args.split}.jsonl")


def make_big(args):
    """Instruction sets for the speed and memory runs: each record is a benign prompt plus
    the first sentence of another (so records are distinct, not copies), with a synthetic
    output."""
    rows = [json.loads(l) for l in open(os.path.join(DATA, f"{args.split}.jsonl"), encoding="utf-8")]
    rows = [r for r in rows if r["label"] == "benign"]
    rnd = random.Random(20261126)
    for n in args.sizes:
        path = os.path.join(args.work, f"instruct-{n}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for k in range(n):
                a = rows[k % len(rows)]
                b = rows[rnd.randrange(len(rows))]
                extra = re.split(r"(?<=[.!?])\s", b["text"].strip(), maxsplit=1)[0][:200]
                text = a["text"] + " " + extra
                out = synthetic_output({"id": f"{a['id']}/{k}", "text": text})
                f.write(json.dumps({"instruction": text, "input": "", "output": out}, ensure_ascii=False) + "\n")
        print(f"big: wrote {path} ({os.path.getsize(path) / 1e6:.0f} MB)")


def run(cmd, ok=(0,)):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode not in ok:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def load_report(path):
    rep = json.load(open(path, encoding="utf-8"))
    by_line = {}
    for f in rep["findings"]:
        by_line.setdefault(f["line"], set()).add(f["type"])
    return rep, by_line


def scan(args, path, report, extra=()):
    t = time.time()
    run([args.bin, "dataset", "scan", path, "--report", report, "--threshold", str(args.threshold), *extra], ok=(0, 2))
    return time.time() - t


def poison_eval(args):
    base = os.path.join(args.work, "instruct.jsonl")
    totals = {}
    fp_total = [0, 0]
    fp_types = {}
    per_seed = []
    for seed in args.seeds:
        out = os.path.join(args.work, f"poisoned-{seed}.jsonl")
        truth_p = os.path.join(args.work, f"truth-{seed}.json")
        rep_p = os.path.join(args.work, f"report-{seed}.json")
        run([args.bin, "dataset", "poison", "--input", base, "--out", out, "--truth", truth_p,
             "--rate", str(args.rate), "--seed", str(seed)])
        secs = scan(args, out, rep_p)
        truth = json.load(open(truth_p))
        rep, by_line = load_report(rep_p)
        involved = {p["line"] for p in truth["poisoned"]}
        planted = [p for p in truth["poisoned"]
                   if not p["detail"].startswith("original of") and not p["detail"].startswith("flood donor")]
        seed_rec = {}
        for p in planted:
            t = p["type"]
            hit = t in by_line.get(p["line"], set())
            tot = totals.setdefault(t, [0, 0])
            tot[0] += hit
            tot[1] += 1
            s = seed_rec.setdefault(t, [0, 0])
            s[0] += hit
            s[1] += 1
        clean = rep["records"] - len(involved)
        fp_lines = [l for l in by_line if l not in involved]
        for l in fp_lines:
            for t in by_line[l]:
                fp_types[t] = fp_types.get(t, 0) + 1
        fp_total[0] += len(fp_lines)
        fp_total[1] += clean
        per_seed.append((seed, rep["records"], secs, {t: f"{a}/{b}" for t, (a, b) in sorted(seed_rec.items())},
                         f"{len(fp_lines)}/{clean}"))
    print(f"poison eval: rate {args.rate} per type, threshold {args.threshold}, seeds {args.seeds}")
    for seed, n, secs, rec, fp in per_seed:
        print(f"  seed {seed}: {n} records, scan {secs:.2f} s wall (incl. start-up); found {rec}; clean flagged {fp}")
    print("  recall per type (all seeds):")
    ok = True
    for t, (a, b) in sorted(totals.items()):
        r = a / b if b else 0.0
        ok &= r >= 0.9
        print(f"    {t:<18} {a:>4}/{b:<4} = {r:.3f}")
    fpr = fp_total[0] / fp_total[1] if fp_total[1] else 0.0
    print(f"  false-positive rate on clean records: {fp_total[0]}/{fp_total[1]} = {fpr:.4f}")
    print(f"  findings on clean records by type: {dict(sorted(fp_types.items()))}")
    print(f"  targets (recall >= 0.9 every type, FPR <= 0.01): {'MET' if ok and fpr <= 0.01 else 'NOT MET'}")
    return ok and fpr <= 0.01


def cleanlab_issues(path):
    import numpy as np
    from cleanlab.filter import find_label_issues
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict, StratifiedKFold
    rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    texts = [r["text"] for r in rows]
    classes = sorted({r["label"] for r in rows})
    y = np.array([classes.index(r["label"]) for r in rows])
    x = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(texts)
    probs = cross_val_predict(LogisticRegression(max_iter=2000), x, y,
                              cv=StratifiedKFold(5, shuffle=True, random_state=0), method="predict_proba")
    mask = find_label_issues(labels=y, pred_probs=probs)
    return {i + 1 for i in np.flatnonzero(mask)}


def prf(found, truth):
    tp = len(found & truth)
    p = tp / len(found) if found else 0.0
    r = tp / len(truth) if truth else 0.0
    return tp, len(found), len(truth), p, r


def flip_eval(args):
    import cleanlab
    import sklearn
    base = os.path.join(args.work, "classify.jsonl")
    agg = {"portcullis": [0, 0, 0], "cleanlab": [0, 0, 0]}
    print(f"label-flip eval: {args.flip} of labels flipped; cleanlab {cleanlab.__version__}, "
          f"scikit-learn {sklearn.__version__}; seeds {args.seeds}")
    for seed in args.seeds:
        out = os.path.join(args.work, f"flipped-{seed}.jsonl")
        truth_p = os.path.join(args.work, f"flip-truth-{seed}.json")
        rep_p = os.path.join(args.work, f"flip-report-{seed}.json")
        run([args.bin, "dataset", "poison", "--input", base, "--out", out, "--truth", truth_p,
             "--flip", str(args.flip), "--seed", str(seed)])
        secs = scan(args, out, rep_p, ["--only", "LABEL_ERROR"])
        truth = {p["line"] for p in json.load(open(truth_p))["poisoned"]}
        _, by_line = load_report(rep_p)
        ours = {l for l, ts in by_line.items() if "LABEL_ERROR" in ts}
        t = time.time()
        theirs = cleanlab_issues(out)
        csecs = time.time() - t
        for name, found, s in (("portcullis", ours, secs), ("cleanlab", theirs, csecs)):
            tp, nf, nt, p, r = prf(found, truth)
            agg[name][0] += tp
            agg[name][1] += nf
            agg[name][2] += nt
            print(f"  seed {seed} {name:<10} precision {p:.3f} recall {r:.3f} ({tp} of {nf} flagged, {nt} flipped; {s:.1f} s)")
    res = {}
    for name, (tp, nf, nt) in agg.items():
        res[name] = (tp / nf if nf else 0.0, tp / nt if nt else 0.0)
        print(f"  all seeds {name:<10} precision {res[name][0]:.3f} recall {res[name][1]:.3f}")
    ok = res["portcullis"][0] >= res["cleanlab"][0] and res["portcullis"][1] >= res["cleanlab"][1]
    print(f"  target (precision and recall >= cleanlab): {'MET' if ok else 'NOT MET'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["prepare", "poison", "flip", "big", "all"])
    ap.add_argument("--sizes", default="50000", help="record counts for `big`")
    ap.add_argument("--work", default="/tmp/portcullis-dataset-eval")
    ap.add_argument("--split", default="train", choices=["train", "dev"],
                    help="prompts split the clean sets come from (never test)")
    ap.add_argument("--bin", default="target/release/portcullis")
    ap.add_argument("--seeds", default="101,102,103,104,105")
    ap.add_argument("--rate", type=float, default=0.01)
    ap.add_argument("--flip", type=float, default=0.05)
    ap.add_argument("--threshold", type=float, default=0.5)
    args = ap.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.step == "big":
        make_big(args)
    if args.step in ("prepare", "all"):
        prepare(args)
    if args.step in ("poison", "all"):
        poison_eval(args)
    if args.step in ("flip", "all"):
        flip_eval(args)


if __name__ == "__main__":
    main()

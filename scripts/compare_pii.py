#!/usr/bin/env python3
"""Compare Portcullis' PII/secret detector with Presidio and detect-secrets.

All three tools run in the same invocation over the same generated JSONL set (fixed seed,
positives plus near-miss decoys). Prints precision / recall / F1 per type with overlap
matching (a prediction counts if it overlaps a gold span of the same type; a gold span
counts as found if a prediction of its type overlaps it) and microseconds per record.

Setup (once):
    python3 -m venv bench/.venv-pii
    bench/.venv-pii/bin/pip install presidio-analyzer detect-secrets spacy
Run:
    bench/.venv-pii/bin/python scripts/compare_pii.py --seed 7 --n 2000

Notes:
* Presidio runs its pattern recognizers only: no spaCy model can be downloaded here, so a
  blank English pipeline is saved to disk and loaded as the NLP engine. It therefore has
  no NER and no PERSON results (its PERSON row shows that, it is not a fair test of NER).
  Its character offsets are converted to UTF-8 byte offsets. Default score threshold (0).
* detect-secrets runs its default plugins and filters line by line, as in a file scan
  (`_process_line_based_plugins`), and reports secret values; their position in the line
  gives the span. It only has the SECRET type.
* Portcullis' time is measured inside the Rust example (detection only, best of the
  repeats); Python tools' times are their analyze calls only.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS", "SECRET", "PERSON"]
PRESIDIO_MAP = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "PERSON": "PERSON",
}


def cargo(args, stdin=None):
    return subprocess.run(
        ["cargo"] + args, cwd=ROOT, input=stdin, capture_output=True, check=True
    )


def generate(seed, n):
    p = cargo(
        ["run", "-q", "--release", "-p", "portcullis-guard", "--example", "gen_pii", "--",
         "--seed", str(seed), "--n", str(n)]
    )
    return [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]


def run_portcullis(data_path, repeat):
    with open(data_path, "rb") as f:
        p = cargo(
            ["run", "-q", "--release", "-p", "portcullis-guard", "--example", "detect_jsonl",
             "--", "--repeat", str(repeat)],
            stdin=f.read(),
        )
    preds = {}
    for line in p.stdout.decode().splitlines():
        row = json.loads(line)
        preds[row["id"]] = [(f["type"], f["start"], f["end"]) for f in row["findings"]]
    stats = json.loads(p.stderr.decode().strip().splitlines()[-1])
    return preds, stats["us_per_record"]


def byte_offsets(text):
    """char index -> byte offset, for every index 0..=len(text)."""
    out = [0] * (len(text) + 1)
    b = 0
    for i, ch in enumerate(text):
        out[i] = b
        b += len(ch.encode("utf-8"))
    out[len(text)] = b
    return out


def run_presidio(rows):
    import spacy
    import tldextract

    # Presidio's email recognizer calls tldextract, which tries to download the public
    # suffix list (no network here): use the snapshot bundled with tldextract.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    model_dir = os.path.join(tempfile.mkdtemp(prefix="blank-en-"), "model")
    spacy.blank("en").to_disk(model_dir)
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model_dir}])
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    analyzer.analyze(text="warm up 192.168.0.1", language="en")
    preds, total = {}, 0.0
    for r in rows:
        text = r["text"]
        t0 = time.perf_counter()
        res = analyzer.analyze(text=text, language="en")
        total += time.perf_counter() - t0
        off = byte_offsets(text)
        preds[r["id"]] = [
            (PRESIDIO_MAP[x.entity_type], off[x.start], off[x.end])
            for x in res
            if x.entity_type in PRESIDIO_MAP
        ]
    return preds, total * 1e6 / max(len(rows), 1)


def run_detect_secrets(rows):
    from detect_secrets.core.scan import _process_line_based_plugins
    from detect_secrets.settings import default_settings

    preds, total = {}, 0.0
    with default_settings():
        for r in rows:
            text = r["text"]
            lines = text.split("\n")
            t0 = time.perf_counter()
            found = list(
                _process_line_based_plugins(
                    lines=list(enumerate(lines, start=1)), filename="prompt.txt"
                )
            )
            total += time.perf_counter() - t0
            # Line starts in characters, then bytes.
            starts, c = [], 0
            for ln in lines:
                starts.append(c)
                c += len(ln) + 1
            off = byte_offsets(text)
            spans = []
            for s in found:
                if not s.secret_value:
                    continue
                line = lines[s.line_number - 1]
                i = line.find(s.secret_value)
                if i < 0:
                    continue
                a = starts[s.line_number - 1] + i
                spans.append(("SECRET", off[a], off[a + len(s.secret_value)]))
            preds[r["id"]] = spans
    return preds, total * 1e6 / max(len(rows), 1)


def score(rows, preds):
    """type -> (precision, recall, f1, n_gold, n_pred)"""
    c = defaultdict(lambda: [0, 0, 0, 0])  # pred, pred_ok, gold, gold_ok
    ov = lambda a0, a1, b0, b1: a0 < b1 and b0 < a1
    for r in rows:
        gold = [(g["type"], g["start"], g["end"]) for g in r["spans"]]
        pr = preds.get(r["id"], [])
        for (k, s, e) in pr:
            c[k][0] += 1
            c[k][1] += any(g[0] == k and ov(s, e, g[1], g[2]) for g in gold)
        for (k, s, e) in gold:
            c[k][2] += 1
            c[k][3] += any(p[0] == k and ov(s, e, p[1], p[2]) for p in pr)
    out = {}
    for k in TYPES:
        p, pok, g, gok = c[k]
        prec = pok / p if p else float("nan")
        rec = gok / g if g else float("nan")
        f1 = 2 * prec * rec / (prec + rec) if p and g and (prec + rec) else 0.0
        out[k] = (prec, rec, f1, g, p)
    return out


def fmt(x):
    return "   -  " if x != x else f"{x:6.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--data", help="existing JSONL set instead of generating one")
    ap.add_argument("--repeat", type=int, default=5, help="Portcullis timing repeats")
    ap.add_argument("--errors", type=int, default=0, help="print N Portcullis errors")
    args = ap.parse_args()

    if args.data:
        with open(args.data) as f:
            rows = [json.loads(l) for l in f if l.strip()]
        data_path = args.data
    else:
        rows = generate(args.seed, args.n)
        fd, data_path = tempfile.mkstemp(suffix=".jsonl", prefix="pii-set-")
        with os.fdopen(fd, "w") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    nbytes = sum(len(r["text"].encode()) for r in rows)
    print(f"set: {len(rows)} records, {nbytes / len(rows):.0f} bytes/record avg"
          + ("" if args.data else f", seed {args.seed}"), flush=True)

    tools = {}
    tools["portcullis"] = run_portcullis(data_path, args.repeat)
    try:
        tools["presidio"] = run_presidio(rows)
    except ImportError as e:
        print(f"presidio unavailable: {e}", file=sys.stderr)
    try:
        tools["detect-secrets"] = run_detect_secrets(rows)
    except ImportError as e:
        print(f"detect-secrets unavailable: {e}", file=sys.stderr)

    scores = {name: score(rows, p) for name, (p, _) in tools.items()}
    names = list(tools)
    head = f"{'type':<12} {'gold':>5} | " + " | ".join(f"{n:^22}" for n in names)
    print(head)
    print(f"{'':<12} {'':>5} | " + " | ".join(f"{'P':>6} {'R':>6} {'F1':>6}  " for _ in names))
    for k in TYPES:
        g = scores[names[0]][k][3]
        cells = []
        for n in names:
            prec, rec, f1, _, npred = scores[n][k]
            if (n == "detect-secrets" and k != "SECRET") or (n == "presidio" and k == "SECRET"):
                cells.append(f"{'n/a':>22}")
            else:
                cells.append(f"{fmt(prec)} {fmt(rec)} {fmt(f1)}  ")
        print(f"{k:<12} {g:>5} | " + " | ".join(cells))
    print("µs/record     " + "       | ".join(f"{tools[n][1]:>16.1f}" for n in names))

    if args.errors:
        preds = tools["portcullis"][0]
        shown = 0
        ov = lambda a0, a1, b0, b1: a0 < b1 and b0 < a1
        for r in rows:
            b = r["text"].encode()
            gold = [(g["type"], g["start"], g["end"]) for g in r["spans"]]
            for (k, s, e) in preds.get(r["id"], []):
                if not any(g[0] == k and ov(s, e, g[1], g[2]) for g in gold):
                    ctx = b[max(0, s - 40):e + 20].decode(errors="replace")
                    print("FP", k, repr(b[s:e].decode(errors="replace")[:80]), "in", repr(ctx))
                    shown += 1
            for (k, s, e) in gold:
                if not any(p[0] == k and ov(s, e, p[1], p[2]) for p in preds.get(r["id"], [])):
                    ctx = b[max(0, s - 40):e + 20].decode(errors="replace")
                    print("FN", k, repr(b[s:e].decode(errors="replace")[:80]), "in", repr(ctx))
                    shown += 1
            if shown >= args.errors:
                break


if __name__ == "__main__":
    main()

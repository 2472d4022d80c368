#!/usr/bin/env python3
"""Turn the raw files bench/run.sh wrote into a markdown summary (stdout).

usage: summarize.py RESULTS_DIR LOADGEN RATE LAT_CONNS TPUT_CONNS DURATION LITELLM_STATUS
"""
import json
import os
import sys

res, loadgen, rate, lat_conns, tput_conns, duration, litellm_status = sys.argv[1:8]

# Targets.
ADDED_P99_MS = 1.0
GW_RPS = 10_000
IDLE_MIB = 50
STREAMS_MIB = 150


def load(name):
    """Normalised numbers of one load run, or None if it was not run."""
    path = os.path.join(res, name + ".json")
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    with open(path) as f:
        d = json.load(f)
    if "latencyPercentiles" in d:  # oha
        lp = d["latencyPercentiles"]
        codes = {k: v for k, v in (d.get("statusCodeDistribution") or {}).items()}
        errors = {k: v for k, v in (d.get("errorDistribution") or {}).items()
                  if k != "aborted due to deadline"}
        ok = sum(v for k, v in codes.items() if k.startswith("2"))
        return {
            "rps": d["summary"]["requestsPerSec"],
            "p50": (lp.get("p50") or 0) * 1e3,
            "p99": (lp.get("p99") or 0) * 1e3,
            "p999": (lp.get("p99.9") or 0) * 1e3,
            "requests": sum(codes.values()),
            "ok": ok,
            "non2xx": sum(codes.values()) - ok,
            "errors": sum(errors.values()),
            "codes": codes,
            "error_kinds": errors,
        }
    # wrk fallback (Lua summary): latencies already in ms
    return {
        "rps": d["rps"], "p50": d["p50"], "p99": d["p99"], "p999": d["p999"],
        "requests": d["requests"], "ok": d["requests"] - d["non2xx"],
        "non2xx": d["non2xx"], "errors": d["errors"], "codes": {}, "error_kinds": {},
    }


def cpu_per_req(name, r):
    """CPU microseconds per request of each watched process during run NAME."""
    try:
        with open(os.path.join(res, name + ".cpu-before.json")) as f:
            a = json.load(f)
        with open(os.path.join(res, name + ".cpu-after.json")) as f:
            b = json.load(f)
    except (OSError, ValueError):
        return {}
    if not r or not r["requests"]:
        return {}
    # Processes that were not on the request path used (next to) no CPU: leave them out.
    return {k: (b[k] - a[k]) * 1e6 / r["requests"] for k in b if k in a and b[k] - a[k] > 0.02}


def cpu_cell(name, r):
    c = cpu_per_req(name, r)
    return ", ".join(f"{k} {v:,.0f} µs" for k, v in c.items()) or "n/a"


def ms(x):
    return "n/a" if x is None else f"{x:.3f} ms"


def yes(b):
    return "**met**" if b else "**NOT met**"


def fmt_rps(x):
    return f"{x:,.0f} req/s"


out = []
w = out.append

machine = {}
with open(os.path.join(res, "machine.txt")) as f:
    for line in f:
        if ":" in line:
            k, v = line.split(":", 1)
            machine[k.strip()] = v.strip()
with open(os.path.join(res, "memory.json")) as f:
    mem = json.load(f)

w(f"## Portcullis benchmark — {machine.get('date_utc', '?')}")
w("")
w(f"Machine: {machine.get('cpu', '?')}, {machine.get('nproc', '?')} CPUs, "
  f"{machine.get('mem_total_gib', '?')} GiB RAM, kernel {machine.get('kernel', '?')}. "
  f"Load average before: {machine.get('load_before', '?')}, after: {machine.get('load_after', '?')}. "
  f"Load generator: {machine.get('loadgen', loadgen)}. Revision: {machine.get('git_rev', '?')}.")
w("")

ld, lg = load("latency-direct"), load("latency-gateway")
td, tg = load("throughput-direct"), load("throughput-gateway")
cd, cg, cl = load("c1-direct"), load("c1-gateway"), load("c1-litellm")
tl = load("throughput-litellm")
st = load("streams-gateway")

if loadgen == "oha":
    w(f"### Latency at {rate} req/s (fixed rate, {lat_conns} keep-alive connections, {duration}, "
      "coordinated-omission corrected)")
else:
    w(f"### Latency, {lat_conns} keep-alive connections, unthrottled ({duration}; wrk fallback: "
      "wrk has no fixed-rate mode, so this is NOT the 1,000 req/s measurement)")
w("")
w("| Path | p50 | p99 | p99.9 | achieved req/s | non-2xx / errors |")
w("|---|---|---|---|---|---|")
for label, r in (("mock directly", ld), ("through Portcullis", lg)):
    if r:
        w(f"| {label} | {ms(r['p50'])} | {ms(r['p99'])} | {ms(r['p999'])} | {r['rps']:,.0f} | "
          f"{r['non2xx']} / {r['errors']} |")
if ld and lg:
    w(f"| **added by the gateway** | {ms(lg['p50'] - ld['p50'])} | {ms(lg['p99'] - ld['p99'])} | "
      f"{ms(lg['p999'] - ld['p999'])} | | |")
w("")
lds, lgs = load("latency-direct-sim"), load("latency-gateway-sim")
if lds and lgs:
    w(f"Both paths again, loaded at the same time ({rate} req/s each), so that pauses of the "
      "whole machine delay both alike:")
    w("")
    w("| Path | p50 | p99 | p99.9 | achieved req/s | non-2xx / errors |")
    w("|---|---|---|---|---|---|")
    for label, r in (("mock directly", lds), ("through Portcullis", lgs)):
        w(f"| {label} | {ms(r['p50'])} | {ms(r['p99'])} | {ms(r['p999'])} | {r['rps']:,.0f} | "
          f"{r['non2xx']} / {r['errors']} |")
    w(f"| **added by the gateway** | {ms(lgs['p50'] - lds['p50'])} | {ms(lgs['p99'] - lds['p99'])} | "
      f"{ms(lgs['p999'] - lds['p999'])} | | |")
    w("")
pp = os.path.join(res, "pauses.json")
if os.path.exists(pp):
    with open(pp) as f:
        pz = json.load(f)
    w(f"Machine pauses right after these runs: {pz['gaps_over_1ms']} gaps over 1 ms in "
      f"{pz['seconds']} s of a thread reading the clock (longest {pz['max_ms']:.1f} ms, "
      f"{pz['total_ms']:.0f} ms in all).")
    w("")

w(f"### Maximum throughput ({tput_conns} keep-alive connections, no rate limit, {duration})")
w("")
w("| Path | req/s | p50 | p99 | non-2xx / errors | CPU time per request |")
w("|---|---|---|---|---|---|")
for label, name, r in (("mock directly", "throughput-direct", td),
                       ("through Portcullis", "throughput-gateway", tg),
                       ("through LiteLLM proxy", "throughput-litellm", tl)):
    if r:
        w(f"| {label} | {r['rps']:,.0f} | {ms(r['p50'])} | {ms(r['p99'])} | "
          f"{r['non2xx']} / {r['errors']} | {cpu_cell(name, r)} |")
w("")
w("CPU time per request is user+system CPU of each server process (all threads and "
  "worker processes) over the run, divided by the requests completed.")
w("")

w(f"### Concurrency 1 ({duration}, one keep-alive connection, back-to-back requests)")
w("")
w("| Path | p50 | p99 | p99.9 | req/s | non-2xx / errors | CPU time per request |")
w("|---|---|---|---|---|---|---|")
for label, name, r in (("mock directly", "c1-direct", cd), ("through Portcullis", "c1-gateway", cg),
                       ("through LiteLLM proxy", "c1-litellm", cl)):
    if r:
        w(f"| {label} | {ms(r['p50'])} | {ms(r['p99'])} | {ms(r['p999'])} | {r['rps']:,.0f} | "
          f"{r['non2xx']} / {r['errors']} | {cpu_cell(name, r)} |")
w("")
w(f"LiteLLM: {litellm_status}.")
llp = os.path.join(res, "litellm.json")
if os.path.exists(llp):
    with open(llp) as f:
        ll = json.load(f)
    w(f"LiteLLM proxy (2 workers) first answered {ll['start_s']} s after launch; "
      f"RSS of all its processes once up: {ll['idle_rss_kb'] / 1024:.0f} MiB.")
w("")

# Memory.
samples = []
with open(os.path.join(res, "streams-rss-samples.tsv")) as f:
    next(f)
    for line in f:
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            samples.append((int(parts[0]), int(parts[1]), int(parts[2])))
peak_sampled = max((s[1] for s in samples), default=0)
max_conns = max((s[2] for s in samples), default=0)
stream_peak_kb = max(peak_sampled, mem["stream_hwm_kb"])


def mib(kb):
    return f"{kb / 1024:.1f} MiB"


w(f"### Gateway memory (VmRSS)")
w("")
w("| State | VmRSS |")
w("|---|---|")
w(f"| idle after start (main gateway) | {mib(mem['idle_rss_kb'])} |")
w(f"| after the latency and throughput runs (peak VmHWM) | {mib(mem['after_load_rss_kb'])} "
  f"({mib(mem['after_load_hwm_kb'])}) |")
w(f"| idle after start (streaming gateway) | {mib(mem['stream_gw_idle_rss_kb'])} |")
w(f"| {mem['streams']} concurrent streams open: peak of 100 ms samples / VmHWM | "
  f"{mib(peak_sampled)} / {mib(mem['stream_hwm_kb'])} |")
w(f"| 2 s after the streams finished | {mib(mem['stream_after_rss_kb'])} |")
w("")
if st:
    w(f"Streaming run: upstream mock with `--chunk-delay {mem['stream_chunk_delay']}`; "
      f"{st['ok']} streamed replies completed ({st['non2xx']} non-2xx, {st['errors']} errors); "
      f"up to {max_conns} established client connections to the gateway seen by `ss`.")
    w("")

w("### Targets")
w("")
w("| Target | Measured | Result |")
w("|---|---|---|")
if ld and lg:
    added99 = lg["p99"] - ld["p99"]
    if loadgen == "oha":
        w(f"| added p99 latency at {rate} req/s < {ADDED_P99_MS:g} ms | {ms(added99)} "
          f"(p50 {ms(lg['p50'] - ld['p50'])}) | {yes(added99 < ADDED_P99_MS)} |")
    else:
        w(f"| added p99 latency at {rate} req/s < {ADDED_P99_MS:g} ms | not measured (wrk "
          f"fallback, unthrottled: added p99 {ms(added99)}) | **unknown** |")
if lds and lgs:
    added99s = lgs["p99"] - lds["p99"]
    w(f"| added p99 latency at {rate} req/s < {ADDED_P99_MS:g} ms, both paths at once | "
      f"{ms(added99s)} (p50 {ms(lgs['p50'] - lds['p50'])}) | {yes(added99s < ADDED_P99_MS)} |")
if tg:
    w(f"| throughput through the gateway ≥ {GW_RPS:,} req/s | {fmt_rps(tg['rps'])} "
      f"(direct {fmt_rps(td['rps']) if td else 'n/a'}) | {yes(tg['rps'] >= GW_RPS)} |")
w(f"| idle RSS < {IDLE_MIB} MB | {mib(mem['idle_rss_kb'])} | {yes(mem['idle_rss_kb'] / 1024 < IDLE_MIB)} |")
w(f"| RSS with {mem['streams']} streams < {STREAMS_MIB} MB | {mib(stream_peak_kb)} "
  f"({max_conns} connections seen) | {yes(stream_peak_kb / 1024 < STREAMS_MIB and max_conns >= mem['streams'])} |")
w("")

# Flag anything that failed, so nobody reads numbers built on errors.
problems = []
for name, r in (("latency-direct", ld), ("latency-gateway", lg), ("latency-direct-sim", lds),
                ("latency-gateway-sim", lgs), ("throughput-direct", td),
                ("throughput-gateway", tg), ("c1-direct", cd), ("c1-gateway", cg),
                ("c1-litellm", cl), ("throughput-litellm", tl), ("streams-gateway", st)):
    if r and (r["non2xx"] or r["errors"]):
        problems.append(f"- {name}: status codes {r['codes']}, errors {r['error_kinds']}")
if problems:
    w("**Warning — failed requests in these runs:**")
    w("")
    out.extend(problems)
    w("")

print("\n".join(out))

#!/usr/bin/env bash
# One gateway (examples/bench.toml) in front of the mock, one oha run, and the gateway's
# CPU per request; optionally a `perf` profile of the gateway. For quick A/B runs of two
# binaries (alternate them: BIN=a, BIN=b, BIN=a, ...) and for finding where CPU goes.
#
#   bash bench/profile.sh                                  # max throughput, 64 connections, 8 s
#   SECS=10 CONNS=16 RATEARG="-q 1000 --latency-correction" bash bench/profile.sh   # fixed rate
#   EXTRA=audit PERF=1 bash bench/profile.sh && perf report -i /tmp/perf.data --no-children --sort symbol
#
# Prints the decision_commits counters at the end (audit log on).
# Knobs: BIN (default target/release/portcullis), EXTRA=audit|anomaly|both (sections
# appended as in bench/run.sh), GUARDS=true|false, SECS, CONNS, RATEARG (extra oha
# arguments), PERF=1 (perf record -F 1999 of the gateway into /tmp/perf.data), PERFG
# (perf's call-graph option, default -g; e.g. "--call-graph dwarf,16384").
# Ports 25080-25082 on 127.0.0.1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis}
PATH=$HOME/.cargo/bin:$PATH
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; sleep 0.5; rm -rf "$W"' EXIT
sed -e "s|^dir = \"policies\"|dir = \"$ROOT/examples/policies\"|" "$ROOT/examples/bench.toml" > "$W/c.toml"
case "${EXTRA:-}" in audit|both) cat "$ROOT/examples/bench-audit.toml" >> "$W/c.toml";; esac
case "${EXTRA:-}" in anomaly|both) printf '\n[anomaly]\nactions = { low = "alert", medium = "alert", high = "alert", critical = "alert" }\n' >> "$W/c.toml";; esac
mkdir -p "$W/data"
case "${EXTRA:-}" in audit|both) "$BIN" audit keygen --out "$W/data/audit.key" --name bench/audit >/dev/null 2>&1;; esac
"$BIN" mock-upstream --listen 127.0.0.1:25080 >/dev/null 2>&1 &
export PORTCULLIS_LISTEN=127.0.0.1:25081 PORTCULLIS_ADMIN_LISTEN=127.0.0.1:25082 \
  PORTCULLIS_DATA_DIR="$W/data" PORTCULLIS_UPSTREAM=http://127.0.0.1:25080/v1 PORTCULLIS_GUARDS="${GUARDS:-true}"
"$BIN" serve --config "$W/c.toml" > "$W/gw.log" 2>&1 &
GW=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:25082/healthz >/dev/null && break; sleep 0.1; done
KEY=$("$BIN" keys create --config "$W/c.toml" --principal bench --group bench | tail -n1)
BODY='{"model":"mock-model","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the benefits of zero-trust networking in one sentence."}],"max_tokens":64,"temperature":0.2}'
URL=http://127.0.0.1:25081/v1/chat/completions
# Warm-up, not measured.
oha --no-tui --output-format quiet -z 2s -c 64 -m POST -T application/json -H "authorization: Bearer $KEY" -d "$BODY" "$URL" >/dev/null
c0=$(awk '{print $14+$15}' "/proc/$GW/stat")
if [ "${PERF:-0}" = 1 ]; then
  # shellcheck disable=SC2086
  perf record -F 1999 ${PERFG:--g} -p "$GW" -o /tmp/perf.data -- sleep "${SECS:-8}" >/dev/null 2>&1 &
  PP=$!
fi
# shellcheck disable=SC2086
oha --no-tui -z "${SECS:-8}s" -c "${CONNS:-64}" ${RATEARG:-} -m POST -T application/json -H "authorization: Bearer $KEY" -d "$BODY" "$URL" > "$W/oha.txt"
c1=$(awk '{print $14+$15}' "/proc/$GW/stat")
grep -E "Success rate|Requests/sec|50.00%|99.00%" "$W/oha.txt"
n=$(grep -oP "Requests/sec:\s+\K[0-9.]+" "$W/oha.txt")
echo "gateway CPU per request: $(awk -v a="$c0" -v b="$c1" -v n="$n" -v s="${SECS:-8}" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f µs", (b-a)/hz*1e6/(n*s)}')"
if [ "${PERF:-0}" = 1 ]; then wait "$PP" || true; fi
# How the audit log's records were committed (handler = inline, writer = batches).
curl -s -H "authorization: Bearer $(cat "$W/data/admin.token")" http://127.0.0.1:25082/metrics | grep -E 'decision_commits' || true

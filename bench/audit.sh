#!/usr/bin/env bash
# Audit log benchmark: two gateways with the examples/bench.toml settings, one without
# and one with the audit log (examples/bench-audit.toml appended), against one mock
# upstream, measured in one run and interleaved (off, on, off, on) so that machine noise
# hits both alike: latency at a fixed rate with keep-alive, then maximum throughput.
# Afterwards `portcullis audit verify` checks the log the load wrote.
#
#   bash bench/audit.sh          # ~2 minutes with DURATION=15s; results in bench/results/audit-<time>.md
#
# Knobs: DURATION (15s), RATE (1000), LAT_CONNS (16), TPUT_CONNS (64), ROUNDS (2),
# BODIES=1 (the audited gateway also stores encrypted bodies: store_bodies = true),
# SKIP_BUILD=1, BIN (default target/release/portcullis). Only 127.0.0.1 is used; ports
# 18380-18393. Needs oha (cargo install oha).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-15s}
RATE=${RATE:-1000}
LAT_CONNS=${LAT_CONNS:-16}
TPUT_CONNS=${TPUT_CONNS:-64}
ROUNDS=${ROUNDS:-2}
command -v oha >/dev/null || PATH="$HOME/.cargo/bin:$PATH"
command -v oha >/dev/null || { echo "oha is required: cargo install oha" >&2; exit 1; }
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p portcullis
BIN="${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis}"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$WORK"; }
trap cleanup EXIT

# off: bench.toml as it is; on: plus the [audit] section.
sed -e "s|^dir = \"policies\"|dir = \"$ROOT/examples/policies\"|" examples/bench.toml > "$WORK/off.toml"
cat "$WORK/off.toml" examples/bench-audit.toml > "$WORK/on.toml"
mkdir -p "$WORK/data-off" "$WORK/data-on"
"$BIN" audit keygen --out "$WORK/data-on/audit.key" --name portcullis.bench/audit > "$WORK/vkey"
ON_LABEL=on
if [ "${BODIES:-0}" = 1 ]; then
  # [audit] is the last table of on.toml, so these keys land in it.
  "$BIN" audit body-keygen --out "$WORK/data-on/audit-body.key" 2>/dev/null
  printf 'store_bodies = true\nbody_key_file = "%s"\nbody_retention = "1h"\n' "$WORK/data-on/audit-body.key" >> "$WORK/on.toml"
  ON_LABEL="on + bodies"
fi

"$BIN" mock-upstream --listen 127.0.0.1:18380 >/dev/null 2>&1 &
PIDS+=($!)
start() { # name port admin
  PORTCULLIS_LISTEN=127.0.0.1:$2 PORTCULLIS_ADMIN_LISTEN=127.0.0.1:$3 PORTCULLIS_DATA_DIR=$WORK/data-$1 \
    PORTCULLIS_UPSTREAM=http://127.0.0.1:18380/v1 "$BIN" serve --config "$WORK/$1.toml" >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
}
start off 18381 18391
start on 18382 18392
GW_ON_PID=${PIDS[-1]}
for port in 18391 18392; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$WORK"/*.log >&2; exit 1; }
done
key() { PORTCULLIS_DATA_DIR=$WORK/data-$1 "$BIN" keys create --config "$WORK/$1.toml" --principal bench --group bench | tail -n1; }
declare -A KEYS=([off]=$(key off) [on]=$(key on))
declare -A URLS=([off]=http://127.0.0.1:18381 [on]=http://127.0.0.1:18382)
BODY='{"model":"mock-model","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the benefits of zero-trust networking in one sentence."}],"max_tokens":64,"temperature":0.2}'

run() { # name, extra oha args...
  local name=$1; shift
  oha --no-tui --output-format json "$@" -m POST \
    -H "Authorization: Bearer ${KEYS[$name]}" -H 'Content-Type: application/json' -d "$BODY" \
    "${URLS[$name]}/v1/chat/completions"
}
q() { python3 -c "import json,sys; d=json.load(sys.stdin); p=d['latencyPercentiles']; s=d['summary']; print('%.3f %.3f %.3f %.0f %.4f' % (p['p50']*1e3, p['p99']*1e3, p['p99.9']*1e3, s['requestsPerSec'], s['successRate']))"; }

# Warm-up, unmeasured.
for n in off on; do run $n -z 2s -c "$LAT_CONNS" >/dev/null; done
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A LAT TP
for r in $(seq "$ROUNDS"); do
  for n in off on; do LAT[$n.$r]=$(run $n -z "$DURATION" -q "$RATE" -c "$LAT_CONNS" --latency-correction | q); done
done
for r in $(seq "$ROUNDS"); do
  for n in off on; do TP[$n.$r]=$(run $n -z "$DURATION" -c "$TPUT_CONNS" | q); done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Stop the audited gateway cleanly (it signs a last checkpoint), then verify its log.
kill -TERM "$GW_ON_PID"
for _ in $(seq 100); do kill -0 "$GW_ON_PID" 2>/dev/null || break; sleep 0.1; done
# (The whole output, then its first line: a pipe closed early would fail the command.)
VERIFY=$(PORTCULLIS_DATA_DIR=$WORK/data-on "$BIN" audit verify --config "$WORK/on.toml" --vkey "$WORK/vkey")
VERIFY=${VERIFY%%$'\n'*}

OUT="$ROOT/bench/results/audit-$(date -u +%Y%m%d-%H%M%S).md"
mkdir -p "$ROOT/bench/results"
{
  echo "## Audit log benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB; load before: $LOAD_BEFORE, after: $LOAD_AFTER. Gateways, mock upstream and oha share the machine. Revision $(git rev-parse --short HEAD)$([ -z "$(git status --porcelain -- crates 2>/dev/null)" ] || echo ' (crates/ has uncommitted changes)')."
  echo
  echo "| audit log | round | @${RATE} req/s p50 | p99 | p99.9 | success | max req/s (${TPUT_CONNS} conns) | p50 | p99 | success |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for r in $(seq "$ROUNDS"); do
    for n in off on; do
      read -r l50 l99 l999 _ ls <<<"${LAT[$n.$r]}"; read -r t50 t99 _ tp ts <<<"${TP[$n.$r]}"
      label=$n; [ "$n" = on ] && label=$ON_LABEL
      echo "| $label | $r | $l50 ms | $l99 ms | $l999 ms | $ls | $tp | $t50 ms | $t99 ms | $ts |"
    done
  done
  echo
  echo "After the runs: \`portcullis audit verify\` on the audited gateway's log: $VERIFY"
} | tee "$OUT"

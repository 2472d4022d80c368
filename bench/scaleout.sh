#!/usr/bin/env bash
# Scale-out benchmark: latency at a fixed rate and maximum throughput of
#   direct   the built-in mock model, no gateway (baseline)
#   sqlite   one replica on SQLite with limits in process (the embedded default)
#   pg       one replica on PostgreSQL with limits in Redis
#   pg2      two replicas on the same PostgreSQL and Redis, the load split between them
# all in one run, against the same mock. The config is examples/bench.toml (every check
# on: key auth, validation, Cedar, per-principal and per-group limits, decision records;
# guards off unless PORTCULLIS_GUARDS=true), plus [store] and [redis] for pg and pg2.
#
#   bash bench/scaleout.sh
#
# Needs oha, curl, python3, and PostgreSQL and Redis (PORTCULLIS_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/test; REDIS_URL, default redis://127.0.0.1:6379).
# Knobs: DURATION (15s), RATE (1000, split across replicas), LAT_CONNS (16), TPUT_CONNS
# (64, split across replicas), AUDIT=1 (audit log on everywhere), BASE_PORT (25080),
# BIN, SKIP_BUILD=1. Results: bench/results/scaleout-<timestamp>/ and a summary printed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-15s}"
RATE="${RATE:-1000}"
LAT_CONNS="${LAT_CONNS:-16}"
TPUT_CONNS="${TPUT_CONNS:-64}"
BASE_PORT="${BASE_PORT:-25080}"
export PORTCULLIS_DATABASE_URL="${PORTCULLIS_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export PORTCULLIS_GUARDS="${PORTCULLIS_GUARDS:-false}"
BIN="${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis}"
STAMP="$(date -u +%Y%m%d-%H%M%S)"
RESULTS="$ROOT/bench/results/scaleout-$STAMP"
WORK="$(mktemp -d -t portcullis-scaleout.XXXXXX)"
SCHEMA="bench_scaleout_$(date +%s)"
mkdir -p "$RESULTS"
PATH="$HOME/.cargo/bin:$PATH"
command -v oha >/dev/null || { echo "oha is required: cargo install oha --locked" >&2; exit 1; }

BODY='{"model":"mock-model","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the benefits of zero-trust networking in one sentence."}],"max_tokens":64,"temperature":0.2}'
log() { printf '[scaleout %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

PIDS=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
    psql "$PORTCULLIS_DATABASE_URL" -q -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # NAME CMD... -> START_PID
    local name="$1"; shift
    setsid "$@" >"$WORK/$name.log" 2>&1 < /dev/null &
    START_PID=$!
    disown "$START_PID"
    PIDS+=("$START_PID")
}
wait_http() { # URL PID NAME
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { cat "$WORK/$3.log" >&2; exit 1; }
        sleep 0.1
    done
    cat "$WORK/$3.log" >&2; exit 1
}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release"
    timeout 1800 cargo build --release --quiet -p portcullis >&2
fi
{
    echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
    echo "nproc: $(nproc)"
    echo "loadgen: $(oha --version | head -1)"
    echo "git_rev: $(git rev-parse --short HEAD)"
    echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "audit_log: $([ "${AUDIT:-0}" = 1 ] && echo on || echo off); guards: $PORTCULLIS_GUARDS"
    echo "postgres: $(psql "$PORTCULLIS_DATABASE_URL" -tAc 'show server_version' 2>/dev/null); redis: $(redis-cli -u "$REDIS_URL" info server 2>/dev/null | sed -n 's/^redis_version://p' | tr -d '\r')"
} > "$RESULTS/machine.txt"
cat "$RESULTS/machine.txt" >&2

MOCK_PORT=$BASE_PORT
start mock "$BIN" mock-upstream --listen "127.0.0.1:$MOCK_PORT"
wait_http "http://127.0.0.1:$MOCK_PORT/v1/models" "$START_PID" mock

# config KIND -> path: bench.toml with absolute policy dir, plus the store and Redis.
config() {
    local kind="$1" out="$WORK/$1.toml"
    sed -e "s|^dir = \"policies\"|dir = \"$ROOT/examples/policies\"|" examples/bench.toml > "$out"
    if [ "$kind" = pg ]; then
        python3 - "$out" "$SCHEMA" "$REDIS_URL" <<'PY'
import sys
p, schema, redis = sys.argv[1:]
s = open(p).read().replace('[store]\n', '[store]\nkind = "postgres"\nurl_env = "PORTCULLIS_DATABASE_URL"\nschema = "%s"\n' % schema, 1)
s += '\n[redis]\nurl = "%s"\nkey_prefix = "%s"\n' % (redis, schema)
open(p, "w").write(s)
PY
    fi
    [ "${AUDIT:-0}" = 1 ] && cat examples/bench-audit.toml >> "$out"
    echo "$out"
}

# gateway NAME CONFIG PORT ADMIN -> START_PID; key in $WORK/NAME.key (shared db: one key)
gateway() {
    local name="$1" cfg="$2" port="$3" admin="$4" data="$WORK/data-$1"
    mkdir -p "$data"
    [ "${AUDIT:-0}" = 1 ] && "$BIN" audit keygen --out "$data/audit.key" --name portcullis.bench/audit >/dev/null 2>&1
    [ -n "${AUDIT_KEY:-}" ] && cp "$AUDIT_KEY" "$data/audit.key"
    export PORTCULLIS_LISTEN="127.0.0.1:$port" PORTCULLIS_ADMIN_LISTEN="127.0.0.1:$admin" \
           PORTCULLIS_DATA_DIR="$data" PORTCULLIS_UPSTREAM="http://127.0.0.1:$MOCK_PORT/v1"
    if [ ! -s "$WORK/$name.key" ]; then
        "$BIN" keys create --config "$cfg" --principal bench --group bench | tail -n 1 > "$WORK/$name.key"
    fi
    start "$name" "$BIN" serve --config "$cfg"
    wait_http "http://127.0.0.1:$admin/healthz" "$START_PID" "$name"
    unset PORTCULLIS_LISTEN PORTCULLIS_ADMIN_LISTEN PORTCULLIS_DATA_DIR PORTCULLIS_UPSTREAM
}

# load NAME CONNS RATE URL... : one oha per URL in parallel, conns and rate split.
load() {
    local name="$1" conns="$2" rate="$3"; shift 3
    local n=$# i=0 pids=()
    for url in "$@"; do
        local args=(--no-tui --output-format json -o "$RESULTS/$name.$i.json" -z "$DURATION"
                    -c $((conns / n)) -m POST -T application/json -d "$BODY")
        [ -n "${KEY:-}" ] && args+=(-H "Authorization: Bearer $KEY")
        [ "$rate" != 0 ] && args+=(-q $((rate / n)) --latency-correction)
        timeout 120 oha "${args[@]}" "$url" &
        pids+=($!)
        i=$((i + 1))
    done
    log "load $name: c=$conns rate=$rate over $n target(s)"
    wait "${pids[@]}"
}

measure() { # NAME URL...
    local name="$1"; shift
    timeout 30 oha --no-tui --output-format quiet -z 2s -c 8 -m POST -T application/json \
        ${KEY:+-H "Authorization: Bearer $KEY"} -d "$BODY" "$1" >/dev/null 2>&1 || true
    load "latency-$name" "$LAT_CONNS" "$RATE" "$@"
    load "throughput-$name" "$TPUT_CONNS" 0 "$@"
}

KEY="" measure direct "http://127.0.0.1:$MOCK_PORT/v1/chat/completions"

gateway sqlite "$(config sqlite)" $((BASE_PORT + 1)) $((BASE_PORT + 11))
SQLITE_PID=$START_PID
KEY="$(cat "$WORK/sqlite.key")" measure sqlite "http://127.0.0.1:$((BASE_PORT + 1))/v1/chat/completions"
kill -KILL -- "-$SQLITE_PID" 2>/dev/null || true

PG_CONFIG="$(config pg)"
"$BIN" migrate --config "$PG_CONFIG" >&2
gateway pg "$PG_CONFIG" $((BASE_PORT + 2)) $((BASE_PORT + 12))
[ "${AUDIT:-0}" = 1 ] && AUDIT_KEY="$WORK/data-pg/audit.key"
KEY="$(cat "$WORK/pg.key")" measure pg "http://127.0.0.1:$((BASE_PORT + 2))/v1/chat/completions"
cp "$WORK/pg.key" "$WORK/pg-b.key"
gateway pg-b "$PG_CONFIG" $((BASE_PORT + 3)) $((BASE_PORT + 13))
KEY="$(cat "$WORK/pg.key")" measure pg2 "http://127.0.0.1:$((BASE_PORT + 2))/v1/chat/completions" \
    "http://127.0.0.1:$((BASE_PORT + 3))/v1/chat/completions"

python3 - "$RESULTS" <<'PY' | tee "$RESULTS/summary.md"
import glob, json, os, sys
res = sys.argv[1]
def agg(prefix):
    files = sorted(glob.glob(os.path.join(res, prefix + ".*.json")))
    ds = [json.load(open(f)) for f in files]
    rps = sum(d["summary"]["requestsPerSec"] for d in ds)
    ok = all(set(d.get("statusCodeDistribution", {}).keys()) <= {"200"} for d in ds)
    # Parallel generators: report the worst replica's percentiles (conservative).
    p50 = max(d["latencyPercentiles"]["p50"] for d in ds) * 1e3
    p99 = max(d["latencyPercentiles"]["p99"] for d in ds) * 1e3
    return rps, p50, p99, ok
print(open(os.path.join(res, "machine.txt")).read())
print("| setup | p50 ms @rate | p99 ms @rate | added p99 ms | max req/s | all 200 |")
print("| --- | --- | --- | --- | --- | --- |")
base = agg("latency-direct")
for name, label in [("direct", "direct to mock"), ("sqlite", "1 replica, SQLite + in-process limits"),
                    ("pg", "1 replica, PostgreSQL + Redis"), ("pg2", "2 replicas, PostgreSQL + Redis")]:
    _, p50, p99, ok1 = agg("latency-" + name)
    rps, _, _, ok2 = agg("throughput-" + name)
    added = "" if name == "direct" else "%.3f" % (p99 - base[2])
    print("| %s | %.3f | %.3f | %s | %.0f | %s |" % (label, p50, p99, added, rps, ok1 and ok2))
PY

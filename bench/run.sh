#!/usr/bin/env bash
# Portcullis benchmark: latency at a fixed rate, maximum throughput, and gateway memory
# (idle and with 256 open streams), each measured against the built-in mock model
# directly and through the gateway in the same run. Optionally compares LiteLLM proxy.
#
#   bash bench/run.sh
#
# Everything listens on 127.0.0.1 only. Raw load-generator output goes to
# bench/results/<timestamp>/; a markdown summary is printed at the end and saved as
# summary.md next to the raw files.
#
# Environment knobs (all optional):
#   SKIP_BUILD=1        do not run `cargo build --release`
#   SKIP_LITELLM=1      skip the LiteLLM comparison even if bench/.venv has it
#   LOADGEN=wrk         use wrk even if oha is installed (no fixed-rate mode)
#   DURATION=15s        length of each measured load run
#   RATE=1000           requests/s of the fixed-rate latency runs
#   LAT_CONNS=16        connections of the fixed-rate latency runs
#   TPUT_CONNS=64       connections of the throughput runs
#   STREAMS=256         concurrent streaming requests of the memory run
#   STREAM_CHUNK_DELAY=250ms  delay between SSE events of the streaming mock (~12 events)
#   AUDIT=1             the same runs with the audit log on (examples/bench-audit.toml
#                       appended to the config; a signing key made per gateway). For a
#                       paired on/off comparison in one run, use bench/audit.sh.
#   ANOMALY=1           the gateway runs with an [anomaly] section appended, every severity
#                       mapped to `alert` (detection runs on every request; the one bench
#                       principal is never contained). Compare with a run without it.
#   BASE_PORT=24080     first of the ports used (BASE_PORT .. BASE_PORT+6); keep it below
#                       the ephemeral range (/proc/sys/net/ipv4/ip_local_port_range)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION="${DURATION:-15s}"
RATE="${RATE:-1000}"
LAT_CONNS="${LAT_CONNS:-16}"
TPUT_CONNS="${TPUT_CONNS:-64}"
STREAMS="${STREAMS:-256}"
STREAM_CHUNK_DELAY="${STREAM_CHUNK_DELAY:-250ms}"
BASE_PORT="${BASE_PORT:-24080}"
# Upper bound for any single load run (its duration plus slack).
RUN_TIMEOUT=60

MOCK_PORT=$((BASE_PORT + 0))        # mock model, no delays
GW_PORT=$((BASE_PORT + 1))          # gateway -> mock
GW_ADMIN_PORT=$((BASE_PORT + 2))
SMOCK_PORT=$((BASE_PORT + 3))       # streaming mock with --chunk-delay
SGW_PORT=$((BASE_PORT + 4))         # gateway -> streaming mock
SGW_ADMIN_PORT=$((BASE_PORT + 5))
LITELLM_PORT=$((BASE_PORT + 6))

BIN="${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis}"
CONFIG="$ROOT/examples/bench.toml"
STAMP="$(date -u +%Y%m%d-%H%M%S)"
RESULTS="$ROOT/bench/results/$STAMP"
WORK="$(mktemp -d -t portcullis-bench.XXXXXX)"
mkdir -p "$RESULTS"
if [ "${AUDIT:-0}" = 1 ]; then
    # bench.toml plus [audit]; its relative policy dir resolved against examples/.
    sed -e "s|^dir = \"policies\"|dir = \"$ROOT/examples/policies\"|" "$CONFIG" \
        | cat - "$ROOT/examples/bench-audit.toml" > "$WORK/bench-audit.toml"
    CONFIG="$WORK/bench-audit.toml"
fi
if [ "${ANOMALY:-0}" = 1 ]; then
    sed -e "s|^dir = \"policies\"|dir = \"$ROOT/examples/policies\"|" "$CONFIG" > "$WORK/bench-anomaly.toml"
    printf '\n[anomaly]\nactions = { low = "alert", medium = "alert", high = "alert", critical = "alert" }\n' >> "$WORK/bench-anomaly.toml"
    CONFIG="$WORK/bench-anomaly.toml"
fi

BODY='{"model":"mock-model","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the benefits of zero-trust networking in one sentence."}],"max_tokens":64,"temperature":0.2}'
STREAM_BODY='{"model":"mock-model","messages":[{"role":"user","content":"Write a haiku about gateways."}],"max_tokens":64,"stream":true}'

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- process hygiene
PIDS=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        # Each server runs in its own process group (setsid), so this also reaches
        # LiteLLM's worker processes, and nothing else.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    # `portcullis serve` currently needs 30 s to exit after SIGTERM (see
    # docs/benchmarks.md), so give everything 3 s and then SIGKILL.
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: runs CMD in the background in its own session, logs to WORK/NAME.log,
# sets START_PID.
start() {
    local name="$1"; shift
    setsid "$@" >"$WORK/$name.log" 2>&1 < /dev/null &
    START_PID=$!
    disown "$START_PID"  # no job-status noise when cleanup has to SIGKILL it
    PIDS+=("$START_PID")
}

# CPU seconds (user+system, all threads) used so far by every process in PID's process group.
CLK_TCK=$(getconf CLK_TCK)
group_cpu_s() {
    local total=0 p t
    for p in $(ps -o pid= --sid "$1" 2>/dev/null); do
        t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    awk -v t="$total" -v hz="$CLK_TCK" 'BEGIN {printf "%.3f", t / hz}'
}
# CPU_WATCH holds "label:pgid" pairs; cpu_snapshot prints {"label": seconds, ...}.
CPU_WATCH=()
cpu_snapshot() {
    local out="" kv
    for kv in "${CPU_WATCH[@]}"; do
        out+="${out:+, }\"${kv%%:*}\": $(group_cpu_s "${kv#*:}")"
    done
    echo "{$out}"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_http() { # URL PID NAME [timeout_s [curl args...]]
    local url="$1" pid="$2" name="$3" limit="${4:-20}" i
    shift 3; [ $# -gt 0 ] && shift
    for i in $(seq 1 $((limit * 10))); do
        if curl -fsS -o /dev/null --max-time 1 "$@" "$url" 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/$name.log" >&2; die "$name exited during start-up"; }
        sleep 0.1
    done
    cat "$WORK/$name.log" >&2
    die "$name not ready at $url after ${limit}s"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- tools
LOADGEN="${LOADGEN:-}"
if [ "$LOADGEN" = wrk ]; then
    command -v wrk >/dev/null 2>&1 || die "LOADGEN=wrk but wrk is not installed"
elif command -v oha >/dev/null 2>&1; then
    LOADGEN=oha
else
    log "oha not on PATH; waiting up to 120 s in case 'cargo install oha' is still running"
    for _ in $(seq 1 24); do
        sleep 5
        if command -v oha >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/oha" ]; then
            PATH="$HOME/.cargo/bin:$PATH"; LOADGEN=oha; break
        fi
    done
    if [ -z "$LOADGEN" ]; then
        command -v wrk >/dev/null 2>&1 || die "neither oha nor wrk is installed"
        LOADGEN=wrk
        log "falling back to wrk: no fixed-rate mode, latency runs use $LAT_CONNS connections unthrottled"
    fi
fi
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required (summary)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

for p in $MOCK_PORT $GW_PORT $GW_ADMIN_PORT $SMOCK_PORT $SGW_PORT $SGW_ADMIN_PORT $LITELLM_PORT; do
    port_in_use "$p" && die "port 127.0.0.1:$p is in use; set BASE_PORT to another range"
done

# ---------------------------------------------------------------- machine info
{
    echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
    echo "nproc: $(nproc)"
    echo "mem_total_gib: $(free -g | awk '/^Mem:/ {print $2}')"
    echo "kernel: $(uname -r)"
    echo "loadgen: $LOADGEN $($LOADGEN --version 2>/dev/null | head -1 || true)"
    echo "git_rev: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ -z "$(git status --porcelain -- crates 2>/dev/null)" ] || echo ' (crates/ has uncommitted changes)')"
    echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "audit_log: $([ "${AUDIT:-0}" = 1 ] && echo on || echo off)"
    echo "anomaly: $([ "${ANOMALY:-0}" = 1 ] && echo on || echo off)"
} > "$RESULTS/machine.txt"
cat "$RESULTS/machine.txt" >&2

# ---------------------------------------------------------------- build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release (waits if another build holds the lock)"
    timeout 1800 cargo build --release --quiet -p portcullis >&2 \
        || timeout 1800 cargo build --release --quiet >&2
fi
[ -x "$BIN" ] || die "$BIN not found"
"$BIN" version >> "$RESULTS/machine.txt" 2>&1 || true

# ---------------------------------------------------------------- load generator wrappers
# run_load NAME URL CONNS RATE(0=unthrottled) BODY [AUTH]
# Writes RESULTS/NAME.json (oha JSON, or the wrk Lua summary in the same shape).
run_load() {
    local name="$1" url="$2" conns="$3" rate="$4"
    log "load: $name (c=$conns, rate=$rate, $DURATION) -> $url"
    cpu_snapshot > "$RESULTS/$name.cpu-before.json"
    run_load_inner "$@"
    cpu_snapshot > "$RESULTS/$name.cpu-after.json"
}
run_load_inner() {
    local name="$1" url="$2" conns="$3" rate="$4" body="$5" auth="${6:-}"
    if [ "$LOADGEN" = oha ]; then
        local args=(--no-tui --output-format json -o "$RESULTS/$name.json"
                    -z "$DURATION" -c "$conns" -m POST -T application/json -d "$body")
        [ -n "$auth" ] && args+=(-H "Authorization: Bearer $auth")
        [ "$rate" != 0 ] && args+=(-q "$rate" --latency-correction)
        timeout "$RUN_TIMEOUT" oha "${args[@]}" "$url"
    else
        local lua="$WORK/wrk.lua"
        BENCH_BODY="$body" BENCH_AUTH="$auth" python3 - "$lua" <<'PY'
import json, os, sys
body = os.environ["BENCH_BODY"]; auth = os.environ["BENCH_AUTH"]
hdr = 'wrk.headers["Authorization"] = %s\n' % json.dumps("Bearer " + auth) if auth else ""
open(sys.argv[1], "w").write(
    'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n%s'
    'done = function(summary, latency, requests)\n'
    '  local s = summary.duration / 1e6\n'
    '  io.write(string.format(\'WRKJSON {"rps": %%f, "p50": %%f, "p99": %%f, "p999": %%f, '
    '"requests": %%d, "non2xx": %%d, "errors": %%d}\\n\', summary.requests / s, '
    'latency:percentile(50)/1e3, latency:percentile(99)/1e3, latency:percentile(99.9)/1e3, '
    'summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + '
    'summary.errors.write + summary.errors.timeout))\nend\n' % (json.dumps(body), hdr))
PY
        timeout "$RUN_TIMEOUT" wrk -t "$(( conns < 2 ? conns : 2 ))" -c "$conns" -d "$DURATION" --latency -s "$lua" "$url" \
            | tee "$RESULTS/$name.wrk.txt" | sed -n 's/^WRKJSON //p' > "$RESULTS/$name.json"
    fi
}

# ---------------------------------------------------------------- servers
log "starting mock upstream on :$MOCK_PORT"
start mock "$BIN" mock-upstream --listen "127.0.0.1:$MOCK_PORT"
MOCK_PID=$START_PID
CPU_WATCH+=("mock:$MOCK_PID")
wait_http "http://127.0.0.1:$MOCK_PORT/v1/models" "$MOCK_PID" mock

# gateway instance: NAME LISTEN ADMIN UPSTREAM DATADIR -> sets GW_KEY, START_PID
start_gateway() {
    local name="$1" listen="$2" admin="$3" upstream="$4" data="$5"
    mkdir -p "$data"
    if [ "${AUDIT:-0}" = 1 ]; then
        "$BIN" audit keygen --out "$data/audit.key" --name portcullis.bench/audit > /dev/null 2>&1 \
            || die "audit keygen failed"
    fi
    export PORTCULLIS_LISTEN="127.0.0.1:$listen" PORTCULLIS_ADMIN_LISTEN="127.0.0.1:$admin" \
           PORTCULLIS_DATA_DIR="$data" PORTCULLIS_UPSTREAM="$upstream"
    GW_KEY="$(timeout 30 "$BIN" keys create --config "$CONFIG" --principal bench --group bench | tail -n 1)"
    [ -n "$GW_KEY" ] || die "keys create printed no key"
    start "$name" "$BIN" serve --config "$CONFIG"
    wait_http "http://127.0.0.1:$admin/healthz" "$START_PID" "$name"
    # /readyz and /metrics need the admin token when the config names a token file; the
    # gateway writes one (bootstrap.admin_token) into the data dir on first start.
    ADMIN_AUTH=()
    if [ -s "$data/admin.token" ]; then
        ADMIN_AUTH=(-H "Authorization: Bearer $(cat "$data/admin.token")")
    fi
    wait_http "http://127.0.0.1:$admin/readyz" "$START_PID" "$name" 20 "${ADMIN_AUTH[@]}"
    unset PORTCULLIS_LISTEN PORTCULLIS_ADMIN_LISTEN PORTCULLIS_DATA_DIR PORTCULLIS_UPSTREAM
}

log "starting gateway on :$GW_PORT (admin :$GW_ADMIN_PORT)"
start_gateway gateway "$GW_PORT" "$GW_ADMIN_PORT" "http://127.0.0.1:$MOCK_PORT/v1" "$WORK/data-gw"
GW_PID=$START_PID
GW_ADMIN_AUTH=("${ADMIN_AUTH[@]}")
CPU_WATCH+=("gateway:$GW_PID")
KEY="$GW_KEY"
[ "$(cat "/proc/$GW_PID/comm")" = portcullis ] || die "PID $GW_PID is not the gateway"

DIRECT_URL="http://127.0.0.1:$MOCK_PORT/v1/chat/completions"
GW_URL="http://127.0.0.1:$GW_PORT/v1/chat/completions"

# Sanity: one request each way must succeed, and an unauthenticated one must be refused.
curl -fsS --max-time 5 -H 'Content-Type: application/json' -d "$BODY" "$DIRECT_URL" > "$RESULTS/sample-direct.json"
curl -fsS --max-time 5 -H 'Content-Type: application/json' -H "Authorization: Bearer $KEY" \
    -d "$BODY" "$GW_URL" > "$RESULTS/sample-gateway.json"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' -d "$BODY" "$GW_URL")
[ "$code" = 401 ] || [ "$code" = 403 ] || die "unauthenticated request got HTTP $code"

sleep 1
IDLE_RSS_KB=$(rss_kb "$GW_PID")
log "gateway idle VmRSS: ${IDLE_RSS_KB} kB"

# ---------------------------------------------------------------- (a) latency at a fixed rate
# Short unmeasured warm-up of both paths (connection pools, allocator, page cache).
if [ "$LOADGEN" = oha ]; then
    timeout 30 oha --no-tui --output-format quiet -z 2s -c "$LAT_CONNS" -m POST -T application/json -d "$BODY" "$DIRECT_URL" || true
    timeout 30 oha --no-tui --output-format quiet -z 2s -c "$LAT_CONNS" -m POST -T application/json \
        -H "Authorization: Bearer $KEY" -d "$BODY" "$GW_URL" || true
fi
run_load latency-direct  "$DIRECT_URL" "$LAT_CONNS" "$RATE" "$BODY"
run_load latency-gateway "$GW_URL"     "$LAT_CONNS" "$RATE" "$BODY" "$KEY"
# The same two paths again, loaded at the same time (RATE each): a pause of the whole
# machine (a busy virtual-machine host stops both vCPUs for milliseconds at a time) then
# delays both alike, instead of landing in one of the two runs and passing for the
# gateway's latency (or hiding it). The mock serves 2 x RATE here.
if [ "$LOADGEN" = oha ]; then
    log "load: latency-direct-sim and latency-gateway-sim, at the same time"
    run_load_inner latency-direct-sim "$DIRECT_URL" "$LAT_CONNS" "$RATE" "$BODY" &
    SIM_PID=$!
    run_load_inner latency-gateway-sim "$GW_URL" "$LAT_CONNS" "$RATE" "$BODY" "$KEY"
    wait "$SIM_PID" || true
fi
# How often the host paused this machine, measured right after: a thread reads the
# clock in a loop for 5 s and counts gaps over 1 ms (no request runs meanwhile).
python3 - > "$RESULTS/pauses.json" <<'PY'
import json, time
t0 = p = time.perf_counter(); gaps = []
while p - t0 < 5.0:
    t = time.perf_counter()
    if t - p > 1e-3:
        gaps.append(t - p)
    p = t
print(json.dumps({"seconds": 5, "gaps_over_1ms": len(gaps), "max_ms": round(max(gaps, default=0) * 1e3, 3),
                  "total_ms": round(sum(gaps) * 1e3, 3)}))
PY

# ---------------------------------------------------------------- (b) maximum throughput
run_load throughput-direct  "$DIRECT_URL" "$TPUT_CONNS" 0 "$BODY"
run_load throughput-gateway "$GW_URL"     "$TPUT_CONNS" 0 "$BODY" "$KEY"
AFTER_LOAD_RSS_KB=$(rss_kb "$GW_PID")
AFTER_LOAD_HWM_KB=$(hwm_kb "$GW_PID")

# ---------------------------------------------------------------- concurrency 1 (for the LiteLLM comparison)
run_load c1-direct  "$DIRECT_URL" 1 0 "$BODY"
run_load c1-gateway "$GW_URL"     1 0 "$BODY" "$KEY"
curl -fsS --max-time 5 "${GW_ADMIN_AUTH[@]}" "http://127.0.0.1:$GW_ADMIN_PORT/metrics" > "$RESULTS/gateway-metrics.txt" || true

# ---------------------------------------------------------------- (c) memory with open streams
log "starting streaming mock on :$SMOCK_PORT (--chunk-delay $STREAM_CHUNK_DELAY) and a second gateway on :$SGW_PORT"
start smock "$BIN" mock-upstream --listen "127.0.0.1:$SMOCK_PORT" --chunk-delay "$STREAM_CHUNK_DELAY"
SMOCK_PID=$START_PID
wait_http "http://127.0.0.1:$SMOCK_PORT/v1/models" "$SMOCK_PID" smock
start_gateway sgateway "$SGW_PORT" "$SGW_ADMIN_PORT" "http://127.0.0.1:$SMOCK_PORT/v1" "$WORK/data-sgw"
SGW_PID=$START_PID
CPU_WATCH=("gateway:$SGW_PID")
SKEY="$GW_KEY"
SGW_URL="http://127.0.0.1:$SGW_PORT/v1/chat/completions"
# One streamed reply end to end: must contain data events and the [DONE] terminator.
curl -fsS -N --max-time 30 -H 'Content-Type: application/json' -H "Authorization: Bearer $SKEY" \
    -d "$STREAM_BODY" "$SGW_URL" > "$RESULTS/sample-stream.txt"
grep -q '^data: \[DONE\]' "$RESULTS/sample-stream.txt" || die "streamed reply has no [DONE]"
sleep 1
STREAM_IDLE_RSS_KB=$(rss_kb "$SGW_PID")

# Hold STREAMS streaming requests open for the whole run (each reply takes ~12 x chunk delay,
# and the load generator immediately reopens a finished one), sampling VmRSS and the number of
# established client connections to the gateway every 100 ms.
SAMPLES="$RESULTS/streams-rss-samples.tsv"
echo -e "t_ms\tvmrss_kb\testablished_client_conns" > "$SAMPLES"
(
    t0=$(date +%s%3N)
    while kill -0 "$SGW_PID" 2>/dev/null; do
        conns=$(ss -Htn state established "( sport = :$SGW_PORT )" 2>/dev/null | wc -l)
        echo -e "$(( $(date +%s%3N) - t0 ))\t$(rss_kb "$SGW_PID")\t$conns" >> "$SAMPLES"
        sleep 0.1
    done
) &
SAMPLER_PID=$!
PIDS+=("$SAMPLER_PID")
run_load streams-gateway "$SGW_URL" "$STREAMS" 0 "$STREAM_BODY" "$SKEY"
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
STREAM_HWM_KB=$(hwm_kb "$SGW_PID")
sleep 2
STREAM_AFTER_RSS_KB=$(rss_kb "$SGW_PID")
kill -TERM -- "-$SGW_PID" "-$SMOCK_PID" 2>/dev/null || true
CPU_WATCH=("mock:$MOCK_PID")

# ---------------------------------------------------------------- (d) LiteLLM (optional)
LITELLM_STATUS="skipped"
LITELLM="$ROOT/bench/.venv/bin/litellm"
if [ "${SKIP_LITELLM:-0}" = 1 ]; then
    LITELLM_STATUS="skipped (SKIP_LITELLM=1)"
elif [ ! -x "$LITELLM" ]; then
    LITELLM_STATUS="skipped (bench/.venv/bin/litellm not installed; see docs/benchmarks.md)"
elif port_in_use "$LITELLM_PORT"; then
    LITELLM_STATUS="skipped (port $LITELLM_PORT taken)"
else
    cat > "$WORK/litellm.yaml" <<EOF
model_list:
  - model_name: mock-model
    litellm_params:
      model: openai/mock-model
      api_base: http://127.0.0.1:$MOCK_PORT/v1
      api_key: sk-dummy
general_settings:
  master_key: sk-bench-master
litellm_settings:
  telemetry: false
EOF
    log "starting LiteLLM proxy on :$LITELLM_PORT (2 workers)"
    start litellm env LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR LITELLM_TELEMETRY=False \
        "$LITELLM" --config "$WORK/litellm.yaml" --host 127.0.0.1 \
            --port "$LITELLM_PORT" --num_workers 2
    LITELLM_PID=$START_PID
    CPU_WATCH+=("litellm:$LITELLM_PID")
    LL_URL="http://127.0.0.1:$LITELLM_PORT/v1/chat/completions"
    ready=0
    ll_t0=$(date +%s)
    # LiteLLM took ~20 s to start on an idle 2-core machine, over 60 s on a busy one.
    while [ $(( $(date +%s) - ll_t0 )) -lt 240 ]; do
        if curl -fsS -o /dev/null --max-time 2 -H 'Content-Type: application/json' \
            -H "Authorization: Bearer sk-bench-master" -d "$BODY" "$LL_URL" 2>/dev/null; then
            ready=1; break
        fi
        kill -0 "$LITELLM_PID" 2>/dev/null || break
        sleep 0.5
    done
    LITELLM_START_S=$(( $(date +%s) - ll_t0 ))
    if [ "$ready" = 1 ]; then
        # The first answer can come from the first worker; give the second time to finish.
        sleep 5
        LITELLM_IDLE_RSS_KB=0
        for p in $(ps -o pid= --sid "$LITELLM_PID"); do
            LITELLM_IDLE_RSS_KB=$((LITELLM_IDLE_RSS_KB + $(rss_kb "$p" 2>/dev/null || echo 0)))
        done
        log "LiteLLM answered after ${LITELLM_START_S}s; RSS of its processes: ${LITELLM_IDLE_RSS_KB} kB"
        echo "{\"start_s\": $LITELLM_START_S, \"idle_rss_kb\": $LITELLM_IDLE_RSS_KB}" > "$RESULTS/litellm.json"
        curl -fsS --max-time 5 -H 'Content-Type: application/json' -H "Authorization: Bearer sk-bench-master" \
            -d "$BODY" "$LL_URL" > "$RESULTS/sample-litellm.json"
        run_load c1-litellm         "$LL_URL" 1 0 "$BODY" sk-bench-master
        run_load throughput-litellm "$LL_URL" "$TPUT_CONNS" 0 "$BODY" sk-bench-master
        LITELLM_STATUS="measured ($("$ROOT/bench/.venv/bin/python" -c 'import importlib.metadata as m; print("litellm", m.version("litellm"))' 2>/dev/null || echo litellm))"
    else
        cp "$WORK/litellm.log" "$RESULTS/litellm.log" 2>/dev/null || true
        LITELLM_STATUS="failed to start (see bench/results/$STAMP/litellm.log)"
    fi
    cp "$WORK/litellm.log" "$RESULTS/litellm.log" 2>/dev/null || true
    kill -TERM -- "-$LITELLM_PID" 2>/dev/null || true
fi

# ---------------------------------------------------------------- summary
cp "$WORK/gateway.log" "$RESULTS/gateway.log" 2>/dev/null || true
cp "$WORK/sgateway.log" "$RESULTS/sgateway.log" 2>/dev/null || true
echo "load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RESULTS/machine.txt"
cat > "$RESULTS/memory.json" <<EOF
{"idle_rss_kb": $IDLE_RSS_KB, "after_load_rss_kb": $AFTER_LOAD_RSS_KB, "after_load_hwm_kb": $AFTER_LOAD_HWM_KB,
 "stream_gw_idle_rss_kb": $STREAM_IDLE_RSS_KB, "stream_hwm_kb": $STREAM_HWM_KB,
 "stream_after_rss_kb": $STREAM_AFTER_RSS_KB, "streams": $STREAMS,
 "stream_chunk_delay": "$STREAM_CHUNK_DELAY"}
EOF
python3 "$ROOT/bench/summarize.py" "$RESULTS" "$LOADGEN" "$RATE" "$LAT_CONNS" "$TPUT_CONNS" \
    "$DURATION" "$LITELLM_STATUS" | tee "$RESULTS/summary.md"
log "raw results in $RESULTS"

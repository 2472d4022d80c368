#!/usr/bin/env bash
# TLS benchmark: the same gateway (examples/bench.toml settings) served over plain HTTP,
# TLS, and mTLS with a SPIFFE client certificate, against one mock upstream, in one run.
# Reports steady-state latency with keep-alive at a fixed rate, the per-request cost of a
# new connection (handshake) without keep-alive, and throughput.
#
#   bash bench/tls.sh            # ~1.5 minutes; results in bench/results/tls-<time>.md
#
# Only 127.0.0.1 is used. Needs oha (cargo install oha) and openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-8s}
command -v oha >/dev/null || { echo "oha is required: cargo install oha" >&2; exit 1; }
cargo build --release -q
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# --- certificates (made here, thrown away at exit) ---
cd "$WORK"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj "/CN=bench CA" -days 2 -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
mk() { # name, extensions
  openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null
  openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
mk server "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth
basicConstraints=critical,CA:FALSE"
mk client "subjectAltName=URI:spiffe://bench.local/load-generator
extendedKeyUsage=clientAuth
basicConstraints=critical,CA:FALSE"

# --- configs: bench.toml plus a TLS section ---
mkcfg() { # name, port, admin port, tls section
  sed -e "s|^dir = \"policies\"|dir = \"$ROOT/examples/policies\"|" "$ROOT/examples/bench.toml" > "$WORK/$1.toml"
  printf '%s\n' "$4" >> "$WORK/$1.toml"
  echo "$1 $2 $3"
}
TLS="[server.tls]
cert_file = \"$WORK/server.pem\"
key_file = \"$WORK/server.key\""
MTLS="$TLS
client_auth = \"required\"
[server.tls.trust_domains.\"bench.local\"]
bundle_file = \"$WORK/ca.pem\""
# TOML: [server.tls] must follow [server]; bench.toml's [server] is first, and appended
# tables are fine as long as `listen` stays under [server].
mkcfg plain 18281 18291 "" >/dev/null
mkcfg tls 18282 18292 "$TLS" >/dev/null
mkcfg mtls 18283 18293 "$MTLS" >/dev/null

"$BIN" mock-upstream --listen 127.0.0.1:18280 >/dev/null 2>&1 &
PIDS+=($!)
start() { # name port admin
  PORTCULLIS_LISTEN=127.0.0.1:$2 PORTCULLIS_ADMIN_LISTEN=127.0.0.1:$3 PORTCULLIS_DATA_DIR=$WORK/data-$1 \
    PORTCULLIS_UPSTREAM=http://127.0.0.1:18280/v1 "$BIN" serve --config "$WORK/$1.toml" >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
}
start plain 18281 18291
start tls 18282 18292
start mtls 18283 18293
for port in 18291 18292 18293; do
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
done
key() { PORTCULLIS_DATA_DIR=$WORK/data-$1 "$BIN" keys create --config "$WORK/$1.toml" --principal bench --group bench | tail -n1; }
declare -A KEYS=([plain]=$(key plain) [tls]=$(key tls) [mtls]=$(key mtls))
declare -A URLS=([plain]=http://127.0.0.1:18281 [tls]=https://127.0.0.1:18282 [mtls]=https://127.0.0.1:18283)
BODY='{"model":"mock-model","messages":[{"role":"user","content":"Summarize the quarterly report in three bullet points."}],"max_tokens":64}'

run() { # name, extra oha args...
  local name=$1; shift
  local tlsargs=()
  [ "$name" != plain ] && tlsargs+=(--cacert "$WORK/ca.pem")
  [ "$name" = mtls ] && tlsargs+=(--cert "$WORK/client.pem" --key "$WORK/client.key")
  oha --no-tui --output-format json "${tlsargs[@]}" "$@" -m POST \
    -H "Authorization: Bearer ${KEYS[$name]}" -H 'Content-Type: application/json' -d "$BODY" \
    "${URLS[$name]}/v1/chat/completions"
}
q() { python3 -c "import json,sys; d=json.load(sys.stdin); p=d['latencyPercentiles']; s=d['summary']; print('%.3f %.3f %.0f %.4f' % (p['p50']*1e3, p['p99']*1e3, s['requestsPerSec'], s['successRate']))"; }

declare -A KA NK TP
# Same kind of run for all three modes back to back, the heaviest (throughput) last, so
# one mode's load does not spill into another's latency run.
for n in plain tls mtls; do KA[$n]=$(run $n -z "$DURATION" -q 1000 -c 16 --latency-correction | q); done
for n in plain tls mtls; do NK[$n]=$(run $n -z "$DURATION" -q 200 -c 8 --latency-correction --disable-keepalive | q); done
for n in plain tls mtls; do TP[$n]=$(run $n -z "$DURATION" -c 64 | q); done

OUT="$ROOT/bench/results/tls-$(date -u +%Y%m%d-%H%M%S).md"
mkdir -p "$ROOT/bench/results"
{
  echo "## TLS benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg). Gateway, mock upstream and oha share the machine. ECDSA P-256 certificates, TLS 1.3."
  echo
  echo "| mode | keep-alive @1000 req/s p50 | p99 | new connection per request @200 req/s p50 | p99 | max req/s (64 conns, keep-alive) | success |"
  echo "|---|---|---|---|---|---|---|"
  for n in plain tls mtls; do
    read -r ka50 ka99 _ kas <<<"${KA[$n]}"; read -r nk50 nk99 _ _ <<<"${NK[$n]}"; read -r _ _ tp tps <<<"${TP[$n]}"
    echo "| $n | $ka50 ms | $ka99 ms | $nk50 ms | $nk99 ms | $tp | $kas / $tps |"
  done
  read -r p50 _ _ _ <<<"${NK[plain]}"; read -r t50 _ _ _ <<<"${NK[tls]}"; read -r m50 _ _ _ <<<"${NK[mtls]}"
  read -r pk _ _ _ <<<"${KA[plain]}"; read -r tk _ _ _ <<<"${KA[tls]}"; read -r mk _ _ _ <<<"${KA[mtls]}"
  python3 -c "print(f'\nHandshake cost (p50, new connection, minus plain): TLS {$t50-$p50:.3f} ms, mTLS {$m50-$p50:.3f} ms. Steady state with keep-alive (p50 minus plain): TLS {$tk-$pk:.3f} ms, mTLS {$mk-$pk:.3f} ms.')"
} | tee "$OUT"

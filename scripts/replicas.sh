#!/usr/bin/env bash
# Runs N gateway replicas on this machine against one PostgreSQL database and one Redis,
# the way they run behind a load balancer: shared keys, budgets, revocations and audit
# log. Ctrl-C stops them all.
#
#   scripts/replicas.sh [N]            # default 3 replicas, data ports 8081.., admin 9091..
#
# Environment:
#   PORTCULLIS_DATABASE_URL  PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test)
#   PORTCULLIS_SCHEMA        schema to use (default portcullis_replicas)
#   REDIS_URL                Redis URL (default redis://127.0.0.1:6379)
#   BIN                      the portcullis binary (default: build target/release/portcullis)
#   DIR                      working directory for configs and logs (default ./replicas)
#   BASE_PORT, ADMIN_BASE    first data and admin ports (default 8081, 9091)
set -euo pipefail

N="${1:-3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export PORTCULLIS_DATABASE_URL="${PORTCULLIS_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
SCHEMA="${PORTCULLIS_SCHEMA:-portcullis_replicas}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
DIR="${DIR:-$PWD/replicas}"
BASE_PORT="${BASE_PORT:-8081}"
ADMIN_BASE="${ADMIN_BASE:-9091}"

if [[ -z "${BIN:-}" ]]; then
  (cd "$ROOT" && cargo build --release --locked -p portcullis >&2)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis"
fi

mkdir -p "$DIR/policies"
cd "$DIR"
[[ -f admin.token ]] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > admin.token
chmod 600 admin.token
[[ -f audit.key ]] || "$BIN" audit keygen --name replicas.local/audit --out audit.key >/dev/null
[[ -f policies/team.cedar ]] || cat > policies/team.cedar <<'EOF'
@id("team")
permit (principal in Portcullis::Group::"team", action, resource);
EOF

for i in $(seq 0 $((N - 1))); do
  cat > "r$i.toml" <<EOF
[server]
listen = "127.0.0.1:$((BASE_PORT + i))"
[admin]
listen = "127.0.0.1:$((ADMIN_BASE + i))"
token_file = "admin.token"
[store]
kind = "postgres"
url_env = "PORTCULLIS_DATABASE_URL"
schema = "$SCHEMA"
data_dir = "data$i"
[redis]
url = "$REDIS_URL"
key_prefix = "$SCHEMA"
[policy]
dir = "policies"
[upstreams.mock]
kind = "mock"
[models.mock-model]
upstream = "mock"
[limits.default]
requests_per_minute = 600
[audit]
signing_key_file = "audit.key"
origin = "replicas.local/audit"
EOF
done

"$BIN" migrate --config r0.toml
if [[ ! -f alice.key ]]; then
  "$BIN" keys create --config r0.toml --principal alice --group team | tail -n 1 > alice.key
  chmod 600 alice.key
fi

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for i in $(seq 0 $((N - 1))); do
  "$BIN" serve --config "r$i.toml" 2> "r$i.log" &
  pids+=($!)
done

echo "replicas: $N on ports $BASE_PORT..$((BASE_PORT + N - 1)) (admin $ADMIN_BASE..), logs in $DIR/r*.log"
echo "try:  curl -s localhost:$BASE_PORT/v1/chat/completions -H \"Authorization: Bearer \$(cat $DIR/alice.key)\" \\"
echo "        -H 'Content-Type: application/json' -d '{\"model\":\"mock-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'"
echo "verify the shared audit log:  PORTCULLIS_DATABASE_URL=... $BIN audit verify --config $DIR/r0.toml"
wait -n "${pids[@]}" || true
echo "a replica exited; stopping the others (see $DIR/r*.log)" >&2

#!/usr/bin/env bash
# Reproduces the per-scenario table of docs/anomaly.md through the CLI pipes (simulate ->
# replay -> score) for each seed, then in process over all seeds (`anomaly eval`).
# Usage: scripts/anomaly-eval.sh [SEEDS] [BIN]   (default: the report seeds 101-105)
set -euo pipefail
SEEDS=${1:-101-105}
BIN=${2:-target/release/portcullis}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
first=${SEEDS%-*}; last=${SEEDS#*-}
for seed in $(seq "$first" "$last"); do
  "$BIN" anomaly simulate --seed "$seed" --out "$TMP/events.jsonl" --labels "$TMP/labels.jsonl"
  "$BIN" anomaly replay < "$TMP/events.jsonl" > "$TMP/alerts.jsonl"
  echo "## seed $seed"
  "$BIN" anomaly score --labels "$TMP/labels.jsonl" --alerts "$TMP/alerts.jsonl" --principal-days 2100
done
echo "## all seeds"
"$BIN" anomaly eval --seeds "$SEEDS"

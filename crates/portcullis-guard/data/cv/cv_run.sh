#!/bin/bash
# Trains one recipe on each fold of make_folds.py's split and scores the held-out folds.
# usage (repo root): crates/portcullis-guard/data/cv/cv_run.sh GUARD_BIN FOLDDIR NAME K -- TRAIN_ARGS...
# e.g. ... target/release/examples/guard /tmp/cv B 3 -- --augment crates/portcullis-guard/data/augment.jsonl
G=$1; DIR=$2; name=$3; K=$4; shift 5
mkdir -p "$DIR/m"
for ((k=0;k<K;k++)); do
  "$G" train --train "$DIR/f$k/train.jsonl" --dev "$DIR/f$k/held.jsonl" \
     --out "$DIR/m/$name-f$k.bin" "$@" > "$DIR/m/$name-f$k.log" 2>&1 || { echo "fold $k failed"; exit 1; }
  echo "$name f$k $(grep '^dev:' "$DIR/m/$name-f$k.log")"
done
bench/.venv-ml/bin/python "$(dirname "$0")/cv_eval.py" "$G" "$DIR" "$name" "$K"

#!/usr/bin/env bash
# Reproduces the shipped weights in models/ from scratch: renders the corpus, trains PARcompact
# (320 ms), PAR (320 ms), fine-tunes PARcompact to 192 ms from the 320 ms weights, evaluates each
# on the held-out test set and ships it (models/*.pt, *.eval.json, MODEL_CARD.md figures).
#   bash scripts/train_models.sh            # CPU, the budget recorded in models/MODEL_CARD.md
#   MINUTES=600 bash scripts/train_models.sh  # longer runs: all runs resume where they stopped
# Everything is resumable: run it again to continue. Work folder: $WORK (default ../par-work).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-../par-work}
CORPUS=${CORPUS:-$WORK/corpus}
RUNS=${RUNS:-$WORK/runs}
MINUTES=${MINUTES:-120}        # wall-clock budget of the two 320 ms runs (they run side by side)
FT_MINUTES=${FT_MINUTES:-25}   # budget of the 192 ms fine-tune
COMMON=(--batch 8 --crop-frames 160 --lr 1e-3 --lr-decay 0.9 --lr-decay-every 1000
        --val-every 250 --val-files 8 --checkpoint-every 50 --threads 1 --steps 100000
        --class-weights 1,2,4,1,4)

par-studio build-corpus --out "$CORPUS" --procedural 300 --max-train-performances 400 \
  --segments-per-performance 2 --segment-seconds 30 --max-val 20 --max-test 30 \
  --limit-hours "${CORPUS_HOURS:-3.5}" --seed 0

par-studio train --corpus "$CORPUS" --preset par-compact --latency 320 --out "$RUNS/par-compact-320" \
  --max-minutes "$MINUTES" "${COMMON[@]}" &
par-studio train --corpus "$CORPUS" --preset par --latency 320 --out "$RUNS/par-320" \
  --max-minutes "$MINUTES" "${COMMON[@]}" &
wait

par-studio train --corpus "$CORPUS" --preset par-compact --latency 192 --out "$RUNS/par-compact-192" \
  --init "$RUNS/par-compact-320/best.pt" --max-minutes "$FT_MINUTES" --warmup 20 \
  "${COMMON[@]}" --threads 2

for name in par-compact-320 par-320 par-compact-192; do
  python -m par_studio.train.ship "$RUNS/$name/best.pt" --name "$name" --test-dir "$CORPUS/test"
done

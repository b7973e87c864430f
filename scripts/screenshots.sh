#!/usr/bin/env bash
# Make the set of PAR Studio screenshots under Xvfb into docs/screenshots/.
#   scripts/screenshots.sh [AUDIO]      (default: the bundled example, resources/example.flac)
# Needs: xvfb (xvfb-run). Uses the shipped weights in models/ when they exist; without them the
# app shows the spectrogram and a plain "no trained model" message instead of notes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=docs/screenshots
mkdir -p "$OUT"
AUDIO=("$@")
run() { xvfb-run -a -s "-screen 0 1600x1000x24" par-studio "$@"; }

# 1. a file transcribed with the default model (PAR, 320 ms)
run --screenshot "$OUT/main.png" "${AUDIO[@]}"
# 2. the same file played as live input for a few seconds with PARcompact (scrolling view,
#    provisional notes hatched, look-ahead shaded, status bar with latency and dropped blocks)
PAR_STUDIO_MODEL=par-compact run --screenshot "$OUT/live.png" --live "${AUDIO[@]}"
# 3. PARcompact at its shortest shipped look-ahead, file mode
PAR_STUDIO_MODEL=par-compact:min run --screenshot "$OUT/compact.png" "${AUDIO[@]}"
ls -l "$OUT"

#!/usr/bin/env bash
# Make the set of PAR Studio screenshots under Xvfb into docs/screenshots/.
#   scripts/screenshots.sh [AUDIO]      (default: the bundled example, resources/example.flac)
#   PAR_SHOTS_DIR=DIR scripts/screenshots.sh   (into another folder DIR, to look at them first)
# Needs: xvfb (xvfb-run) and trained weights in models/. Every shot is a real run of the app:
# a shot whose model has no weights uses one that has them (said below), or is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${PAR_SHOTS_DIR:-docs/screenshots}
mkdir -p "$OUT"
AUDIO=("$@")
run() { xvfb-run -a -s "-screen 0 1600x1000x24" par-studio "$@"; }
have() { compgen -G "models/$1-[0-9]*.pt" >/dev/null; }

if ! have par-compact; then
  echo "screenshots: no PARcompact weights in models/ (models/par-compact-*.pt): nothing to show;" \
       "train them first (scripts/train_models.sh)" >&2
  exit 1
fi
# 1. a file transcribed with the default model (PAR, 320 ms); PARcompact until PAR is trained
if [ -f models/par-320.pt ]; then
  run --screenshot "$OUT/main.png" "${AUDIO[@]}"
else
  echo "screenshots: models/par-320.pt is not there yet: main.png uses PARcompact instead" >&2
  PAR_STUDIO_MODEL=par-compact run --screenshot "$OUT/main.png" "${AUDIO[@]}"
fi
# 2. the same file played as live input (real time) with PARcompact, taken mid-session once
#    14 s have been processed: scrolling view, provisional notes hatched, look-ahead shaded,
#    status bar with model, latency and dropped blocks
PAR_STUDIO_MODEL=par-compact run --screenshot "$OUT/live.png" --live "${AUDIO[@]}"
# 3. PARcompact at its shortest shipped look-ahead, file mode
PAR_STUDIO_MODEL=par-compact:min run --screenshot "$OUT/compact.png" "${AUDIO[@]}"
# 4. hand-checking at a laptop's 1280 x 720 (both toolbar rows whole): a note selected with Tab
#    and read in the inspector, the velocity legend at its right; then candidate notes (ghosts,
#    Candidates slider at +1.5) with the first one focused as N does
PAR_STUDIO_SHOT=inspector run --screenshot "$OUT/inspector.png" "${AUDIO[@]}"
PAR_STUDIO_SHOT=candidates run --screenshot "$OUT/candidates.png" "${AUDIO[@]}"
ls -l "$OUT"

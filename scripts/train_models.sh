#!/usr/bin/env bash
# Rebuilds the shipped weights from one recipe: corpus v2 (sampled pianos in rooms and tunings),
# then PARcompact and PAR at 320 ms from scratch, then their 224/192/160/128 ms look-ahead
# variants from the 320 ms weights, each shipped into models/ only when it beats what is there
# on validation. Every setting is in models/recipe.toml; every stage resumes where it stopped.
#   bash scripts/train_models.sh                       # everything (many CPU days on 2 cores)
#   bash scripts/train_models.sh --dry-run             # print the commands
#   bash scripts/train_models.sh --only par-compact-320 --stage train,ship
#   WORK=/big/disk bash scripts/train_models.sh        # corpus and runs elsewhere (default ../par-work)
# Needs the training data beside the checkout (../shared/data/asap, ../shared/data/pianos, or
# PAR_PIANOS_DIR), `pip install -e .[train]` (pysfizz) and the apt packages of
# par_studio/train/soundfonts.py (fluidsynth, GM SoundFonts, timidity + freepats, ffmpeg).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m par_studio.train.recipe --work "${WORK:-../par-work}" "$@"

#!/usr/bin/env bash
# Installs PAR Studio and everything it needs on a fresh Debian/Ubuntu machine (as root or
# with sudo): system libraries from apt, then torch (CPU build first), then the package.
#   bash scripts/install.sh           app + command line
#   bash scripts/install.sh --test    the same plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT=(
  libportaudio2 libsndfile1 ffmpeg                      # audio devices and decoding
  fluidsynth fluid-soundfont-gm musescore-general-soundfont-small timgm6mb-soundfont
  csound-soundfont                                      # extra training timbre (--timbre-variety)
  timidity freepats                                     # corpus rendering (train + held-out timbres)
  libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3 libfontconfig1
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0
  libxcb-randr0 libxcb-render-util0 libxcb-image0        # Qt's xcb platform
  xvfb xauth                                            # headless screenshots
)
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${APT[@]}" >/dev/null
fi
PIP="python3 -m pip"
$PIP install -q torch==2.13.0
if [ "${1:-}" = "--test" ]; then
  $PIP install -q -e ".[test,midi-out]"
else
  $PIP install -q -e ".[midi-out]"
fi

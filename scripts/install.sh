#!/usr/bin/env bash
# Installs PAR Studio on a fresh Debian/Ubuntu machine that has only the system Python
# (PEP 668: nothing is pip-installed into it). System libraries come from apt (as root, or with
# sudo; skipped when they are all there already), everything else goes into a virtual
# environment, by default .venv in the checkout:
#   bash scripts/install.sh           app + command line  -> .venv/bin/par-studio
#   bash scripts/install.sh --test    the same plus the test tools and sfizz (sampled-piano tests)
# Choices (environment variables):
#   PAR_VENV=DIR          where the virtual environment goes (default: .venv in the checkout)
#   PAR_TORCH=cpu         (default) torch's CPU-only build where the platform has one (Linux:
#                         from download.pytorch.org/whl/cpu when that answers within a few
#                         seconds, otherwise what pip finds); a few hundred MB instead of GBs
#   PAR_TORCH=default     whatever `pip install torch` picks (on Linux x86-64: the CUDA build)
#   PAR_TORCH=keep        leave an already installed torch alone
#   PAR_TORCH_SPEC=...    the torch requirement (default: torch==2.13.0, the tested release)
#   PAR_TORCH_INDEX=URL   the CPU index to use (default: https://download.pytorch.org/whl/cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
TEST=0
for arg in "$@"; do
  case "$arg" in
    --test) TEST=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $arg (use --test or --help)" >&2; exit 2 ;;
  esac
done
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ------------------------------------------------------------------ system libraries (apt)
APT=(
  python3 python3-venv                                  # the virtual environment
  libportaudio2 libsndfile1 ffmpeg                      # audio devices and decoding
  fluidsynth fluid-soundfont-gm musescore-general-soundfont-small timgm6mb-soundfont
  csound-soundfont                                      # extra training timbre (--timbre-variety)
  timidity freepats                                     # corpus rendering (train + held-out timbres)
  libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3 libfontconfig1
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0
  libxcb-randr0 libxcb-render-util0 libxcb-image0        # Qt's xcb platform
  xvfb xauth                                            # headless screenshots
)
if command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; then
  missing=()
  for p in "${APT[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
      if command -v sudo >/dev/null; then SUDO="sudo"; else
        echo "install.sh: these Debian packages are missing and neither root nor sudo is available:" >&2
        echo "  apt-get install ${missing[*]}" >&2
        exit 1
      fi
    fi
    say "apt: installing ${#missing[@]} system packages (${missing[*]:0:6} ...)"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  say "no apt-get: install PortAudio, libsndfile, ffmpeg and Qt's runtime libraries yourself"
fi

# ------------------------------------------------------------------ virtual environment
VENV="${PAR_VENV:-$ROOT/.venv}"
SYS_PY="$(command -v python3 || true)"
if [ -z "$SYS_PY" ]; then echo "install.sh: python3 not found (apt-get install python3)" >&2; exit 1; fi
if ! "$SYS_PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "install.sh: $("$SYS_PY" --version) is too old; PAR Studio needs Python >= 3.10" >&2; exit 1
fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  say "creating the virtual environment $VENV"
  "$SYS_PY" -m venv --clear "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install -q --disable-pip-version-check)

# ------------------------------------------------------------------ torch (CPU build first)
TORCH_SPEC="${PAR_TORCH_SPEC:-torch==2.13.0}"
TORCH_INDEX="${PAR_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
MODE="${PAR_TORCH:-cpu}"
have_torch() { "$PY" - "$TORCH_SPEC" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
req = Requirement(sys.argv[1])
sys.exit(0 if req.specifier.contains(version("torch").split("+")[0], prereleases=True) else 1)
EOF
}
index_answers() { "$PY" - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=5).close()
except Exception:
    sys.exit(1)
EOF
}
if [ "$MODE" = keep ] && "$PY" -c 'import torch' 2>/dev/null; then
  say "torch: keeping $("$PY" -c 'import torch; print(torch.__version__)')"
elif have_torch; then
  say "torch: $("$PY" -c 'import torch; print(torch.__version__)') already installed"
elif [ "$MODE" != default ] && [ "$(uname -s)" = Linux ] && index_answers "$TORCH_INDEX"; then
  say "torch: CPU build ($TORCH_SPEC) from $TORCH_INDEX"
  "${PIP[@]}" --index-url "$TORCH_INDEX" "$TORCH_SPEC"
else
  if [ "$MODE" != default ] && [ "$(uname -s)" = Linux ]; then
    say "torch: $TORCH_INDEX does not answer; installing $TORCH_SPEC from the configured index"
  else
    say "torch: $TORCH_SPEC"
  fi
  "${PIP[@]}" "$TORCH_SPEC"
fi

# ------------------------------------------------------------------ PAR Studio
if [ "$TEST" = 1 ]; then EXTRAS="test,midi-out,train"; else  # train: sfizz, so the sampled-piano tests run
  EXTRAS="midi-out"; fi
say "PAR Studio and its libraries (.[$EXTRAS]) into $VENV"
"${PIP[@]}" -e ".[$EXTRAS]"
"$PY" -c 'import par_studio.cli' || { echo "install.sh: the installed package does not import" >&2; exit 1; }

cat >&2 <<EOF

PAR Studio is installed in $VENV (torch $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null)).
Start the app again with:      $VENV/bin/par-studio [AUDIO]
Command line, e.g.:            $VENV/bin/par-studio transcribe song.wav -o song.mid
Or put it on your PATH:        ln -s $VENV/bin/par-studio ~/.local/bin/par-studio
EOF

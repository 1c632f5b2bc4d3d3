#!/usr/bin/env bash
# attnscope setup: installs the Debian 12 packages it needs (when missing), configures and
# builds, then runs what you asked for:
#   ./setup.sh demo     build and run the built-in demo (a 100 000-token map to PNG)
#   ./setup.sh test     build and run the test suite (ctest, validation layers on)
#   ./setup.sh build    only install and build
#   ./setup.sh python   pip install . : the Python package (import attnscope) into the active
#                       virtual environment, else into .venv
#   ./setup.sh capture-env  make .venv for tools/export_qk.py: Debian's python3-torch plus
#                       transformers and its helpers at the versions pinned (with hashes) in
#                       tools/requirements-capture.txt
#   ./setup.sh fuzz [SECONDS]  build the parsers' libFuzzer targets with clang (build-fuzz/)
#                       and run each for SECONDS (default 60) from tests/corpus
# Works without a GPU: Mesa's lavapipe is the Vulkan device then.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\n==> %s\n' "$*"; }

PACKAGES=(
  build-essential cmake pkg-config
  libvulkan-dev libvulkan-volk-dev libshaderc-dev glslang-dev spirv-tools
  libglfw3-dev libimgui-dev libstb-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libcpp-httplib-dev nodejs
  mesa-vulkan-drivers vulkan-validationlayers xvfb xauth fonts-dejavu-core
)

ACTION="${1:-build}"
# The capture tool and its tests run real transformers models on Debian's CPU build of PyTorch
# (about 80 MB; the CUDA wheels on PyPI are gigabytes), seen from a virtual environment, with
# OpenBLAS behind it: Debian's reference BLAS runs its matrix products ~15x slower.
# The Python package (python/, pip install .) builds against python3-dev; its tests decode PNGs
# with python3-pil and execute docs/attnscope.ipynb with python3-nbclient and python3-ipykernel.
PYTHON_PACKAGES=(python3-venv python3-dev python3-numpy python3-torch python3-yaml python3-requests libopenblas0-pthread
                 python3-pil python3-nbclient python3-ipykernel)
case "$ACTION" in
  test|capture-env|python) PACKAGES+=("${PYTHON_PACKAGES[@]}") ;;
  fuzz) PACKAGES+=(clang libclang-rt-14-dev) ;;
esac

# The browser client builds with npm (web/package-lock.json); Debian's nodejs comes without it.
# The browser test drives Debian's chromium.
if [ "$ACTION" = test ]; then PACKAGES+=(chromium); fi
missing=()
command -v npm >/dev/null || missing+=(npm)
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${#missing[@]} Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "all ${#PACKAGES[@]} Debian packages are installed"
fi

# Vulkan tools complain without a private runtime dir; give them one.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -w "${XDG_RUNTIME_DIR}" ]; then
  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/attnscope-xdg-$(id -u)"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi

JOBS=$(nproc 2>/dev/null || echo 2)

# .venv: Debian's python3 with its packages (torch, numpy) visible, plus the pinned ones: the
# capture tool's (tools/requirements-capture.txt) and the Python package's build backend and
# pytest (python/requirements-dev.txt). Remade only when one of them changes.
VENV="$PWD/.venv"
ensure_venv() {
  local want have=""
  want=$(cat tools/requirements-capture.txt python/requirements-dev.txt | sha256sum | cut -d' ' -f1)
  [ -f "$VENV/.attnscope-requirements" ] && have=$(cat "$VENV/.attnscope-requirements")
  if [ -x "$VENV/bin/python" ] && [ "$want" = "$have" ]; then
    say "Python environment .venv is up to date (transformers $("$VENV/bin/python" -c 'import transformers; print(transformers.__version__)' 2>/dev/null))"
    return
  fi
  say "making the Python environment .venv: Debian's python3-torch and python3-numpy, plus the versions pinned in tools/requirements-capture.txt and python/requirements-dev.txt (about 25 MB from PyPI)"
  rm -rf "$VENV"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
    -r tools/requirements-capture.txt -r python/requirements-dev.txt
  "$VENV/bin/python" -c 'import torch, transformers, tokenizers, safetensors, nanobind, scikit_build_core, pytest' \
    || { echo "setup.sh: .venv cannot import torch, transformers, nanobind and pytest" >&2; exit 1; }
  echo "$want" > "$VENV/.attnscope-requirements"
}

if [ "$ACTION" = fuzz ]; then
  SECS="${2:-60}"
  say "building the libFuzzer targets with clang (build-fuzz/)"
  cmake -S . -B build-fuzz -DATTNSCOPE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  cmake --build build-fuzz -j "$JOBS"
  say "fuzzing npy, safetensors and tokens parsers for ${SECS} s each, ${JOBS} at a time (logs in build-fuzz/)"
  status=0
  run_one() {
    local t=$1
    rm -rf "build-fuzz/crashes/$t"  # only this run's findings
    mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
    ./build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="build-fuzz/crashes/$t/" -print_final_stats=1 \
      "build-fuzz/corpus/$t" "tests/corpus/$t" >"build-fuzz/fuzz_$t.log" 2>&1
  }
  pids=()
  for t in npy safetensors tokens; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
    run_one "$t" & pids+=("$!:$t")
  done
  for p in "${pids[@]}"; do
    if wait "${p%%:*}"; then
      echo "fuzz_${p#*:}: no crash, leak or sanitizer report; $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/fuzz_${p#*:}.log" | grep -o '[0-9]*$') inputs"
    else
      echo "fuzz_${p#*:}: FAILED, see build-fuzz/fuzz_${p#*:}.log and build-fuzz/crashes/${p#*:}/" >&2
      status=1
    fi
  done
  exit $status
fi

if [ "$ACTION" = capture-env ]; then
  ensure_venv
  say "ready: .venv/bin/python tools/export_qk.py MODEL --text-file FILE --layers 0,-1 --out capture.safetensors"
  exit 0
fi
if [ "$ACTION" = python ]; then
  if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    PY="$VIRTUAL_ENV/bin/python"
  else
    ensure_venv
    PY="$VENV/bin/python"
  fi
  say "pip install . into $(dirname "$(dirname "$PY")") (builds the engine with CMake: about a minute on 2 cores)"
  "$PY" -m pip install --disable-pip-version-check .
  say "ready: $PY -c 'import attnscope; print(attnscope.devices())'  (example: docs/attnscope.ipynb)"
  exit 0
fi
CMAKE_ARGS=()
if [ "$ACTION" = test ]; then
  ensure_venv
  CMAKE_ARGS+=(-DATTNSCOPE_PYTHON="$VENV/bin/python")
fi

# The browser client's toolchain (TypeScript, and playwright-core for its test) at the versions
# web/package-lock.json pins; fetched again only when the lock file changes.
ensure_web_tools() {
  local want have=""
  want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  [ -f web/node_modules/.attnscope-lock ] && have=$(cat web/node_modules/.attnscope-lock)
  if [ "$want" = "$have" ]; then
    say "browser client toolchain is up to date (web/node_modules)"
    return
  fi
  say "installing the browser client's toolchain from web/package-lock.json (npm ci: TypeScript, playwright-core; about 10 MB)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > web/node_modules/.attnscope-lock
}
ensure_web_tools

say "configuring and building (build/, Release, $JOBS jobs)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${CMAKE_ARGS[@]}" >/dev/null
cmake --build build -j "$JOBS"

case "$ACTION" in
  demo)
    say "running the demo: build/app/attnscope demo"
    ./build/app/attnscope demo --out-dir attnscope-demo
    ;;
  test)
    say "running the tests on $(./build/app/attnscope info | sed -n 's/^chosen: //p') with validation layers on"
    ctest --test-dir build --output-on-failure -j "$JOBS"
    ;;
  build)
    say "built build/app/attnscope; try: ./build/app/attnscope --help"
    ;;
  *)
    echo "setup.sh: unknown action '$ACTION' (use demo, test, build, python, capture-env or fuzz)" >&2
    exit 2
    ;;
esac

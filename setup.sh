#!/usr/bin/env bash
# attnscope setup: installs the Debian 12 packages it needs (when missing), configures and
# builds, then runs what you asked for:
#   ./setup.sh demo     build and run the built-in demo (a 100 000-token map to PNG)
#   ./setup.sh test     build and run the test suite (ctest, validation layers on)
#   ./setup.sh build    only install and build
# Works without a GPU: Mesa's lavapipe is the Vulkan device then.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\n==> %s\n' "$*"; }

PACKAGES=(
  build-essential cmake pkg-config
  libvulkan-dev libvulkan-volk-dev libshaderc-dev glslc glslang-dev spirv-tools
  libglm-dev libglfw3-dev libimgui-dev libstb-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libbenchmark-dev
  mesa-vulkan-drivers vulkan-validationlayers vulkan-tools xvfb xauth fonts-dejavu-core
)

missing=()
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
say "configuring and building (build/, Release, $JOBS jobs)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$JOBS"

case "${1:-build}" in
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
    echo "setup.sh: unknown action '$1' (use demo, test or build)" >&2
    exit 2
    ;;
esac

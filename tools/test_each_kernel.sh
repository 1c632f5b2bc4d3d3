#!/usr/bin/env bash
# Runs the test suite once per block_stats variant the tuner may choose on this device, each
# forced everywhere with ATTNSCOPE_KERNEL, so that every candidate passes every test, not
# only the winner. The tests on the portable path (no subgroup shuffles) run the same
# variant with its keys through shared memory (a forced variant adapts to what the device
# can run), so the portable candidates are covered too. Validation stays on as in any test
# run. The Python capture tests do not run block_stats and are left out.
#
#   tools/test_each_kernel.sh [BUILD_DIR]     (default: build; ~80 s per variant on 2 cores)
#   ATTNSCOPE_EACH_KERNEL="r4.wg64.shuffle.c0 r16.wg64.shared.c0" tools/test_each_kernel.sh   (chosen ones)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
exe="$build/app/attnscope"
[ -x "$exe" ] || { echo "test_each_kernel: $exe is missing: build first (./setup.sh test)" >&2; exit 2; }
variants=${ATTNSCOPE_EACH_KERNEL:-$("$exe" tune --list)}
[ -n "$variants" ] || { echo "test_each_kernel: 'attnscope tune --list' listed no variants" >&2; exit 2; }
failed=()
count=$(echo $variants | wc -w)
i=0
for v in $variants; do
  i=$((i + 1))
  echo "== [$i/$count] ATTNSCOPE_KERNEL=block_stats=$v"
  if ! ATTNSCOPE_KERNEL="block_stats=$v" ctest --test-dir "$build" -j2 -E '^Capture\.' --output-on-failure >"$build/test-each-kernel-$v.log" 2>&1; then
    failed+=("$v")
    echo "   FAILED (see $build/test-each-kernel-$v.log)"
  else
    grep -E "tests passed" "$build/test-each-kernel-$v.log" | sed "s/^/   /"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "test_each_kernel: ${#failed[@]} of $count variants failed: ${failed[*]}" >&2
  exit 1
fi
echo "test_each_kernel: all $count variants passed every test"

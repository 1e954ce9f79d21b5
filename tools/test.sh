#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite twice: a normal build and an
# AddressSanitizer+UndefinedBehaviorSanitizer build. Exits non-zero if anything fails.
# Usage: tools/test.sh [--quick]   (--quick: skip the sanitizer build)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

tools/install-deps.sh

total_ok=0
total_fail=0

run_suite() {  # name, build dir, meson options...
  local name=$1 dir=$2; shift 2
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null
  fi
  echo "== build ($name)"
  ninja -C "$dir" >/dev/null
  echo "== test ($name)"
  local rc=0
  meson test -C "$dir" --print-errorlogs --num-processes 2 || rc=$?
  local ok fail
  ok=$(grep -E '^Ok:' "$dir/meson-logs/testlog.txt" | awk '{print $2}' | tail -1)
  fail=$(grep -E '^(Fail|Timeout|Unexpected Pass):' "$dir/meson-logs/testlog.txt" | awk '{s+=$NF} END {print s+0}')
  total_ok=$((total_ok + ${ok:-0}))
  total_fail=$((total_fail + ${fail:-0}))
  if [ $rc -ne 0 ] && [ "${fail:-0}" -eq 0 ]; then total_fail=$((total_fail + 1)); fi
}

run_suite normal build
if [ $quick -eq 0 ]; then
  run_suite "asan+ubsan" build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debug
fi

echo "$total_ok passed, $total_fail failed"
[ "$total_fail" -eq 0 ]

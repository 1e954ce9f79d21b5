#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (ASan+UBSan, the library instrumented with
# -fsanitize=fuzzer-no-link) and runs each one for a bounded time on its seed corpus.
#
# Usage: tools/fuzz.sh [--time SECONDS] [--jobs N] [--build-dir DIR] [TARGET...]
#   --time      seconds per target (default 25)
#   --jobs      targets run at once (default 2)
#   --build-dir default build-fuzz
#   TARGET      fuzz_header, fuzz_root, ... (default: all of them, see fuzz/meson.build)
#
# Seeds are read from fuzz/corpus/<target>/ (never written); inputs found during a run go to
# DIR/fuzz-work/<target>/ and are kept between runs, so repeated runs keep their progress. A
# crash, leak, UBSan report, timeout or broken invariant fails the target: the input is saved as
# DIR/fuzz-artifacts/<target>-crash-* (replay: DIR/fuzz/<target> FILE) and the log's tail is
# printed. Prints one line per target and ends with "fuzz: N passed, M failed"; exits 1 if any
# target failed.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=25
jobs=2
dir=build-fuzz
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) secs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --build-dir) dir=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n "s/^ *'\(fuzz_[a-z_]*\)',\$/\1/p" fuzz/meson.build)
fi

for tool in clang-14 clang++-14; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool missing (tools/install-deps.sh)" >&2; exit 2; }
done
if [ ! -f "$dir/build.ninja" ]; then
  # werror off: clang warns about things g++ does not (the g++ builds keep -Werror).
  CC=clang-14 CXX=clang++-14 meson setup "$dir" -Dfuzzing=true \
    -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
    -Dcpp_args=-fsanitize=fuzzer-no-link -Dwerror=false -De2e=disabled >/dev/null
fi
echo "== build (fuzz, clang)"
ninja -C "$dir" "${targets[@]/#/fuzz/}" >/dev/null

mkdir -p "$dir/fuzz-work" "$dir/fuzz-artifacts" "$dir/fuzz-logs"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1

run_one() {  # target -> exit status 0 pass, 1 fail; writes $dir/fuzz-logs/<target>.log
  local t=$1
  mkdir -p "$dir/fuzz-work/$t"
  local rc=0
  "$dir/fuzz/$t" -max_total_time="$secs" -timeout=60 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$dir/fuzz-artifacts/$t-" "$dir/fuzz-work/$t" "fuzz/corpus/$t" \
    >"$dir/fuzz-logs/$t.log" 2>&1 || rc=$?
  return $rc
}

declare -A pid_of
ok=0
fail=0
report() {  # target rc
  local t=$1 rc=$2 log="$dir/fuzz-logs/$1.log"
  local execs cov
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  if [ "$rc" -eq 0 ]; then
    ok=$((ok + 1))
    echo "$t: ok (${execs:-?} execs, ${cov:-no coverage line}, ${secs}s)"
  else
    fail=$((fail + 1))
    echo "$t: FAILED (exit $rc, ${execs:-?} execs); log $log:"
    grep -E 'INVARIANT|ERROR|SUMMARY|runtime error|Test unit written|artifact' "$log" | head -20 \
      | sed 's/^/    /' || true
  fi
}

echo "== fuzz (${#targets[@]} targets, ${secs}s each, $jobs at a time)"
running=0
for t in "${targets[@]}"; do
  if [ ! -x "$dir/fuzz/$t" ]; then echo "$t: no such target" >&2; fail=$((fail + 1)); continue; fi
  run_one "$t" &
  pid_of[$!]=$t
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    rc=0
    wait -n -p done_pid "${!pid_of[@]}" || rc=$?
    report "${pid_of[$done_pid]}" "$rc"
    unset "pid_of[$done_pid]"
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  rc=0
  wait -n -p done_pid "${!pid_of[@]}" || rc=$?
  report "${pid_of[$done_pid]}" "$rc"
  unset "pid_of[$done_pid]"
  running=$((running - 1))
done

echo "fuzz: $ok passed, $fail failed"
[ "$fail" -eq 0 ]

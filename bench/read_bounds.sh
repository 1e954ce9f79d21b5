#!/usr/bin/env bash
# bench/read_bounds.sh: how far random 4 KiB reads (fio rnd-read-4k, iodepth 32, through a loop
# device with --direct-io=on) depend on the host page cache, and what a FUSE disk that keeps its
# data in host files the way ours does could reach (needs root, /dev/fuse and loop devices; a
# benchmark, not a test; about a minute). See docs/bench/tuning.md, round 5.
#
#   bench/read_bounds.sh [--build DIR] [--dir DIR]
#
# Each target gets a 1 GiB image, written in full (fio prefill), then:
#   cold  rnd-read-4k at once: segments written with O_DIRECT are not in the page cache, so
#         reads reach the host device;
#   warm  rnd-read-4k again after one sequential pass over the whole image (dd, 1 MiB direct
#         reads) has pulled every block into the page cache; the suite, too, runs its random
#         reads after its sequential ones.
# Targets:
#   memfs        bench/memfs_fuse, the suite's FUSE ceiling (memory; cold = warm)
#   passthrough  bench/memfs_fuse --backing: FUSE plus a host file written with O_DIRECT and
#                read with buffered pread into a buffer, as our host store does; no crypto,
#                no index, no engine
#   raw          the host file itself through the loop device (always O_DIRECT: cold = warm)
#   jindisk      bench's build of jindisk-fuse
# Output: a Markdown table of MiB/s, busy CPU of the whole machine per request (/proc/stat),
# and the ratio to memfs.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${JINDISK_BUILD:-$REPO/build}
DIR=/var/tmp
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }
while (( $# )); do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "read_bounds.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $EUID -eq 0 ]] || { echo "read_bounds.sh: needs root (loop devices)" >&2; exit 1; }
MEMFS=$BUILD/bench/memfs_fuse
DAEMON=$BUILD/fusefs/jindisk-fuse
for p in "$MEMFS" "$DAEMON"; do
  [[ -x $p ]] || { echo "read_bounds.sh: $p missing: ninja -C $BUILD first" >&2; exit 1; }
done
for t in fio python3 losetup fusermount3; do
  command -v $t > /dev/null || { echo "read_bounds.sh: $t not found" >&2; exit 1; }
done
FIOJOBS=$REPO/bench/fio/workloads.fio

T=$(mktemp -d "$DIR/read_bounds.XXXXXX")
LOOPDEV=""
DAEMON_PID=""
# detach: the loop device and the FUSE mount of the current target, if any.
detach() {
  [[ -n $LOOPDEV ]] && { losetup -d "$LOOPDEV" 2> /dev/null || true; }
  LOOPDEV=""
  if mountpoint -q "$T/mnt" 2> /dev/null; then
    fusermount3 -u "$T/mnt" 2> /dev/null || umount -l "$T/mnt"
  fi
  [[ -n $DAEMON_PID ]] && { wait "$DAEMON_PID" 2> /dev/null || true; }
  DAEMON_PID=""
  rm -rf "${T:?}/mnt" "${T:?}/host"
}
cleanup() { detach; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap '' PIPE

busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
export DIRECT=1 SIZE=$((1 << 30)) QD=32 RUNTIME=4 RAMP=0 SCALE_BYTES=0 SCALE_RUNTIME=0
# job TARGET STATE SECTION: runs one fio section on $LOOPDEV; for rnd-read-4k, appends
# "TARGET STATE MiB/s busy_us_per_request" to $T/results.
job() {
  local b0 b1
  b0=$(busy_ticks)
  TARGET=$LOOPDEV fio --section="$3" --output-format=json --output="$T/out.json" "$FIOJOBS"
  b1=$(busy_ticks)
  [[ $3 == rnd-read-4k ]] || return 0
  python3 - "$1" "$2" "$b0" "$b1" "$(getconf CLK_TCK)" "$T/out.json" >> "$T/results" << 'EOF'
import json, sys
target, state, b0, b1, hz, path = sys.argv[1:3] + [int(v) for v in sys.argv[3:6]] + [sys.argv[6]]
read = json.load(open(path))['jobs'][0]['read']
print(target, state, read['bw'] / 1024, (b1 - b0) / hz / read['total_ios'] * 1e6)
EOF
}

# attach TARGET: mounts or creates TARGET's image under $T and attaches it to $LOOPDEV.
attach() {
  local image=$T/mnt/disk.img
  mkdir -p "$T/mnt" "$T/host"
  case $1 in
    memfs) "$MEMFS" --size 1G "$T/mnt" ;;
    passthrough) "$MEMFS" --size 1G --backing "$T/host/backing" "$T/mnt" ;;
    raw) image=$T/host/raw; truncate -s 1G "$image" ;;
    jindisk)
      head -c 32 /dev/urandom > "$T/key"
      "$DAEMON" -f --key-file "$T/key" --anchor "$T/anchor" --size 1G "$T/host" "$T/mnt" \
        2> "$T/daemon.log" &
      DAEMON_PID=$!
      for _ in $(seq 100); do [[ -e $image ]] && break; sleep 0.1; done
      if [[ ! -e $image ]]; then
        echo "read_bounds.sh: jindisk-fuse did not mount:" >&2
        cat "$T/daemon.log" >&2
        kill "$DAEMON_PID" 2> /dev/null || true
        exit 1
      fi
      ;;
  esac
  LOOPDEV=$(losetup --direct-io=on -f --show "$image")
}

echo "read_bounds.sh: 4 targets, about a minute" >&2
for target in memfs passthrough raw jindisk; do
  attach "$target"
  job "$target" prefill prefill
  job "$target" cold rnd-read-4k
  dd if="$LOOPDEV" of=/dev/null bs=1M iflag=direct status=none
  job "$target" warm rnd-read-4k
  detach
done

python3 - "$T/results" << 'EOF'
import sys
rows = [line.split() for line in open(sys.argv[1])]
res = {(t, s): (float(mib), float(us)) for t, s, mib, us in rows}
print("| target | cold MiB/s | cold µs CPU/request | warm MiB/s | warm µs CPU/request | cold / memfs | warm / memfs |")
print("|---|---|---|---|---|---|---|")
ceiling = max(res[('memfs', 'cold')][0], res[('memfs', 'warm')][0])
for t in ('memfs', 'passthrough', 'raw', 'jindisk'):
    (cm, cu), (wm, wu) = res[(t, 'cold')], res[(t, 'warm')]
    print(f"| {t} | {cm:.0f} | {cu:.1f} | {wm:.0f} | {wu:.1f} | {cm / ceiling:.2f}x | {wm / ceiling:.2f}x |")
print(f"\nmemfs: the better of its two runs ({ceiling:.0f} MiB/s) is the ceiling for the ratios.")
EOF

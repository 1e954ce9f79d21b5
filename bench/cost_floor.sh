#!/usr/bin/env bash
# bench/cost_floor.sh: the least CPU any FUSE disk that encrypts every block must spend on this
# machine, and the speed that leaves at most (needs root, /dev/fuse and loop devices; a
# benchmark, not a test). Used to tell the suite's missed targets that no implementation could
# meet here from those that ours merely misses (docs/bench/tuning.md, round 4).
#
#   bench/cost_floor.sh [--build DIR] [--dir DIR] [--runs N]
#
# Three costs are measured on their own, as busy CPU time of the whole machine (/proc/stat:
# user+nice+system+irq+softirq) divided by the work fio reports:
#   transport  fio through a loop device (--direct-io=on) on bench/memfs_fuse, the suite's FUSE
#              ceiling: seq-write 1M, seq-read 1M and rnd-read 4K at iodepth 32. memfs copies
#              each written byte once into memory, as our write buffer does.
#   host       1 MiB O_DIRECT writes filling new 4 MiB files (how a drain writes segments);
#              1 MiB and 4 KiB reads of a file in the page cache (how reads reach segments).
#   AEAD       bench/aead_ceiling: AES-256-GCM seal and open of 4 KiB blocks, per core.
# Each cost is the lowest of --runs runs (default 2), so the speeds derived from them are upper
# bounds: a floor of CPU per unit of work, spread perfectly over every core, with nothing else
# (no index, no locks, no waiting) added.
# Output: a Markdown table of the costs, then the bounds next to the suite's targets.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${JINDISK_BUILD:-$REPO/build}
DIR=/var/tmp
RUNS=2
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
while (( $# )); do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "cost_floor.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $EUID -eq 0 ]] || { echo "cost_floor.sh: needs root (loop devices)" >&2; exit 1; }
MEMFS=$BUILD/bench/memfs_fuse
AEAD=$BUILD/bench/aead_ceiling
for p in "$MEMFS" "$AEAD"; do
  [[ -x $p ]] || { echo "cost_floor.sh: $p missing: ninja -C $BUILD first" >&2; exit 1; }
done
for t in fio python3 losetup; do
  command -v $t > /dev/null || { echo "cost_floor.sh: $t not found" >&2; exit 1; }
done
CORES=$(nproc)
FIOJOBS=$REPO/bench/fio/workloads.fio

T=$(mktemp -d "$DIR/cost_floor.XXXXXX")
LOOPDEV=""
cleanup() {
  [[ -n $LOOPDEV ]] && losetup -d "$LOOPDEV" 2> /dev/null || true
  if mountpoint -q "$T/mnt" 2> /dev/null; then fusermount3 -u "$T/mnt" 2> /dev/null || umount -l "$T/mnt"; fi
  rm -rf "$T"
}
trap cleanup EXIT
trap '' PIPE

busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
# measure NAME CMD...: runs CMD (which writes fio JSON to $T/out.json) and appends
# "NAME busy_cpu_s bytes ios iops" to $T/costs.
measure() {
  local name=$1; shift
  local b0 b1
  b0=$(busy_ticks)
  "$@" > /dev/null
  b1=$(busy_ticks)
  python3 - "$name" "$b0" "$b1" "$(getconf CLK_TCK)" "$T/out.json" >> "$T/costs" << 'EOF'
import json, sys
name, b0, b1, hz, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
jobs = json.load(open(path))['jobs']
nbytes = sum(j[d]['io_bytes'] for j in jobs for d in ('read', 'write'))
ios = sum(j[d]['total_ios'] for j in jobs for d in ('read', 'write'))
iops = sum(j[d]['iops'] for j in jobs for d in ('read', 'write'))
print(name, (b1 - b0) / hz, nbytes, ios, iops)
EOF
}

echo "cost_floor.sh: measuring ($RUNS runs each, about $(( RUNS * 30 + 10 )) s)" >&2
mkdir -p "$T/mnt"
"$MEMFS" --size 1G "$T/mnt"
LOOPDEV=$(losetup --direct-io=on -f --show "$T/mnt/disk.img")
export TARGET=$LOOPDEV DIRECT=1 SIZE=$((1 << 30)) QD=32 RUNTIME=4 RAMP=0 SCALE_BYTES=0 SCALE_RUNTIME=0
fio --section=prefill --output-format=json "$FIOJOBS" > /dev/null
for (( r = 0; r < RUNS; r++ )); do
  for job in seq-write seq-read rnd-read-4k; do
    measure "transport-$job" fio --section=$job --output-format=json --output="$T/out.json" "$FIOJOBS"
  done
done
losetup -d "$LOOPDEV"; LOOPDEV=""
fusermount3 -u "$T/mnt"

mkdir -p "$T/host"
head -c $((1 << 30)) /dev/urandom > "$T/cached.dat"
cat "$T/cached.dat" > /dev/null
for (( r = 0; r < RUNS; r++ )); do
  rm -f "$T"/host/f.*
  measure host-write-1m fio --name=w --directory="$T/host" --filename_format='f.$filenum' \
    --nrfiles=512 --filesize=4m --bs=1m --rw=write --direct=1 --ioengine=psync \
    --file_service_type=sequential --output-format=json --output="$T/out.json"
  measure host-read-1m fio --name=r --filename="$T/cached.dat" --invalidate=0 --bs=1m --rw=read \
    --ioengine=psync --numjobs="$CORES" --time_based --runtime=3 --output-format=json --output="$T/out.json"
  measure host-read-4k fio --name=r --filename="$T/cached.dat" --invalidate=0 --bs=4k --rw=randread \
    --ioengine=psync --numjobs="$CORES" --time_based --runtime=3 --output-format=json --output="$T/out.json"
done
"$AEAD" --seconds 2 > "$T/aead.txt"

python3 - "$T/costs" "$T/aead.txt" "$CORES" << 'EOF'
import sys
costs_path, aead_path, cores = sys.argv[1], sys.argv[2], int(sys.argv[3])
GiB = 1 << 30
best = {}
for line in open(costs_path):
    name, cpu, nbytes, ios, iops = line.split()
    cpu, nbytes, ios, iops = float(cpu), int(nbytes), int(ios), float(iops)
    per_gib, per_io_us = cpu / (nbytes / GiB), cpu / ios * 1e6
    old = best.get(name)
    if old is None or per_gib < old[0]:
        best[name] = (per_gib, per_io_us, iops)
ceil = {}
for line in open(aead_path):
    f = line.split()
    if len(f) == 5 and f[0] == 'ceiling' and f[2] == 'aes256gcm':
        ceil[f[1]] = max(float(f[3]), float(f[4]))  # MiB/s on all cores, as the suite takes it
seal_gib = cores * 1024 / ceil['seal']   # CPU-seconds per GiB, one core's share
open_gib = cores * 1024 / ceil['open']
open_4k_us = open_gib / (GiB / 4096) * 1e6

print(f"## Costs on this machine ({cores} cores; lowest of the runs)\n")
print("| cost | CPU-s per GiB | µs per request |")
print("|---|---|---|")
for name in ('transport-seq-write', 'transport-seq-read', 'transport-rnd-read-4k',
             'host-write-1m', 'host-read-1m', 'host-read-4k'):
    g, u, _ = best[name]
    print(f"| {name} | {g:.3f} | {u:.2f} |")
print(f"| AES-256-GCM seal (aead_ceiling, {ceil['seal']:.0f} MiB/s on {cores} cores) | {seal_gib:.3f} | |")
print(f"| AES-256-GCM open (aead_ceiling, {ceil['open']:.0f} MiB/s on {cores} cores) | {open_gib:.3f} | {open_4k_us:.2f} per 4 KiB |")

def bound(per_gib):
    return cores * 1024 / per_gib  # MiB/s with every core busy on nothing else

w = best['transport-seq-write'][0] + best['host-write-1m'][0] + seal_gib
r = best['transport-seq-read'][0] + best['host-read-1m'][0] + open_gib
q_us = best['transport-rnd-read-4k'][1] + best['host-read-4k'][1] + open_4k_us
ceiling_iops = best['transport-rnd-read-4k'][2]  # what the FUSE ceiling itself delivered
print("\n## Bounds\n")
print("| workload | floor | at most | target | verdict |")
print("|---|---|---|---|---|")
for label, per_gib, target_label, target in (
        ("seq-write 1M", w, "0.5x the sealing ceiling", 0.5 * ceil['seal']),
        ("seq-read 1M", r, "0.5x the opening ceiling", 0.5 * ceil['open'])):
    most = bound(per_gib)
    verdict = "out of reach" if most < target else "within reach"
    print(f"| {label} | {per_gib:.3f} CPU-s/GiB | {most:.0f} MiB/s | {target_label}: {target:.0f} MiB/s | {verdict} |")
most_iops = cores / (q_us * 1e-6)
verdict = "out of reach" if most_iops < 0.6 * ceiling_iops else "within reach"
print(f"| rnd-read 4K | {q_us:.1f} µs/request | {most_iops / 1000:.1f}k IOPS = "
      f"{most_iops / ceiling_iops:.2f}x the FUSE ceiling's {ceiling_iops / 1000:.1f}k | 0.6x | {verdict} |")
EOF

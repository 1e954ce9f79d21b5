#!/usr/bin/env bash
# bench/suite.sh: the benchmark suite of jindisk-fuse, in one command (needs root, /dev/fuse and
# loop devices; not part of the test suite).
#
#   bench/suite.sh [--quick] [--build DIR] [--bench-build DIR] [--no-build] [--no-install]
#                  [--no-scale] [--docs DIR] [--raw DIR] [--size BYTES] [--runtime S]
#
# What it runs, all in one go, so that ratios come from one run on one machine:
#  1. The seeds' eight fio workloads (seq-write 1M, rnd-write 4K/32K/256K, seq-read 1M, rnd-read
#     4K/32K/256K; bench/fio/workloads.fio) at iodepth 1 and 32, with direct I/O, against:
#       jindisk       our disk.img through `losetup --direct-io=on`
#       fuse-ceiling  an in-memory file served by bench/memfs_fuse (fusefs/'s FUSE settings),
#                     through its own loop device
#       raw-file      a plain host file through a loop device
#       dm-crypt      cryptsetup plain aes-xts-plain64 over a loop device, if the kernel has
#                     device-mapper (else the output says why it did not run)
#       gocryptfs, securefs   one big file inside them (Debian packages)
#       qemu-luks     a QEMU LUKS image exported by `qemu-storage-daemon --export fuse`, through a
#                     loop device
#     Each job runs on every target in turn, the first target rotating from job to job, so that
#     drift in the machine's load spreads evenly.
#  2. The AEAD ceiling on all cores (bench/aead_ceiling).
#  3. 4K random writes with an fsync after each (fio fsync=1): jindisk, gocryptfs, the raw file
#     and the FUSE ceiling; and what one durable 4 KiB write costs on the host (bench/sync_cost).
#  4. Scale: a fresh 1 TiB jindisk disk at the default cache gets 16 GiB through the daemon and
#     a loop device (capped at 150 s, so that a slow build still finishes; the report says how
#     much was written); peak RSS of the daemon, its CPU seconds per GiB written, then kill -9
#     and the time to open (and mount) again.
# Output: docs/bench/results.md and docs/bench/chart.png; raw fio JSON and logs in bench/out/
# (git-ignored).
#
# Options:
#   --quick            a smoke run (~4 min): 256 MiB region, 1 s per job, 1 GiB in the scale test
#   --build DIR        where jindisk-fuse is (DIR/fusefs/jindisk-fuse); default: env
#                      JINDISK_BUILD, else the repository's build/
#   --bench-build DIR  where memfs_fuse and aead_ceiling are (DIR/bench/...); default: --build
#   --no-build         do not run ninja in the build dirs first (default: bring the four
#                      programs up to date, and stop if that fails)
#   --no-install       do not apt-get the peers (those missing are then reported as not run)
#   --no-scale         skip the scale test (4.)
#   --docs DIR         where results.md and chart.png go (default: docs/bench; with --quick,
#                      the run's folder under --raw, so a smoke run never overwrites the results)
#   --raw DIR          where raw fio JSON and logs go (default: bench/out)
#   --size BYTES       region per target (default 1G; suffix K/M/G)
#   --runtime S        measured seconds per job (default 4, plus 1 s ramp)
# Our disk is unlocked with a random 32-byte key file: no Argon2id at open (the KDF does not
# touch the I/O path). gocryptfs and securefs get their cheapest KDF settings for the same reason.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMMAND="bench/suite.sh${*:+ $*}"
BUILD=${JINDISK_BUILD:-$REPO/build}
BENCH_BUILD=""
QUICK=0
DO_BUILD=1
DO_INSTALL=1
DO_SCALE=1
DOCS=""
RAW=$REPO/bench/out
SIZE_ARG=""
RUNTIME_ARG=""

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) QUICK=1 ;;
    --build) BUILD=$(realpath "$2"); shift ;;
    --bench-build) BENCH_BUILD=$(realpath "$2"); shift ;;
    --no-build) DO_BUILD=0 ;;
    --no-install) DO_INSTALL=0 ;;
    --no-scale) DO_SCALE=0 ;;
    --docs) DOCS=$(realpath -m "$2"); shift ;;
    --raw) RAW=$(realpath -m "$2"); shift ;;
    --size) SIZE_ARG=$2; shift ;;
    --runtime) RUNTIME_ARG=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "suite.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
BENCH_BUILD=${BENCH_BUILD:-$BUILD}

to_bytes() {
  local v=$1
  case $v in
    *[kK]) echo $(( ${v%?} << 10 )) ;;
    *[mM]) echo $(( ${v%?} << 20 )) ;;
    *[gG]) echo $(( ${v%?} << 30 )) ;;
    *[tT]) echo $(( ${v%?} << 40 )) ;;
    *) echo "$v" ;;
  esac
}

if (( QUICK )); then
  SIZE=$(to_bytes "${SIZE_ARG:-256M}"); RUNTIME=${RUNTIME_ARG:-1}; RAMP=0; SCALE_GIB=1; SCALE_CAP=60; FSYNC_RUNTIME=2
else
  SIZE=$(to_bytes "${SIZE_ARG:-1G}"); RUNTIME=${RUNTIME_ARG:-4}; RAMP=1; SCALE_GIB=16; SCALE_CAP=150; FSYNC_RUNTIME=5
fi
SCALE_DISK=1T

JFUSE=$BUILD/fusefs/jindisk-fuse
MEMFS=$BENCH_BUILD/bench/memfs_fuse
AEAD=$BENCH_BUILD/bench/aead_ceiling
SYNCCOST=$BENCH_BUILD/bench/sync_cost
FIOJOBS=$REPO/bench/fio/workloads.fio
WORKLOADS=(seq-write rnd-write-4k rnd-write-32k rnd-write-256k seq-read rnd-read-4k rnd-read-32k rnd-read-256k)
QDS=(1 32)

log() { printf '[suite %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (loop devices, mounts, apt-get)"
[[ -c /dev/fuse ]] || die "no /dev/fuse"

# ---------------------------------------------------------------- binaries and packages
if (( DO_BUILD )); then
  [[ -f $BUILD/build.ninja ]] || die "$BUILD is not a meson build dir (meson setup $BUILD, or --build DIR)"
  log "bringing the programs up to date (ninja -C $BUILD / $BENCH_BUILD)"
  if [[ $BUILD == "$BENCH_BUILD" ]]; then
    ninja -C "$BUILD" fusefs/jindisk-fuse bench/memfs_fuse bench/aead_ceiling bench/sync_cost >&2 || die "build failed"
  else
    ninja -C "$BUILD" fusefs/jindisk-fuse >&2 || die "build of jindisk-fuse failed"
    ninja -C "$BENCH_BUILD" bench/memfs_fuse bench/aead_ceiling bench/sync_cost >&2 || die "build of bench programs failed"
  fi
fi
for b in "$JFUSE" "$MEMFS" "$AEAD" "$SYNCCOST"; do [[ -x $b ]] || die "missing $b (build it, or see --build/--bench-build)"; done

# Debian packages: the tools the suite drives, and the peers. Only missing ones are installed.
PKGS=(fio gocryptfs securefs qemu-utils qemu-system-common qemu-block-extra cryptsetup-bin fuse3 gnuplot-nox python3 util-linux)
if (( DO_INSTALL )); then
  missing=()
  for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  if (( ${#missing[@]} )); then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || log "apt-get update failed; trying the install anyway"
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >&2 || log "apt-get install failed; missing peers are reported as not run"
  fi
fi
command -v fio >/dev/null || die "fio is missing"
command -v python3 >/dev/null || die "python3 is missing (for the report)"

# ---------------------------------------------------------------- state and cleanup
T=$(mktemp -d /var/tmp/jindisk-bench.XXXXXX)
RUN=$RAW/run-$(date +%Y%m%d-%H%M%S)
if [[ -z $DOCS ]]; then
  if (( QUICK )); then DOCS=$RUN/docs; else DOCS=$REPO/docs/bench; fi
fi
mkdir -p "$RAW" "$DOCS"
mkdir -p "$RUN/fio"
META=$RUN/meta.tsv
: > "$META"
meta() { printf '%s\t%s\n' "$1" "$2" >> "$META"; }
LOOPS=()      # loop devices we attached
MOUNTS=()     # FUSE mountpoints we mounted
PIDS=()       # daemons we started (foreground ones) or whose pid files we hold
DMNAMES=()    # device-mapper names we opened

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  for d in "${LOOPS[@]}"; do losetup -d "$d" 2>/dev/null; done
  for n in "${DMNAMES[@]}"; do cryptsetup close "$n" 2>/dev/null; done
  for d in "${LOOPS[@]}"; do losetup -d "$d" 2>/dev/null; done  # those under a dm device
  [[ -n $QSD_PID ]] && kill "$QSD_PID" 2>/dev/null
  for m in "${MOUNTS[@]}"; do
    mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
  done
  # Our daemons make their final commit on unmount; give them a moment, then insist.
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
  done
  rm -rf "$T"
  (( rc == 0 )) || log "stopped with status $rc; everything mounted or attached was cleaned up"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

LOOPDEV=""
attach_loop() {  # FILE -> sets LOOPDEV (not a $(...) call: LOOPS must grow in this shell)
  LOOPDEV=$(losetup --direct-io=on -f --show "$1") || return 1
  LOOPS+=("$LOOPDEV")
  # --direct-io=on silently falls back to buffered when the backing file refuses O_DIRECT.
  [[ $(cat "/sys/block/${LOOPDEV#/dev/}/loop/dio" 2>/dev/null) == 1 ]] || log "warning: $LOOPDEV over $1 runs without direct I/O"
}
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
detach_loop() {
  losetup -d "$1" 2>/dev/null || true
  local keep=() d
  for d in "${LOOPS[@]}"; do [[ $d == "$1" ]] || keep+=("$d"); done
  LOOPS=("${keep[@]}")
}
wait_for_file() {  # PATH TIMEOUT_S
  local i
  for (( i = 0; i < $2 * 50; i++ )); do [[ -e $1 ]] && return 0; sleep 0.02; done
  return 1
}
unmount_fuse() { fusermount3 -u "$1" 2>/dev/null || fusermount3 -uz "$1" 2>/dev/null || true; }

# ---------------------------------------------------------------- machine facts
START_EPOCH=$(date +%s)
meta command "$COMMAND"
meta started "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
meta load_start "$(uptime | sed 's/.*load average: //')"
meta cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
meta cores "$(nproc)"
meta memory "$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
meta kernel "$(uname -r)"
meta host_fs "$(df -T "$T" | awk 'NR==2 {print $2 " on " $1}')"
meta fio "$(fio --version)"
meta jindisk_fuse "$JFUSE ($("$JFUSE" --version 2>&1 | head -1), built $(date -u -r "$JFUSE" '+%Y-%m-%d %H:%M UTC'))"
meta git "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD -- src fusefs include 2>/dev/null || echo ' + uncommitted changes in src/fusefs/include')"
for p in gocryptfs securefs qemu-system-common cryptsetup-bin fuse3 libfuse3-3 libsodium23 gnuplot-nox; do
  meta "pkg_$p" "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo 'not installed')"
done
meta size "$SIZE"
meta runtime "$RUNTIME"
meta ramp "$RAMP"
meta quick "$QUICK"
log "temp dir $T, raw results in $RUN"

# ---------------------------------------------------------------- targets
# Each target: TKIND[name] = dev|file, TPATH[name] = block device or file, TDIRECT[name] = 1|0.
declare -A TPATH TDIRECT NOTRUN
TARGETS=()
add_target() { TARGETS+=("$1"); TPATH[$1]=$2; TDIRECT[$1]=$3; }
not_run() { NOTRUN[$1]=$2; meta "notrun_$1" "$2"; log "$1 not run: $2"; }

OURS_PID=""
setup_jindisk() {
  mkdir -p "$T/jd.sec" "$T/jd.mnt"
  head -c 32 /dev/urandom > "$T/jd.key"
  "$JFUSE" -f --key-file "$T/jd.key" --anchor "$T/jd.anchor" --size "$SIZE" "$T/jd.sec" "$T/jd.mnt" \
    2> "$RUN/jindisk-fuse.log" &
  OURS_PID=$!
  PIDS+=("$OURS_PID")
  MOUNTS+=("$T/jd.mnt")
  wait_for_file "$T/jd.mnt/disk.img" 30 || { tail -5 "$RUN/jindisk-fuse.log" >&2; return 1; }
  attach_loop "$T/jd.mnt/disk.img" || return 1
  add_target jindisk "$LOOPDEV" 1
}

setup_ceiling() {
  mkdir -p "$T/mem.mnt"
  "$MEMFS" --size "$SIZE" "$T/mem.mnt" || return 1
  MOUNTS+=("$T/mem.mnt")
  attach_loop "$T/mem.mnt/disk.img" || return 1
  add_target fuse-ceiling "$LOOPDEV" 1
}

setup_raw() {
  truncate -s "$SIZE" "$T/raw.img"
  attach_loop "$T/raw.img" || return 1
  add_target raw-file "$LOOPDEV" 1
}

setup_dmcrypt() {
  local why=""
  grep -qw device-mapper /proc/misc 2>/dev/null || { modprobe dm-crypt 2>/dev/null || true; }
  if ! grep -qw device-mapper /proc/misc 2>/dev/null; then
    why="this kernel ($(uname -r)) has no device-mapper: none in /proc/misc"
    [[ -e /dev/mapper/control ]] || why+=", no /dev/mapper/control"
    local v
    v=$(dmsetup version 2>&1 | grep -m1 -iE 'fail|no such|driver' || true)
    [[ -n $v ]] && why+=", dmsetup version: \"$v\""
    not_run dm-crypt "$why"
    return 0
  fi
  command -v cryptsetup >/dev/null || { not_run dm-crypt "cryptsetup is not installed"; return 0; }
  truncate -s "$SIZE" "$T/dm.img"
  local dev name=jdbench-$$
  attach_loop "$T/dm.img" || { not_run dm-crypt "cannot attach a loop device"; return 0; }
  dev=$LOOPDEV
  head -c 64 /dev/urandom > "$T/dm.key"
  if ! cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 --key-file "$T/dm.key" "$dev" "$name" 2> "$RUN/dmcrypt.log"; then
    not_run dm-crypt "cryptsetup open failed: $(tail -1 "$RUN/dmcrypt.log")"
    return 0
  fi
  DMNAMES+=("$name")
  meta dmcrypt_cipher "plain, aes-xts-plain64, 512-bit key"
  add_target dm-crypt "/dev/mapper/$name" 1
}

setup_gocryptfs() {
  command -v gocryptfs >/dev/null || { not_run gocryptfs "gocryptfs is not installed"; return 0; }
  mkdir -p "$T/gc.cipher" "$T/gc.mnt"
  echo benchpass > "$T/gc.pass"
  gocryptfs -init -q -passfile "$T/gc.pass" -scryptn 10 "$T/gc.cipher" > /dev/null 2>&1 || { not_run gocryptfs "gocryptfs -init failed"; return 0; }
  gocryptfs -q -passfile "$T/gc.pass" "$T/gc.cipher" "$T/gc.mnt" > "$RUN/gocryptfs.log" 2>&1 || { not_run gocryptfs "mount failed"; return 0; }
  MOUNTS+=("$T/gc.mnt")
  meta gocryptfs_version "$(gocryptfs -version 2>/dev/null | head -1)"
  add_target gocryptfs "$T/gc.mnt/big" 1
}

setup_securefs() {
  command -v securefs >/dev/null || { not_run securefs "securefs is not installed"; return 0; }
  mkdir -p "$T/sf.cipher" "$T/sf.mnt"
  securefs create --format 4 -r 1 --pbkdf pkcs5-pbkdf2-hmac-sha256 --pass benchpass "$T/sf.cipher" > "$RUN/securefs.log" 2>&1 \
    || { not_run securefs "securefs create failed"; return 0; }
  # securefs refuses O_DIRECT (EINVAL at open). Mounted with FUSE's direct_io, it sees every
  # read and write, without the page cache: the same path the others get from O_DIRECT.
  securefs mount -b -o direct_io --pass benchpass "$T/sf.cipher" "$T/sf.mnt" >> "$RUN/securefs.log" 2>&1 \
    || { not_run securefs "securefs mount failed"; return 0; }
  MOUNTS+=("$T/sf.mnt")
  local i; for (( i = 0; i < 100; i++ )); do mountpoint -q "$T/sf.mnt" && break; sleep 0.05; done
  meta securefs_mode "format 4 (lite), mounted -o direct_io, fio without O_DIRECT (securefs refuses it)"
  add_target securefs "$T/sf.mnt/big" 0
}

QSD_PIDFILE=""
QSD_PID=""
setup_qemu_luks() {
  command -v qemu-storage-daemon >/dev/null || { not_run qemu-luks "qemu-storage-daemon is not installed"; return 0; }
  mkdir -p "$T/q"
  qemu-img create -q -f luks --object secret,id=sec0,data=benchpass -o key-secret=sec0,iter-time=10 \
    "$T/q/luks.img" "$SIZE" > "$RUN/qemu.log" 2>&1 || { not_run qemu-luks "qemu-img create -f luks failed"; return 0; }
  touch "$T/q/export.raw"
  QSD_PIDFILE=$T/q/qsd.pid
  if ! qemu-storage-daemon --daemonize --pidfile "$QSD_PIDFILE" \
      --object secret,id=sec0,data=benchpass \
      --blockdev driver=file,filename="$T/q/luks.img",node-name=file0 \
      --blockdev driver=luks,file=file0,key-secret=sec0,node-name=luks0 \
      --export type=fuse,id=exp0,node-name=luks0,mountpoint="$T/q/export.raw",writable=on >> "$RUN/qemu.log" 2>&1; then
    not_run qemu-luks "qemu-storage-daemon --export fuse failed: $(tail -1 "$RUN/qemu.log")"
    return 0
  fi
  QSD_PID=$(cat "$QSD_PIDFILE")
  PIDS+=("$QSD_PID")
  MOUNTS+=("$T/q/export.raw")
  meta qemu_version "$(qemu-storage-daemon --version | head -1)"
  meta qemu_luks "qemu-img LUKS (default aes-256-xts-plain64), blockdev file with default cache, FUSE export, loop device"
  attach_loop "$T/q/export.raw" || { not_run qemu-luks "cannot attach a loop device to the export"; return 0; }
  add_target qemu-luks "$LOOPDEV" 1
}

run_fio() {  # SECTION TARGET QD OUT.json [extra env...]
  local section=$1 target=$2 qd=$3 out=$4
  shift 4
  if ! env TARGET="${TPATH[$target]}" DIRECT="${TDIRECT[$target]}" SIZE="$SIZE" QD="$qd" RUNTIME="$RUNTIME" \
      RAMP="$RAMP" SCALE_BYTES=0 SCALE_RUNTIME=0 "$@" fio --section="$section" --output-format=json --output="$out" "$FIOJOBS" \
      2> "${out%.json}.err"; then
    log "fio $section on $target (qd $qd) failed: $(tail -2 "${out%.json}.err" | tr '\n' ' ')"
    return 1
  fi
}

log "setting up the targets"
setup_jindisk || die "jindisk-fuse did not mount (log: $RUN/jindisk-fuse.log)"
setup_ceiling || die "memfs_fuse did not mount"
setup_raw || die "cannot attach a loop device"
setup_dmcrypt
setup_gocryptfs
setup_securefs
setup_qemu_luks
meta targets "${TARGETS[*]}"
meta kdf "jindisk: --key-file with 32 random bytes (no Argon2id); gocryptfs -scryptn 10; securefs pbkdf2, 1 round; qemu LUKS iter-time 10 ms"
for t in "${TARGETS[@]}"; do meta "path_$t" "${TPATH[$t]}"; done

log "prefilling $SIZE bytes on ${TARGETS[*]}"
for t in "${TARGETS[@]}"; do
  run_fio prefill "$t" 32 "$RUN/fio/$t.prefill.json" || log "prefill of $t failed"
done

# ---------------------------------------------------------------- the matrix
n=0
total=$(( ${#WORKLOADS[@]} * ${#QDS[@]} * ${#TARGETS[@]} ))
done_jobs=0
for w in "${WORKLOADS[@]}"; do
  for qd in "${QDS[@]}"; do
    k=${#TARGETS[@]}
    for (( i = 0; i < k; i++ )); do
      t=${TARGETS[$(( (i + n) % k ))]}
      done_jobs=$(( done_jobs + 1 ))
      log "[$done_jobs/$total] $w qd$qd $t"
      run_fio "$w" "$t" "$qd" "$RUN/fio/$t.$w.qd$qd.json" || true
    done
    n=$(( n + 1 ))
  done
done

# ---------------------------------------------------------------- fsync=1
log "fsync=1 random 4K writes"
FS_TARGETS=()
for t in jindisk gocryptfs raw-file fuse-ceiling; do [[ -n ${TPATH[$t]:-} ]] && FS_TARGETS+=("$t"); done
for t in "${FS_TARGETS[@]}"; do
  log "fsync-4k $t"
  RUNTIME_SAVE=$RUNTIME
  RUNTIME=$FSYNC_RUNTIME
  run_fio fsync-4k "$t" 1 "$RUN/fio/$t.fsync-4k.qd1.json" || true
  RUNTIME=$RUNTIME_SAVE
done

# What one durable write costs on this host file system (explains the fsync=1 numbers).
log "sync cost"
"$SYNCCOST" --dir "$T" --count $(( QUICK ? 100 : 500 )) > "$RUN/sync_cost.txt" 2>&1 || log "sync_cost failed"

# ---------------------------------------------------------------- AEAD ceiling
log "AEAD ceiling"
"$AEAD" --seconds $(( QUICK ? 1 : 2 )) > "$RUN/aead.txt" 2>&1 || log "aead_ceiling failed"

# ---------------------------------------------------------------- tear the matrix down
# (before the scale test, so nothing else holds memory or CPU while the daemon is measured)
for d in "${LOOPS[@]}"; do losetup -d "$d" 2>/dev/null || true; done
for n2 in "${DMNAMES[@]}"; do cryptsetup close "$n2" 2>/dev/null || true; done
for d in "${LOOPS[@]}"; do losetup -d "$d" 2>/dev/null || true; done
LOOPS=(); DMNAMES=()
[[ -n $QSD_PID ]] && kill "$QSD_PID" 2>/dev/null  # qemu-storage-daemon stays up after its export is unmounted
for m in "${MOUNTS[@]}"; do unmount_fuse "$m"; done
MOUNTS=()
for p in "${PIDS[@]}"; do
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done
if [[ -n $OURS_PID ]]; then
  wait "$OURS_PID" && meta jindisk_exit 0 || meta jindisk_exit "$?"
fi

# ---------------------------------------------------------------- scale
proc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
if (( DO_SCALE )); then
  log "scale: $SCALE_GIB GiB written to a fresh $SCALE_DISK disk (default cache)"
  mkdir -p "$T/sc.sec" "$T/sc.mnt"
  head -c 32 /dev/urandom > "$T/sc.key"
  SC_ARGS=(-f --key-file "$T/sc.key" --anchor "$T/sc.anchor" "$T/sc.sec" "$T/sc.mnt")
  "$JFUSE" --size "$SCALE_DISK" "${SC_ARGS[@]}" 2> "$RUN/scale-fuse.log" &
  sc_pid=$!
  PIDS+=("$sc_pid")
  MOUNTS+=("$T/sc.mnt")
  if wait_for_file "$T/sc.mnt/disk.img" 30; then
    attach_loop "$T/sc.mnt/disk.img" || die "cannot attach a loop device"
    sc_dev=$LOOPDEV
    TPATH[scale]=$sc_dev; TDIRECT[scale]=1
    hz=$(getconf CLK_TCK)
    cpu0=$(proc_cpu_ticks "$sc_pid")
    read -r _ su0 sn0 ss0 _ _ sq0 ssq0 sst0 _ < /proc/stat
    t0=$(date +%s.%N)
    SIZE_SAVE=$SIZE
    SIZE=$(blockdev --getsize64 "$sc_dev")
    if run_fio scale scale 32 "$RUN/fio/jindisk.scale.json" SCALE_BYTES=$(( SCALE_GIB << 30 )) SCALE_RUNTIME=$SCALE_CAP; then
      t1=$(date +%s.%N)
      cpu1=$(proc_cpu_ticks "$sc_pid")
      read -r _ su1 sn1 ss1 _ _ sq1 ssq1 sst1 _ < /proc/stat
      meta scale_gib "$SCALE_GIB"
      meta scale_cap_s "$SCALE_CAP"
      meta scale_seconds "$(calc "$t1 - $t0")"
      meta scale_daemon_cpu_s "$(calc "($cpu1 - $cpu0) / $hz")"
      # user+nice+system+irq+softirq+steal of the whole machine (other users included)
      meta scale_system_busy_cpu_s "$(calc "(($su1+$sn1+$ss1+$sq1+$ssq1+$sst1) - ($su0+$sn0+$ss0+$sq0+$ssq0+$sst0)) / $hz")"
      meta scale_rss_peak_kib "$(awk '/^VmHWM/ {print $2}' "/proc/$sc_pid/status")"
      meta scale_rss_now_kib "$(awk '/^VmRSS/ {print $2}' "/proc/$sc_pid/status")"
      meta scale_host_bytes "$(du -sb "$T/sc.sec" | cut -f1)"
      # Crash: kill -9 with everything written (the last fsync returned), then open again.
      kill -9 "$sc_pid"
      wait "$sc_pid" 2>/dev/null || true
      detach_loop "$sc_dev"
      unmount_fuse "$T/sc.mnt"
      ts=$(date +%s.%N)
      "$JFUSE" "${SC_ARGS[@]}" 2> "$RUN/scale-reopen.log" &
      sc_pid=$!
      PIDS+=("$sc_pid")
      if wait_for_file "$T/sc.mnt/disk.img" 120; then
        te=$(date +%s.%N)
        meta scale_reopen_s "$(calc "$te - $ts")"
        meta scale_reopen_rss_kib "$(awk '/^VmHWM/ {print $2}' "/proc/$sc_pid/status")"
      else
        meta scale_reopen_s "failed: $(tail -1 "$RUN/scale-reopen.log")"
      fi
      unmount_fuse "$T/sc.mnt"
      for _ in $(seq 300); do kill -0 "$sc_pid" 2>/dev/null || break; sleep 0.1; done
    else
      meta scale_error "fio failed: $(tail -2 "$RUN/fio/jindisk.scale.err" | tr '\n' ' ')"
    fi
    SIZE=$SIZE_SAVE
  else
    meta scale_error "the 1 TiB disk did not mount: $(tail -1 "$RUN/scale-fuse.log")"
  fi
  rm -rf "$T/sc.sec"
fi

# ---------------------------------------------------------------- report
meta load_end "$(uptime | sed 's/.*load average: //')"
meta finished "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
meta duration_s "$(( $(date +%s) - START_EPOCH ))"
log "writing $DOCS/results.md and $DOCS/chart.png"
python3 "$REPO/bench/report.py" --run "$RUN" --docs "$DOCS" --plot "$REPO/bench/plot.gp"
log "done in $(( $(date +%s) - START_EPOCH )) s: $DOCS/results.md"

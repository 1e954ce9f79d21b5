# shellcheck shell=bash
# Common helpers for the jindisk-fuse end-to-end tests. Each test script sources this file first.
#
# What it gives a script:
#   - skips (exit 77) when the test cannot run here: not root, no /dev/fuse, no fusermount3;
#   - $TMP, a private temporary directory; XDG_STATE_HOME inside it (anchors and live-info files
#     stay private); $KEY, a fresh 32-byte key file;
#   - a trap that always cleans up, also on failure or interruption: background clients, ext4
#     mounts, loop devices, FUSE mounts and daemons started from $TMP, then $TMP itself;
#   - helpers to mount/unmount a disk, run a command expecting an exit status, and fail clearly.
#
# Environment: JINDISK_FUSE and JINDISK name the binaries (meson test sets them). To run one
# script by hand, as root:
#   JINDISK_FUSE=build/fusefs/jindisk-fuse JINDISK=build/tools/jindisk bash tests/e2e/cli.sh

set -euo pipefail
set -E

E2E_NAME=$(basename "$0" .sh)
E2E_START=$SECONDS

log() { printf '[%s +%ss] %s\n' "$E2E_NAME" "$((SECONDS - E2E_START))" "$*"; }
step() { log "== $*"; }

skip() {
  printf '[%s] SKIP: %s\n' "$E2E_NAME" "$*"
  exit 77
}

# fail MESSAGE: the test failed; MESSAGE says what was expected and what happened.
fail() {
  printf '[%s] FAIL: %s\n' "$E2E_NAME" "$*" >&2
  exit 1
}

# Any command failing outside an expectation is a failure too: say which one and where.
trap 'printf "[%s] FAIL: command failed (exit %s) at %s line %s: %s\n" "$E2E_NAME" "$?" \
  "${BASH_SOURCE[0]##*/}" "$LINENO" "$BASH_COMMAND" >&2' ERR

require_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
  done
}

[[ $(id -u) -eq 0 ]] || skip "needs root (FUSE mounts, loop devices)"
[[ -c /dev/fuse ]] || skip "/dev/fuse is missing"
require_tools fusermount3 python3 timeout setsid pgrep awk

if [[ -z ${JINDISK_FUSE:-} || -z ${JINDISK:-} ]]; then
  echo "set JINDISK_FUSE and JINDISK to the built binaries (meson test does this)" >&2
  exit 1
fi
JINDISK_FUSE=$(realpath "$JINDISK_FUSE")
JINDISK=$(realpath "$JINDISK")
[[ -x $JINDISK_FUSE ]] || { echo "JINDISK_FUSE=$JINDISK_FUSE is not an executable" >&2; exit 1; }
[[ -x $JINDISK ]] || { echo "JINDISK=$JINDISK is not an executable" >&2; exit 1; }

# Keys come only from what each test passes explicitly.
unset JINDISK_PASSPHRASE JINDISK_NEW_PASSPHRASE

TMP=$(mktemp -d "${TMPDIR:-/tmp}/jindisk-e2e-$E2E_NAME.XXXXXX")
TMP=$(realpath "$TMP")
export XDG_STATE_HOME=$TMP/state
KEY=$TMP/key
head -c 32 /dev/urandom >"$KEY"

DAEMON_PIDS=()  # jindisk-fuse daemons this script started
LOOPS=()        # loop devices this script attached
BG_PIDS=()      # background clients (writers) this script started

# ---------------------------------------------------------------------------------------------
# Processes and mounts

# proc_alive PID: true while the process exists and is not a zombie.
proc_alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $state && $state != Z* ]]
}

# wait_gone PID SECONDS: true once the process is gone, false if it is still there at the deadline.
wait_gone() {
  local pid=$1 deadline=$((SECONDS + $2))
  while proc_alive "$pid"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# fuse_mounted MNT: true if a FUSE file system is mounted on MNT (also a dead one).
fuse_mounted() {
  awk -v m="$1" '$2 == m && $3 ~ /^fuse/ { found = 1 } END { exit !found }' /proc/mounts
}

# any_mounted MNT: true if anything is mounted on MNT.
any_mounted() {
  awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}

# wait_fuse_mounted MNT SECONDS / wait_fuse_unmounted MNT SECONDS
wait_fuse_mounted() {
  local deadline=$((SECONDS + $2))
  until fuse_mounted "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}
wait_fuse_unmounted() {
  local deadline=$((SECONDS + $2))
  while fuse_mounted "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# daemon_pids SECURE_DIR: pids of jindisk-fuse processes with SECURE_DIR as an argument.
daemon_pids() {
  local p
  for p in $(pgrep -x jindisk-fuse || true); do
    proc_alive "$p" || continue
    if tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qxF -- "$1"; then echo "$p"; fi
  done
}

# new_daemon_pid SECURE_DIR: the one daemon for SECURE_DIR not recorded yet (a daemon that was
# just unmounted may still be exiting); fails unless there is exactly one.
new_daemon_pid() {
  local pids=() p
  for p in $(daemon_pids "$1"); do
    [[ " ${DAEMON_PIDS[*]} " == *" $p "* ]] || pids+=("$p")
  done
  [[ ${#pids[@]} -eq 1 ]] || fail "expected exactly one new jindisk-fuse process for $1, found: ${pids[*]:-none}"
  echo "${pids[0]}"
}

# ---------------------------------------------------------------------------------------------
# Running commands with an expected outcome

OUT=$TMP/last.out
ERR=$TMP/last.err

# expect_exit CODE WHAT CMD...: runs CMD (timeout 60 s, stdin /dev/null), output in $OUT and $ERR;
# fails unless it exits with CODE.
expect_exit() {
  local want=$1 what=$2 rc=0
  shift 2
  timeout 60 "$@" >"$OUT" 2>"$ERR" </dev/null || rc=$?
  if [[ $rc -ne $want ]]; then
    fail "$what: expected exit $want, got $rc (command: $*)
--- stdout:
$(head -c 3000 "$OUT")
--- stderr:
$(head -c 3000 "$ERR")"
  fi
}

# expect_in FILE TEXT WHAT: fails unless FILE contains TEXT (fixed string, case-insensitive).
expect_in() {
  grep -qiF -- "$2" "$1" || fail "$3: expected the output to contain '$2'; it was:
$(head -c 3000 "$1")"
}

# jd_mount SECURE_DIR MNT [OPTIONS...]: mounts with the key file $KEY (the daemon daemonizes);
# fails unless it exits 0 with the image mounted; records the daemon's pid (also in $LAST_PID).
jd_mount() {
  local sec=$1 mnt=$2
  shift 2
  mkdir -p "$mnt"
  expect_exit 0 "mount $sec on $mnt" "$JINDISK_FUSE" --key-file "$KEY" "$@" "$sec" "$mnt"
  jd_adopt "$sec" "$mnt"
}

# jd_adopt SECURE_DIR MNT: after a successful daemonizing mount, checks it and records the pid.
jd_adopt() {
  fuse_mounted "$2" || fail "the daemon exited 0 but nothing is mounted on $2"
  LAST_PID=$(new_daemon_pid "$1")
  DAEMON_PIDS+=("$LAST_PID")
}

# jd_umount MNT PID: fusermount3 -u, then the daemon must exit (final commit) within 20 s.
jd_umount() {
  local mnt=$1 pid=$2
  timeout 60 fusermount3 -u "$mnt" || fail "fusermount3 -u $mnt failed"
  wait_gone "$pid" 20 || fail "daemon $pid still running 20 s after fusermount3 -u $mnt"
  ! fuse_mounted "$mnt" || fail "$mnt still mounted after fusermount3 -u"
}

# start_fg VAR SECURE_DIR MNT LOGFILE [OPTIONS...]: runs the daemon with -f in the background (key
# $KEY), stderr to LOGFILE; waits for the mount; stores the pid (a child of this shell) in VAR.
start_fg() {
  local var=$1 sec=$2 mnt=$3 logf=$4
  shift 4
  mkdir -p "$mnt"
  # A background job of a script starts with SIGINT ignored (and libfuse keeps an ignored signal
  # ignored): restore the default, as for a daemon started from a terminal. exec keeps the pid.
  python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' \
    "$JINDISK_FUSE" -f --key-file "$KEY" "$@" "$sec" "$mnt" >"$logf" 2>&1 </dev/null &
  local pid=$!
  DAEMON_PIDS+=("$pid")
  printf -v "$var" '%s' "$pid"
  local deadline=$((SECONDS + 30))
  until fuse_mounted "$mnt"; do
    proc_alive "$pid" || fail "daemon (-f) exited before mounting $mnt; its output: $(cat "$logf")"
    ((SECONDS < deadline)) || fail "daemon (-f) did not mount $mnt within 30 s"
    sleep 0.1
  done
}

# wait_exit_status VAR PID SECONDS: waits for a child of this shell (not in a subshell: only the
# parent can collect the status); stores its exit status in VAR.
wait_exit_status() {
  local var=$1 pid=$2 st=0
  wait_gone "$pid" "$3" || fail "process $pid did not exit within $3 s"
  wait "$pid" || st=$?
  printf -v "$var" '%s' "$st"
}

# loop_attach VAR FILE [losetup options...]: attaches FILE to a free loop device, records it for
# the cleanup and stores its name in VAR. (Not in a $(...) subshell: the record would be lost, and
# a loop device whose FUSE mount was detached lazily no longer shows its path under $TMP.)
loop_attach() {
  local var=$1 file=$2 dev
  shift 2
  dev=$(timeout 60 losetup "$@" -f --show "$file") || fail "losetup $* $file failed"
  LOOPS+=("$dev")
  printf -v "$var" '%s' "$dev"
}

# loop_detach DEV: detaches a loop device attached by loop_attach (and forgets it: the cleanup must
# not detach a device that another user may have attached since).
loop_detach() {
  timeout 60 losetup -d "$1" || fail "losetup -d $1 failed"
  local d kept=()
  for d in "${LOOPS[@]}"; do [[ $d == "$1" ]] || kept+=("$d"); done
  LOOPS=("${kept[@]}")
}

# sha256 of a byte range of a file: range_sha FILE OFFSET LENGTH (bytes, multiples of 4 KiB)
range_sha() {
  timeout 60 dd if="$1" bs=4096 skip=$(($2 / 4096)) count=$(($3 / 4096)) status=none | sha256sum | cut -d' ' -f1
}

# json_field FILE KEY: prints one top-level field of a JSON document.
json_field() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# ---------------------------------------------------------------------------------------------
# Cleanup: runs on every exit, also after a failure or a signal.

e2e_cleanup() {
  local rc=$?
  trap - EXIT INT TERM ERR
  set +e
  if [[ -z ${TMP:-} || ! -d $TMP ]]; then exit "$rc"; fi
  local p m d

  # Clients first: they keep files open on the mounts.
  for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  for p in $(pgrep -f -- "$TMP/" || true); do
    [[ $p == "$$" || $(cat "/proc/$p/comm" 2>/dev/null) == jindisk-fuse ]] && continue
    kill -9 "$p" 2>/dev/null
  done

  # File systems on loop devices (ext4), deepest first.
  for m in $(awk -v t="$TMP/" 'index($2, t) == 1 && $1 ~ /^\/dev\/loop/ { print $2 }' /proc/mounts | sort -r); do
    timeout 30 umount "$m" 2>/dev/null || timeout 30 umount -l "$m"
  done

  # Loop devices: the ones still attached by this script and any backed by a file under $TMP.
  for d in "${LOOPS[@]}" $(losetup -a 2>/dev/null | grep -F "($TMP/" | cut -d: -f1); do
    losetup "$d" >/dev/null 2>&1 && timeout 30 losetup -d "$d"
  done

  # FUSE mounts: a clean unmount first (the daemons make their final commit) ...
  for m in $(awk -v t="$TMP/" 'index($2, t) == 1 && $3 ~ /^fuse/ { print $2 }' /proc/mounts); do
    timeout 30 fusermount3 -u "$m" 2>/dev/null || timeout 30 fusermount3 -u -z "$m"
  done
  # ... then the daemons get a few seconds to exit, then kill -9.
  local pids=("${DAEMON_PIDS[@]}")
  for p in $(pgrep -x jindisk-fuse || true); do
    grep -qF -- "$TMP/" "/proc/$p/cmdline" 2>/dev/null && pids+=("$p")
  done
  for p in "${pids[@]}"; do wait_gone "$p" 10 || kill -9 "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait_gone "$p" 5; done
  # Whatever is left: dead FUSE mounts, host file systems made by a test (tmpfs).
  for m in $(awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do
    if fuse_mounted "$m"; then
      timeout 30 fusermount3 -u -z "$m" 2>/dev/null || timeout 30 umount -l "$m"
    else
      timeout 30 umount "$m" 2>/dev/null || timeout 30 umount -l "$m"
    fi
  done

  # --one-file-system: never reach into a mount that could not be removed.
  rm -rf --one-file-system "$TMP"
  if [[ $rc -eq 0 ]]; then log "PASS (${SECONDS}s)"; fi
  exit "$rc"
}
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "temporary directory $TMP"

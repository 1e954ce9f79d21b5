#!/usr/bin/env bash
# Soak: repeated kill -9 of the daemon under load (not part of CI; it runs for tens of minutes).
#
# Usage (as root): tools/soak.sh [ROUNDS]     (default 100)
#   JINDISK_FUSE / JINDISK name the binaries (default build/fusefs/jindisk-fuse, build/tools/jindisk)
#   SOAK_MIN_RUN / SOAK_MAX_RUN: seconds of load before the kill (default 1 .. 6, random)
#
# Each round: mount; fio (2 jobs, random 4-64 KiB writes, fsync every 16 writes, verify=crc32c with
# a verify backlog: fio reads back and checks what it wrote while it runs) and a stamped writer
# (batches of 1-16 random blocks, fsync after each batch, every acknowledged batch logged) run
# together; after a random 1-6 s the daemon gets kill -9. Then: the dead mount is cleared, the
# disk is mounted again, every block of the writer's region must hold exactly the last
# acknowledged content (or, for the batch in flight at the kill, the old or the new content),
# nothing else; the disk is unmounted and `jindisk check` must exit 0. fio must never report a
# verification failure. The disk carries over from round to round, so every round also checks
# all the earlier rounds' data. Prints one line per round and a summary at the end.
cd "$(dirname "$0")/.."
export JINDISK_FUSE=${JINDISK_FUSE:-build/fusefs/jindisk-fuse}
export JINDISK=${JINDISK:-build/tools/jindisk}
source tests/e2e/lib.sh
require_tools fio

ROUNDS=${1:-100}
MIN_RUN=${SOAK_MIN_RUN:-1}
MAX_RUN=${SOAK_MAX_RUN:-6}
SEC=$TMP/sec
MNT=$TMP/mnt
IMG=$MNT/disk.img
W_BASE=$((512 * 256))   # the writer's region: LBAs from 512 MiB on
W_BLOCKS=4096           # 16 MiB
FIO_SIZE=128M           # per fio job, from offset 0

cat >"$TMP/stamp.py" <<'EOF'
def block(rnd, seq, lba):
    return (b"JDSOAK r=%06d s=%08d l=%010d" % (rnd, seq, lba)).ljust(63) * 64 + b"\n" * 64  # 4096

def parse(b):
    # -> (round, seq, lba), None for zeros, "torn" for anything else
    if b == bytes(4096):
        return None
    try:
        t = (int(b[9:15]), int(b[18:26]), int(b[29:39]))
    except ValueError:
        return "torn"
    return t if b == block(*t) else "torn"
EOF

# writer.py IMG LOG ROUND BASE N: batches of random blocks; "P seq lba..." before, "A seq" after
# its fsync returned. Stops at the first error (the daemon is gone).
cat >"$TMP/writer.py" <<EOF
import os, random, sys
sys.path.insert(0, "$TMP")
from stamp import block
img, log, rnd_no, base, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
fd = os.open(img, os.O_RDWR)
lg = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
rnd = random.Random()
seq = 0
while True:
    seq += 1
    lbas = rnd.sample(range(n), rnd.randint(1, 16))
    os.write(lg, ("P %d %s\n" % (seq, " ".join(map(str, lbas)))).encode())
    try:
        for l in lbas:
            os.pwrite(fd, block(rnd_no, seq, l), (base + l) * 4096)
        os.fsync(fd)
    except OSError as e:
        print(f"writer: stopped at batch {seq}: {e}")
        sys.exit(0)
    os.write(lg, b"A %d\n" % seq)
EOF

# verify.py IMG STATE LOG ROUND BASE N: STATE (JSON lba -> [round, seq]) is the content after
# the previous round; the acknowledged batches of LOG apply on top; the batch in flight may be
# old or new per block (a flush by fio commits whatever was written by then). Rewrites STATE to
# what was read. Prints "acked blocks_checked inflight_new/inflight_size".
cat >"$TMP/verify.py" <<EOF
import json, os, sys
sys.path.insert(0, "$TMP")
from stamp import parse
img, state_path, log, rnd_no, base, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
state = {int(k): tuple(v) for k, v in json.load(open(state_path)).items()} if os.path.exists(state_path) else {}
pending, acked = {}, 0
for line in open(log):
    f = line.split()
    if f[0] == "P":
        pending[int(f[1])] = [int(x) for x in f[2:]]
    elif f[0] == "A":
        seq = int(f[1])
        for l in pending.pop(seq):
            state[l] = (rnd_no, seq)
        acked += 1
if len(pending) > 1:
    sys.exit(f"more than one unacknowledged batch in the log: {sorted(pending)}")
inflight = {}
for seq, lbas in pending.items():
    for l in lbas:
        inflight[l] = (rnd_no, seq)
fd = os.open(img, os.O_RDONLY)
data = os.pread(fd, n * 4096, base * 4096)
bad, new_state, inflight_new = [], {}, 0
for l in range(n):
    p = parse(data[l * 4096:(l + 1) * 4096])
    want = state.get(l)
    got = None if p is None else ("torn" if p == "torn" else ((p[0], p[1]) if p[2] == l else "misplaced"))
    if got == want:
        pass
    elif l in inflight and got == inflight[l]:
        inflight_new += 1
    else:
        bad.append(f"LBA {base + l}: read {got}, expected {want}" + (f" or {inflight[l]}" if l in inflight else ""))
    if got is not None:
        new_state[l] = got
if bad:
    sys.exit(f"{len(bad)} blocks wrong after the crash:\n  " + "\n  ".join(bad[:20]))
json.dump({str(k): list(v) for k, v in new_state.items()}, open(state_path, "w"))
print(acked, n, f"{inflight_new}/{len(inflight)}")
EOF

# forget_pid PID: a daemon that is gone leaves DAEMON_PIDS; new_daemon_pid skips every recorded
# pid, and pids are reused within a soak (pid_max can be 32768).
forget_pid() {
  local p kept=()
  for p in "${DAEMON_PIDS[@]}"; do [[ $p == "$1" ]] || kept+=("$p"); done
  DAEMON_PIDS=("${kept[@]}")
}

fio_errors() {  # FIO_OUT: prints any verification failure fio reported
  grep -iE 'verify.*(fail|bad)|bad (magic|header)|crc32c.*(fail|mismatch)|checksum' "$1" || true
}

step "soak: $ROUNDS rounds of kill -9 under fio (verify=crc32c) and a stamped fsync writer"
jd_mount "$SEC" "$MNT" --size 1G
PID=$LAST_PID
total_acked=0
total_fio_w=0
total_fio_r=0
inflight_partial=0
soak_start=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
  : >"$TMP/wlog"
  fio --name=soak --filename="$IMG" --size=$FIO_SIZE --offset_increment=$FIO_SIZE --numjobs=2 \
    --rw=randwrite --bsrange=4k-64k --ioengine=psync --fsync=16 --verify=crc32c \
    --verify_backlog=512 --verify_fatal=1 --verify_state_save=0 --time_based --runtime=120 \
    --output-format=json --output="$TMP/fio.json" >"$TMP/fio.err" 2>&1 &
  FPID=$!
  python3 "$TMP/writer.py" "$IMG" "$TMP/wlog" "$r" "$W_BASE" "$W_BLOCKS" >"$TMP/writer.out" 2>&1 &
  WPID=$!
  BG_PIDS+=("$FPID" "$WPID")
  run_ms=$((MIN_RUN * 1000 + (RANDOM * 32768 + RANDOM) % ((MAX_RUN - MIN_RUN) * 1000 + 1)))
  sleep "$((run_ms / 1000)).$(printf '%03d' $((run_ms % 1000)))"
  proc_alive "$WPID" || fail "round $r: the writer died before the kill: $(cat "$TMP/writer.out")"
  proc_alive "$FPID" || fail "round $r: fio ended before the kill: $(cat "$TMP/fio.err")"
  kill -9 "$PID"
  wait_gone "$PID" 10 || fail "round $r: daemon $PID survived kill -9"
  forget_pid "$PID"
  wait_exit_status rc "$WPID" 60
  [[ $rc -eq 0 ]] || fail "round $r: writer exited $rc: $(cat "$TMP/writer.out")"
  wait_exit_status rc "$FPID" 60
  BG_PIDS=()
  errs=$(fio_errors "$TMP/fio.err")
  [[ -z $errs ]] || fail "round $r: fio reported verification failures: $errs"
  read -r fw fr < <(python3 -c '
import json, sys
t = open(sys.argv[1]).read()
d = json.loads(t[t.index("{"):])
for j in d["jobs"]:
    if j["error"] not in (0, 5, 103, 107):  # none, EIO/ECONNABORTED/ENOTCONN after the kill
        sys.exit("fio job error %d" % j["error"])
print(sum(j["write"]["io_bytes"] for j in d["jobs"]), sum(j["read"]["io_bytes"] for j in d["jobs"]))' "$TMP/fio.json") ||
    fail "round $r: fio: $(head -c 2000 "$TMP/fio.err")"
  timeout 60 fusermount3 -u -z "$MNT" || fail "round $r: fusermount3 -u -z of the dead mount failed"

  jd_mount "$SEC" "$MNT"
  PID=$LAST_PID
  res=$(timeout 300 python3 "$TMP/verify.py" "$IMG" "$TMP/state.json" "$TMP/wlog" "$r" "$W_BASE" "$W_BLOCKS" 2>&1) ||
    fail "round $r (kill after ${run_ms} ms): $res"
  read -r acked checked infl <<<"$res"
  jd_umount "$MNT" "$PID"
  forget_pid "$PID"
  expect_exit 0 "round $r: jindisk check after the crash" "$JINDISK" check --key-file "$KEY" "$SEC"
  jd_mount "$SEC" "$MNT"
  PID=$LAST_PID
  total_acked=$((total_acked + acked))
  total_fio_w=$((total_fio_w + fw))
  total_fio_r=$((total_fio_r + fr))
  [[ $infl == 0/* || ${infl%/*} == "${infl#*/}" ]] || ((inflight_partial += 1))
  log "round $r/$ROUNDS: kill -9 after ${run_ms} ms; $acked acknowledged batches, $checked blocks as expected \
(in flight: $infl new); fio wrote $((fw >> 20)) MiB, verified $((fr >> 20)) MiB; check clean"
done
jd_umount "$MNT" "$PID"
expect_exit 0 "jindisk check at the end" "$JINDISK" check --key-file "$KEY" "$SEC"
log "SOAK RESULT: $ROUNDS rounds of kill -9 in $((SECONDS - soak_start)) s: every round reopened, \
jindisk check clean, $total_acked acknowledged batches all intact, 0 fio verify failures \
(fio wrote $((total_fio_w >> 20)) MiB, verified $((total_fio_r >> 20)) MiB online); \
$inflight_partial in-flight batches partly committed by a concurrent fio fsync"

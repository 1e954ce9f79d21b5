#!/usr/bin/env bash
# kill -9 of the daemon while clients write and fsync: after the crash the disk opens, every write
# acknowledged by fsync reads back exactly, the write in flight is all-or-nothing, nothing that was
# never written appears, and `jindisk check` is clean. Three rounds on the same disk.
source "$(dirname "$0")/lib.sh"

SEC=$TMP/sec
MNT=$TMP/mnt
IMG=$MNT/disk.img
ROUNDS=3
WRITERS=2
REGION_BLOCKS=8192   # per writer and round: 6144 record blocks, then 2048 scratch blocks (records.py)
MIN_ACKS=20

# writer.py IMG ACKLOG TAG FIRST_BLOCK: writes 4 KiB records to distinct blocks of its region, in
# a random order; fsync after each; appends the index of each record fsync acknowledged to ACKLOG.
# Between records it also writes unsynced 64 KiB chunks into the region's scratch area.
cat >"$TMP/records.py" <<'EOF'
import hashlib, random

RECORD_BLOCKS = 6144
SCRATCH_BLOCKS = 2048

def record(tag, i):
    head = f"jindisk crash test {tag} record {i}\n".encode()
    return (head + hashlib.sha256(head).digest() * 128)[:4096]

def order(tag):
    return random.Random(tag).sample(range(RECORD_BLOCKS), RECORD_BLOCKS)
EOF

cat >"$TMP/writer.py" <<'EOF'
import os, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
from records import record, order, RECORD_BLOCKS, SCRATCH_BLOCKS

img, ack_path, tag, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
blocks = order(tag)
fd = os.open(img, os.O_RDWR)
ack = os.open(ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
for i in range(RECORD_BLOCKS):
    try:
        os.pwrite(fd, record(tag, i), (first + blocks[i]) * 4096)
        if i % 3 == 0:
            chunk = (i // 3) % (SCRATCH_BLOCKS // 16)
            os.pwrite(fd, os.urandom(65536), (first + RECORD_BLOCKS + chunk * 16) * 4096)
        os.fsync(fd)
    except OSError as e:
        print(f"writer {tag}: stopped at record {i}: {e}", flush=True)
        sys.exit(0)
    os.write(ack, f"{i}\n".encode())
print(f"writer {tag}: wrote all {RECORD_BLOCKS} records before the crash", flush=True)
EOF

# verify.py IMG TAG FIRST_BLOCK ACKLOG: every acknowledged record reads back exactly; the next one
# (possibly in flight at the crash) is either absent (zeros) or complete; 64 records after it,
# never written, read as zeros.
cat >"$TMP/verify.py" <<'EOF'
import os, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
from records import record, order, RECORD_BLOCKS

img, tag, first, ack_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
acked = [int(x) for x in open(ack_path).read().split()]
if acked != list(range(len(acked))):
    sys.exit(f"{tag}: the acknowledgement log is not 0..n-1")
n = len(acked)
blocks = order(tag)
fd = os.open(img, os.O_RDONLY)
zero = bytes(4096)
bad = []
for i in range(n):
    got = os.pread(fd, 4096, (first + blocks[i]) * 4096)
    if got != record(tag, i):
        what = "zeros" if got == zero else repr(got[:48])
        bad.append(f"record {i} (block {first + blocks[i]}): read {what}")
if bad:
    sys.exit(f"{tag}: {len(bad)} of {n} records acknowledged by fsync are wrong after the crash:\n  "
             + "\n  ".join(bad[:20]))
if n < RECORD_BLOCKS:
    got = os.pread(fd, 4096, (first + blocks[n]) * 4096)
    if got != zero and got != record(tag, n):
        sys.exit(f"{tag}: record {n}, in flight at the crash, is torn: {got[:48]!r}")
for i in range(n + 1, min(n + 65, RECORD_BLOCKS)):
    got = os.pread(fd, 4096, (first + blocks[i]) * 4096)
    if got != zero:
        sys.exit(f"{tag}: record {i} was never written but reads {got[:48]!r}")
print(f"{tag}: {n} acknowledged records intact")
EOF

# verify_all ROUNDS_DONE: checks every writer of every finished round.
verify_all() {
  local r w
  for ((r = 0; r < $1; r++)); do
    for ((w = 0; w < WRITERS; w++)); do
      timeout 120 python3 "$TMP/verify.py" "$IMG" "r${r}w${w}" $(((r * WRITERS + w) * REGION_BLOCKS)) \
        "$TMP/ack.r${r}w${w}" >"$OUT" 2>&1 || fail "after the crash of round $r: $(cat "$OUT")"
      log "  $(cat "$OUT")"
    done
  done
}

step "create a 256M disk"
jd_mount "$SEC" "$MNT" --size 256M
PID=$LAST_PID

for ((r = 0; r < ROUNDS; r++)); do
  step "round $((r + 1)): $WRITERS writers (pwrite+fsync), then kill -9 of the daemon"
  WPIDS=()
  for ((w = 0; w < WRITERS; w++)); do
    : >"$TMP/ack.r${r}w${w}"
    python3 "$TMP/writer.py" "$IMG" "$TMP/ack.r${r}w${w}" "r${r}w${w}" \
      $(((r * WRITERS + w) * REGION_BLOCKS)) >"$TMP/writer.r${r}w${w}.log" 2>&1 &
    WPIDS+=($!)
    BG_PIDS+=($!)
  done
  start=$SECONDS
  deadline=$((SECONDS + 30))
  for ((w = 0; w < WRITERS; w++)); do
    until (($(wc -l <"$TMP/ack.r${r}w${w}") >= MIN_ACKS)); do
      ((SECONDS < deadline)) || fail "writer $w acknowledged fewer than $MIN_ACKS fsyncs in 30 s: \
$(cat "$TMP/writer.r${r}w${w}.log")"
      proc_alive "${WPIDS[w]}" || fail "writer $w died early: $(cat "$TMP/writer.r${r}w${w}.log")"
      sleep 0.1
    done
  done
  while ((SECONDS - start < 2)); do sleep 0.1; done
  kill -9 "$PID"
  wait_gone "$PID" 10 || fail "daemon $PID survived kill -9"
  for ((w = 0; w < WRITERS; w++)); do
    wait_exit_status rc "${WPIDS[w]}" 30
    [[ $rc -eq 0 ]] || fail "writer $w exited $rc: $(cat "$TMP/writer.r${r}w${w}.log")"
    log "  $(cat "$TMP/writer.r${r}w${w}.log"); $(wc -l <"$TMP/ack.r${r}w${w}") acknowledged"
  done
  BG_PIDS=()

  timeout 60 fusermount3 -u -z "$MNT" || fail "fusermount3 -u -z of the dead mount failed"
  ! fuse_mounted "$MNT" || fail "the dead mount is still there after fusermount3 -u -z"

  step "round $((r + 1)): the disk opens after the crash and every acknowledged write is there"
  jd_mount "$SEC" "$MNT"
  PID=$LAST_PID
  verify_all $((r + 1))
  jd_umount "$MNT" "$PID"
  expect_exit 0 "jindisk check after crash round $((r + 1))" "$JINDISK" check --key-file "$KEY" "$SEC"
  log "  $(tail -1 "$OUT")"
  jd_mount "$SEC" "$MNT"
  PID=$LAST_PID
done

step "after all rounds: everything still there once more"
verify_all $ROUNDS

step "close without fsync is a flush; unflushed writes vanish as a whole at kill -9"
# dd without conv=fsync: close() sends a FUSE flush, which commits (DESIGN: only user flushes,
# including the flush on close, create a valid state).
head -c $((1 << 20)) /dev/urandom >"$TMP/closed"
du_before=$(du -sb "$SEC" | cut -f1)
dd if="$TMP/closed" of="$IMG" bs=1M seek=192 conv=notrunc status=none
# Then 48 MiB written with the file kept open and never flushed, more than a write buffer holds:
# the engine may put sealed blocks on the host, but no flush made them part of a valid state.
python3 - "$IMG" "$TMP/unflushed.ready" <<'EOF' >"$TMP/unflushed.log" 2>&1 &
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
chunk = b"UNFLUSHED" * 116509
for i in range(48):
    os.pwrite(fd, chunk[:1 << 20], (200 + i) << 20)
open(sys.argv[2], "w").close()
time.sleep(300)
EOF
WPID=$!
BG_PIDS+=("$WPID")
deadline=$((SECONDS + 60))
until [[ -e $TMP/unflushed.ready ]]; do
  proc_alive "$WPID" || fail "the unflushed writer died: $(cat "$TMP/unflushed.log")"
  ((SECONDS < deadline)) || fail "the unflushed writer did not finish 48 MiB in 60 s"
  sleep 0.1
done
kill -9 "$PID"
wait_gone "$PID" 10 || fail "daemon $PID survived kill -9"
kill -9 "$WPID"
wait "$WPID" 2>/dev/null || true
log "  host directory grew by $(($(du -sb "$SEC" | cut -f1) - du_before)) bytes during the unflushed writes"
BG_PIDS=()

step "a stale mount is reported, not mounted over"
expect_exit 1 "mount on the dead FUSE mount (at once)" "$JINDISK_FUSE" --key-file "$KEY" "$SEC" "$MNT"
expect_in "$ERR" "$MNT" "mount on the dead FUSE mount (at once)"
[[ -z $(daemon_pids "$SEC") ]] || fail "a daemon started on the dead mount: $(daemon_pids "$SEC")"
# Right after the crash the kernel may still answer stat() from its attribute cache (1 s), and the
# daemon then calls the dead mount "in use" rather than stale; once the cache expires, it must say
# what it is and how to clear it.
sleep 1.5
expect_exit 1 "mount on the dead FUSE mount" "$JINDISK_FUSE" --key-file "$KEY" "$SEC" "$MNT"
expect_in "$ERR" "stale" "mount on the dead FUSE mount"
expect_in "$ERR" "fusermount3 -u" "mount on the dead FUSE mount"
timeout 60 fusermount3 -u -z "$MNT" || fail "fusermount3 -u -z of the dead mount failed"

jd_mount "$SEC" "$MNT"
PID=$LAST_PID
cmp <(dd if="$IMG" bs=1M skip=192 count=1 status=none) "$TMP/closed" ||
  fail "data written and closed (FUSE flush on close) before kill -9 is lost"
python3 - "$IMG" <<'EOF' || fail "unflushed writes must not survive kill -9 (no flush was asked for)"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
zero = bytes(1 << 20)
new = [i for i in range(48) if os.pread(fd, 1 << 20, (200 + i) << 20) != zero]
if new:
    sys.exit(f"MiB {new[:10]}... of the 48 unflushed MiB changed ({len(new)} of 48): "
             "the host held a state no user flush produced")
EOF
verify_all $ROUNDS
jd_umount "$MNT" "$PID"
expect_exit 0 "jindisk check at the end" "$JINDISK" check --key-file "$KEY" "$SEC"

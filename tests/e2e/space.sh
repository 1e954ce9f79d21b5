#!/usr/bin/env bash
# Host space: a new disk is small whatever its size; overwriting many times the logical size
# keeps the host directory bounded; trimming everything through a loop device (blkdiscard) and
# through FUSE fallocate brings the directory back near a new disk; and a full host file system
# gives ENOSPC to the writer, loses nothing that was flushed, and recovers once trimming frees
# space.
source "$(dirname "$0")/lib.sh"
require_tools du fallocate losetup blkdiscard blockdev

MiB=$((1 << 20))

# wait_du_at_most DIR BYTES SECONDS WHAT: waits for du -sb DIR to fall to BYTES (the cleaner
# works in the background after a flush).
wait_du_at_most() {
  local dir=$1 want=$2 limit=$3 what=$4 now deadline=$((SECONDS + $3))
  while now=$(du -sb "$dir" | cut -f1); ((now > want)); do
    ((SECONDS < deadline)) || fail "$what: the host directory holds $now bytes after ${limit} s; \
expected at most $want"
    sleep 1
  done
  DU=$now
}

MNT=$TMP/mnt
IMG=$MNT/disk.img

step "thin provisioning: a new 1 TiB disk takes a few MiB of host space"
SEC=$TMP/thin
jd_mount "$SEC" "$MNT" --size 1T
PID=$LAST_PID
fresh=$(du -sb "$SEC" | cut -f1)
log "new 1 TiB disk: $fresh bytes on the host (the 20 MiB space reserve included)"
((fresh <= 24 * MiB)) || fail "a new 1 TiB disk takes $fresh bytes of host space"

step "trim everything through a loop device (blkdiscard): the host goes back near a new disk"
loop_attach DEV "$IMG" --direct-io=on
timeout 120 dd if=/dev/urandom of="$DEV" bs=1M count=96 seek=4096 oflag=direct conv=fsync \
  status=none || fail "writing 96 MiB through $DEV failed"
full=$(du -sb "$SEC" | cut -f1)
log "after writing 96 MiB: $full bytes"
((full >= fresh + 90 * MiB)) || fail "96 MiB written but the host directory grew only to $full"
timeout 120 blkdiscard "$DEV" || fail "blkdiscard $DEV failed"
timeout 60 blockdev --flushbufs "$DEV" || fail "flushing $DEV failed"
sync "$IMG"
wait_du_at_most "$SEC" $((fresh + 4 * MiB)) 60 "after blkdiscard of the whole device"
log "after blkdiscard, flush and cleaning: $DU bytes (new disk: $fresh)"
loop_detach "$DEV"

step "trim through FUSE fallocate(PUNCH_HOLE): half of a file's data trimmed, host shrinks"
head -c $((64 * MiB)) /dev/urandom >"$TMP/data64"
dd if="$TMP/data64" of="$IMG" bs=1M seek=100 conv=notrunc,fsync status=none ||
  fail "writing 64 MiB failed"
before=$(du -sb "$SEC" | cut -f1)
# Every other 64 KiB: garbage spread over every segment, so only the cleaner can give it back.
python3 - "$IMG" <<'EOF' || fail "punching holes failed"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
fd = os.open(sys.argv[1], os.O_RDWR)
for off in range(100 << 20, 164 << 20, 128 << 10):
    if libc.fallocate(fd, 3, off, 64 << 10) != 0:  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        sys.exit(f"fallocate: {os.strerror(ctypes.get_errno())}")
os.fsync(fd)
EOF
# Live data 32 MiB: the cleaner stops at 1.2x that plus two 4 MiB segments; allow 4 MiB more for
# the index. Releasing the punched blocks alone leaves about 79 MB here, so only cleaning gets
# below this bound.
wait_du_at_most "$SEC" $((fresh + 32 * MiB * 12 / 10 + 12 * MiB)) 60 "after punching out half of 64 MiB"
log "64 MiB written then half punched out: $before -> $DU bytes"
python3 - "$IMG" "$TMP/data64" <<'EOF' || fail "data around the holes changed after cleaning"
import sys
img = open(sys.argv[1], "rb"); ref = open(sys.argv[2], "rb").read()
img.seek(100 << 20); got = img.read(64 << 20)
for off in range(0, 64 << 20, 128 << 10):
    if got[off:off + (64 << 10)] != bytes(64 << 10): sys.exit(f"hole at +{off} not zero")
    if got[off + (64 << 10):off + (128 << 10)] != ref[off + (64 << 10):off + (128 << 10)]:
        sys.exit(f"data at +{off + (64 << 10)} changed")
EOF
# The daemon publishes its live info every 2 s: give it a few rounds to show the cleaner's work.
for _ in $(seq 10); do
  expect_exit 0 "jindisk info --json while mounted" setsid -w "$JINDISK" info --json "$SEC"
  moved=$(json_field "$OUT" blocks_moved_session)
  ((moved > 0)) && break
  sleep 1
done
log "info: garbage_ratio=$(json_field "$OUT" garbage_ratio)" \
  "segments_cleaned=$(json_field "$OUT" segments_cleaned_session) blocks_moved=$moved"
((moved > 0)) || fail "the host shrank but info reports no block moved by the cleaner"
jd_umount "$MNT" "$PID"
expect_exit 0 "jindisk check after trimming and cleaning" "$JINDISK" check --key-file "$KEY" "$SEC"

step "overwrite 10x the logical size of a 32M disk: no error, host directory stays bounded"
SEC=$TMP/sec
jd_mount "$SEC" "$MNT" --size 32M
PID=$LAST_PID
timeout 180 python3 - "$IMG" <<'EOF' || fail "random overwrites of 10x the logical size failed (see above)"
import os, random, sys
fd = os.open(sys.argv[1], os.O_RDWR)
size = os.fstat(fd).st_size
rng = random.Random(7)
written = 0
n = 0
while written < 10 * size:
    length = rng.choice((4096, 16384, 65536, 262144))
    off = rng.randrange(0, size - length + 1, 4096)
    os.pwrite(fd, os.urandom(length), off)
    written += length
    n += 1
    if n % 64 == 0:
        os.fsync(fd)
os.fsync(fd)
EOF
jd_umount "$MNT" "$PID"
host=$(du -sb "$SEC" | cut -f1)
log "host directory after 320 MiB of overwrites on a 32 MiB disk: $host bytes"
# 1.3 x 32 MiB of live data, three 4 MiB segments of slack, the 20 MiB reserve, 2 MiB of index.
((host <= 76 * MiB)) || fail "host directory holds $host bytes after overwriting a 32 MiB disk \
10 times; expected at most 76 MiB"
expect_exit 0 "jindisk check after the overwrites" "$JINDISK" check --key-file "$KEY" "$SEC"
expect_exit 0 "jindisk info after the overwrites" "$JINDISK" info --json --key-file "$KEY" "$SEC"
segments=$(json_field "$OUT" segments)
seg_bytes=$(($(json_field "$OUT" segment_blocks) * 4096))
live=$(json_field "$OUT" live_bytes)
log "data segments after the overwrites: $segments of $seg_bytes bytes for $live live bytes"
# jindisk-fuse(1), LIMITS: new segments only while they hold less than 1.2x the data in use
# (plus two), and the cleaner keeps them under 1.25x plus three.
cap=$((live * 13 / 10 / seg_bytes + 3))
((segments <= cap)) || fail "$segments data segments for $live live bytes after overwriting a 32 MiB \
disk 10 times; expected at most $cap (1.3x live data + 3 segments)"

step "a full host file system (tmpfs of 40M under a 256M disk): ENOSPC, flushed data kept"
mkdir -p "$TMP/host"
timeout 30 mount -t tmpfs -o size=40M tmpfs "$TMP/host" || fail "cannot mount a tmpfs"
SEC=$TMP/host/sec
jd_mount "$SEC" "$MNT" --size 256M
PID=$LAST_PID
head -c $((8 << 20)) /dev/urandom >"$TMP/ref"
dd if="$TMP/ref" of="$IMG" bs=1M conv=notrunc,fsync status=none
timeout 120 python3 - "$IMG" <<'EOF' >"$OUT" 2>&1 || fail "filling the host file system: $(cat "$OUT")"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
off = 16 << 20
try:
    while off < (256 << 20):
        os.pwrite(fd, os.urandom(1 << 20), off)
        off += 1 << 20
        if (off >> 20) % 4 == 0:
            os.fsync(fd)
except OSError as e:
    if e.errno != errno.ENOSPC:
        sys.exit(f"expected ENOSPC when the host is full, got {errno.errorcode.get(e.errno, e.errno)} at MiB {off >> 20}")
    print(f"ENOSPC at MiB {off >> 20}")
else:
    sys.exit("wrote 240 MiB into a 40 MiB host file system without an error")
try:
    os.fsync(fd)
except OSError as e:
    if e.errno != errno.ENOSPC:
        sys.exit(f"fsync on a full host: expected ENOSPC, got {errno.errorcode.get(e.errno, e.errno)}")
EOF
log "  writer: $(cat "$OUT")"
cmp <(dd if="$IMG" bs=1M count=8 status=none) "$TMP/ref" || fail "flushed data unreadable while the host is full"
timeout 60 fusermount3 -u "$MNT" || fail "fusermount3 -u with a full host failed"
wait_gone "$PID" 20 || fail "daemon $PID did not exit after unmount with a full host"

step "reopen on the full host: flushed data intact; trimming frees space; writes work again"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
cmp <(dd if="$IMG" bs=1M count=8 status=none) "$TMP/ref" || fail "flushed data lost after filling the host"
fallocate -p -o $((16 << 20)) -l $((240 << 20)) "$IMG" || fail "punching a hole (trim) failed on a full host"
head -c $((4 << 20)) /dev/urandom >"$TMP/after"
dd if="$TMP/after" of="$IMG" bs=1M seek=100 conv=notrunc,fsync status=none 2>"$ERR" ||
  fail "writing after trimming on a full host failed: $(cat "$ERR")"
jd_umount "$MNT" "$PID"
expect_exit 0 "jindisk check after ENOSPC" "$JINDISK" check --key-file "$KEY" "$SEC"
jd_mount "$SEC" "$MNT" --read-only
PID=$LAST_PID
cmp <(dd if="$IMG" bs=1M count=8 status=none) "$TMP/ref" || fail "flushed data lost at the end"
cmp <(dd if="$IMG" bs=1M skip=100 count=4 status=none) "$TMP/after" || fail "data written after trimming lost"
jd_umount "$MNT" "$PID"

#!/usr/bin/env bash
# Host space: overwriting many times the logical size keeps the host directory bounded (the
# cleaner reclaims), and a full host file system gives ENOSPC to the writer, loses nothing that
# was flushed, and recovers once trimming frees space.
source "$(dirname "$0")/lib.sh"
require_tools du fallocate

MNT=$TMP/mnt
IMG=$MNT/disk.img

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
((host <= (80 << 20))) || fail "host directory holds $host bytes after overwriting a 32 MiB disk \
10 times; expected the cleaner to keep it under 80 MiB"
expect_exit 0 "jindisk check after the overwrites" "$JINDISK" check --key-file "$KEY" "$SEC"
expect_exit 0 "jindisk info after the overwrites" "$JINDISK" info --json --key-file "$KEY" "$SEC"
segments=$(json_field "$OUT" segments)
seg_bytes=$(($(json_field "$OUT" segment_blocks) * 4096))
log "data segments after the overwrites: $segments of $seg_bytes bytes (logical size $((32 << 20)))"
# jindisk-fuse(1), LIMITS: data segments take at most about 1.1 times the logical size; the
# allocator's cap is 1.1 times the logical size in whole segments plus 4, which dominates on a disk
# this small (12 segments for 8 segments of data).
cap=$(((32 << 20) * 11 / 10 / seg_bytes + 4))
((segments <= cap)) || fail "$segments data segments for a 32 MiB disk after overwriting it 10 times; \
expected at most $cap (1.1x the logical size + 4 segments)"

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

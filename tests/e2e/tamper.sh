#!/usr/bin/env bash
# Tampering with SECURE_DIR: a flipped byte in a data segment makes exactly the affected block
# fail with EIO (the rest keeps working, the daemon names the block), `jindisk check` exits 4 and
# is clean again once the byte is restored; restoring an older copy of the whole directory is
# refused as a rollback (exit 4) unless --accept-rollback.
source "$(dirname "$0")/lib.sh"
require_tools dd cp

SEC=$TMP/sec
MNT=$TMP/mnt
IMG=$MNT/disk.img
DATA_MIB=16
head -c $((DATA_MIB << 20)) /dev/urandom >"$TMP/ref"

# flip_byte FILE OFFSET: XORs one byte with 0x01 in place (conv=notrunc: same size, same file).
flip_byte() {
  local byte
  byte=$(dd if="$1" bs=1 skip="$2" count=1 status=none | od -An -tu1 | tr -d ' ')
  printf '%b' "\\0$(printf '%03o' $((byte ^ 1)))" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
}

# scan_blocks: reads the first DATA_MIB MiB of disk.img in 4 KiB requests, compares with $TMP/ref;
# prints "ERRORS EIO MISMATCHES BAD_BLOCKS" (BAD_BLOCKS: comma-separated, or "-").
scan_blocks() {
  timeout 120 python3 - "$IMG" "$TMP/ref" <<'EOF'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
ref = open(sys.argv[2], "rb").read()
errors = eio = mismatches = 0
bad = []
for b in range(len(ref) // 4096):
    try:
        data = os.pread(fd, 4096, b * 4096)
    except OSError as e:
        errors += 1
        eio += e.errno == errno.EIO
        bad.append(b)
        continue
    if data != ref[b * 4096:(b + 1) * 4096]:
        mismatches += 1
        bad.append(b)
print(errors, eio, mismatches, ",".join(map(str, bad)) or "-")
EOF
}

step "write ${DATA_MIB} MiB of known data, unmount"
jd_mount "$SEC" "$MNT" --size 256M
PID=$LAST_PID
dd if="$TMP/ref" of="$IMG" bs=1M conv=notrunc,fsync status=none
jd_umount "$MNT" "$PID"
expect_exit 0 "jindisk check before tampering" "$JINDISK" check --key-file "$KEY" "$SEC"

step "flip one byte in the middle of a data segment"
segs=("$SEC"/seg-*)
[[ -f ${segs[0]} ]] || fail "no seg-* files in $SEC: $(ls "$SEC")"
SEG=${segs[$((${#segs[@]} / 2))]}
seg_size=$(stat -c %s "$SEG")
OFF=$((seg_size / 2 + 1234))
cp -a "$SEG" "$TMP/seg.orig"
flip_byte "$SEG" "$OFF"
! cmp -s "$SEG" "$TMP/seg.orig" || fail "flip_byte did not change $SEG"
[[ $(stat -c %s "$SEG") -eq $seg_size ]] || fail "flip_byte changed the size of $SEG"
log "flipped byte $OFF of $(basename "$SEG") ($seg_size bytes)"

step "the mount succeeds; reading everything hits EIO; only the damaged block fails"
start_fg PID "$SEC" "$MNT" "$TMP/daemon.log"
rc=0
timeout 60 dd if="$IMG" of=/dev/null bs=1M count=$DATA_MIB 2>"$ERR" || rc=$?
[[ $rc -ne 0 ]] || fail "reading the whole data range succeeded despite a flipped ciphertext byte"
expect_in "$ERR" "Input/output error" "dd over the damaged data"
result=$(scan_blocks) || fail "block scan failed: $result"
read -r errors eio mismatches bad <<<"$result"
log "4 KiB scan: $errors unreadable ($eio EIO), $mismatches wrong, bad blocks: $bad"
((mismatches == 0)) || fail "$mismatches blocks returned wrong data instead of an error ($result)"
((errors >= 1 && errors < 16)) || fail "expected between 1 and 15 unreadable 4 KiB blocks, got $errors ($result)"
((eio == errors)) || fail "unreadable blocks must fail with EIO; only $eio of $errors did ($result)"
first_bad=${bad%%,*}
expect_in "$TMP/daemon.log" "block $first_bad" "the daemon log naming the damaged block"
log "daemon log: $(grep -m1 "block $first_bad" "$TMP/daemon.log")"

step "the disk keeps working: writes and reads elsewhere"
head -c $((1 << 20)) /dev/urandom >"$TMP/more"
dd if="$TMP/more" of="$IMG" bs=1M seek=100 conv=notrunc,fsync status=none
cmp <(dd if="$IMG" bs=1M skip=100 count=1 status=none) "$TMP/more" || fail "write+read after the EIO failed"
kill -TERM "$PID"
wait_exit_status rc "$PID" 20
[[ $rc -eq 0 ]] || fail "daemon exit after SIGTERM: expected 0, got $rc: $(cat "$TMP/daemon.log")"

step "jindisk check finds the damage (exit 4), and is clean once the byte is restored"
expect_exit 4 "jindisk check with a flipped byte" "$JINDISK" check --key-file "$KEY" "$SEC"
expect_in "$OUT" "damaged" "jindisk check with a flipped byte"
cp "$TMP/seg.orig" "$SEG"
expect_exit 0 "jindisk check after restoring the byte" "$JINDISK" check --key-file "$KEY" "$SEC"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
result=$(scan_blocks)
[[ $result == "0 0 0 -" ]] || fail "after restoring the byte: $result"

jd_umount "$MNT" "$PID"

step "metadata tampering: the open is refused with exit 4"
cp -a "$SEC" "$TMP/sec.good"
restore() { rm -rf "$SEC" && cp -a "$TMP/sec.good" "$SEC"; }
wal=("$SEC"/wal-*)
[[ -f ${wal[0]} ]] || fail "no wal-* file in $SEC: $(ls "$SEC")"
wal_size=$(stat -c %s "${wal[0]}")
refused() {
  expect_exit 4 "mount after: $1" "$JINDISK_FUSE" --key-file "$KEY" "$SEC" "$MNT"
  [[ -s $ERR ]] || fail "mount after $1: refused without a message"
  ! fuse_mounted "$MNT" || fail "mounted despite: $1"
  log "  $1: $(head -c 200 "$ERR")"
  restore
}
flip_byte "${wal[0]}" $((wal_size / 2 + 7))
refused "a flipped byte in the middle of $(basename "${wal[0]}")"
flip_byte "${wal[0]}" 100
refused "a flipped byte at the start of $(basename "${wal[0]}")"
truncate -s $((wal_size / 2)) "${wal[0]}"
refused "$(basename "${wal[0]}") truncated to half"
rm "${wal[0]}"
refused "$(basename "${wal[0]}") deleted"
flip_byte "$SEC/header" 200
refused "a flipped byte in the header"
root_size=$(stat -c %s "$SEC/root")
flip_byte "$SEC/root" 100
flip_byte "$SEC/root" $((root_size / 2 + 100))
refused "a flipped byte in both root slots"
rm "$SEC/root"
refused "root deleted"

step "swapped data segments: reads fail with EIO, never return wrong data"
((${#segs[@]} >= 2)) || fail "expected at least 2 data segments for ${DATA_MIB} MiB, found ${#segs[@]}"
mv "${segs[0]}" "$TMP/swap"
mv "${segs[1]}" "${segs[0]}"
mv "$TMP/swap" "${segs[1]}"
jd_mount "$SEC" "$MNT" --read-only
PID=$LAST_PID
result=$(scan_blocks) || fail "block scan failed: $result"
read -r errors eio mismatches bad <<<"$result"
log "4 KiB scan with swapped segments: $errors unreadable ($eio EIO), $mismatches wrong"
((mismatches == 0)) || fail "swapped segments: $mismatches blocks returned wrong data instead of EIO"
((errors > 0 && eio == errors)) || fail "swapped segments: expected EIO on the moved blocks, got: ${result:0:200}"
jd_umount "$MNT" "$PID"
restore
expect_exit 0 "jindisk check after undoing the tampering" "$JINDISK" check --key-file "$KEY" "$SEC"

step "the host files hold no plaintext and not the key"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
python3 -c 'import sys; sys.stdout.buffer.write((b"JINDISK-PLAINTEXT-MARKER-0123456789abcdef!" * 24960)[:1 << 20])' >"$TMP/marker"
dd if="$TMP/marker" of="$IMG" bs=1M seek=60 conv=notrunc,fsync status=none
jd_umount "$MNT" "$PID"
python3 - "$SEC" "$KEY" <<'EOF' || fail "plaintext or key found in SECURE_DIR (see above)"
import os, sys
sec, key = sys.argv[1], open(sys.argv[2], "rb").read()
found = []
for name in sorted(os.listdir(sec)):
    data = open(os.path.join(sec, name), "rb").read()
    if b"JINDISK-PLAINTEXT-MARKER" in data:
        found.append(f"{name}: holds the plaintext marker")
    if key in data or key[:16] in data or key[16:] in data:
        found.append(f"{name}: holds (part of) the key")
if found:
    sys.exit("\n".join(found))
EOF

step "rollback: an older copy of the whole SECURE_DIR is refused (exit 4)"
cp -a "$SEC" "$TMP/sec.old"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
head -c $((1 << 20)) /dev/urandom >"$TMP/newer"
dd if="$TMP/newer" of="$IMG" bs=1M seek=50 conv=notrunc,fsync status=none
jd_umount "$MNT" "$PID"
rm -rf "$SEC"
cp -a "$TMP/sec.old" "$SEC"
expect_exit 4 "mount an older copy of SECURE_DIR" "$JINDISK_FUSE" --key-file "$KEY" "$SEC" "$MNT"
expect_in "$ERR" "rollback" "mount an older copy of SECURE_DIR"
! fuse_mounted "$MNT" || fail "the rolled-back disk got mounted"
expect_exit 4 "jindisk check on an older copy" "$JINDISK" check --key-file "$KEY" "$SEC"
expect_in "$ERR" "rollback" "jindisk check on an older copy"

step "--accept-rollback mounts the older state and resets the anchor"
jd_mount "$SEC" "$MNT" --accept-rollback
PID=$LAST_PID
cmp <(dd if="$IMG" bs=1M skip=50 count=1 status=none) <(head -c $((1 << 20)) /dev/zero) ||
  fail "--accept-rollback: expected the older state (zeros where newer data was written later)"
result=$(scan_blocks)
[[ $result == "0 0 0 -" ]] || fail "--accept-rollback: older data wrong: $result"
jd_umount "$MNT" "$PID"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
jd_umount "$MNT" "$PID"

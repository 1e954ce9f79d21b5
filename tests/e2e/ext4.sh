#!/usr/bin/env bash
# ext4 on a loop device over disk.img: files survive unmount/remount (with and without
# --direct-io), e2fsck is clean, and fstrim reaches the engine (live data drops, the host
# directory does not grow).
source "$(dirname "$0")/lib.sh"
require_tools losetup mkfs.ext4 e2fsck fstrim mount umount sha256sum du

SEC=$TMP/sec
MNT=$TMP/mnt
IMG=$MNT/disk.img
FS=$TMP/fs
mkdir -p "$FS"
BIG_MIB=48

# files_sums: sha256sum of every file under $FS, relative paths, sorted.
files_sums() { (cd "$FS" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

# open_fs [losetup options]: disk mounted on $MNT -> loop device -> e2fsck -fn -> ext4 on $FS.
open_fs() {
  loop_attach LOOP "$IMG" "$@"
  expect_exit 0 "e2fsck -fn $LOOP (losetup $*)" e2fsck -fn "$LOOP"
  timeout 60 mount -t ext4 "$LOOP" "$FS" || fail "mount -t ext4 $LOOP $FS failed"
}

# close_all: ext4, loop device and FUSE mount down; the daemon must exit.
close_all() {
  timeout 60 umount "$FS" || fail "umount $FS failed"
  loop_detach "$LOOP"
  jd_umount "$MNT" "$PID"
}

offline_info() {
  expect_exit 0 "jindisk info --json (offline)" "$JINDISK" info --json --key-file "$KEY" "$SEC"
  cp "$OUT" "$TMP/$1.json"
}

step "create a 768M disk, losetup --direct-io=on, mkfs.ext4"
jd_mount "$SEC" "$MNT" --size 768M
PID=$LAST_PID
loop_attach LOOP "$IMG" --direct-io=on
timeout 120 mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$LOOP" >"$OUT" 2>&1 ||
  fail "mkfs.ext4 on $LOOP failed: $(cat "$OUT")"
timeout 60 mount -t ext4 "$LOOP" "$FS" || fail "mount -t ext4 $LOOP $FS failed"

step "write large and small files, the big one to delete later"
mkdir -p "$FS/large" "$FS/small/a" "$FS/small/b"
for i in 1 2 3 4 5; do
  head -c $(((i + 1) << 20)) /dev/urandom >"$FS/large/f$i"
done
python3 - "$FS/small" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random()
for i in range(300):
    sub = "a" if i % 2 else "b"
    with open(os.path.join(root, sub, f"s{i:03d}"), "wb") as f:
        f.write(os.urandom(rng.randint(1, 24 << 10)))
EOF
head -c $((BIG_MIB << 20)) /dev/urandom >"$FS/big"
rm -f "$TMP/sums.all"
files_sums >"$TMP/sums.all"
grep -v ' ./big$' "$TMP/sums.all" >"$TMP/sums.keep"
[[ $(wc -l <"$TMP/sums.all") -eq 306 ]] || fail "expected 306 files, have $(wc -l <"$TMP/sums.all")"
sync
close_all

offline_info before
live_before=$(json_field "$TMP/before.json" live_bytes)
du_before=$(du -sb "$SEC" | cut -f1)
log "after writing: live_bytes=$live_before, du -sb SECURE_DIR=$du_before"
((live_before >= BIG_MIB << 20)) || fail "live_bytes $live_before is less than the ${BIG_MIB} MiB file written"

step "reopen, losetup without --direct-io: e2fsck clean, checksums equal"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
open_fs
(cd "$FS" && sha256sum --quiet -c "$TMP/sums.all") >"$OUT" 2>&1 ||
  fail "checksums differ after reopening (losetup without --direct-io): $(head -c 2000 "$OUT")"

step "delete the ${BIG_MIB} MiB file and fstrim: live data drops (live info while mounted)"
rm "$FS/big"
sync
timeout 120 fstrim -v "$FS" >"$OUT" 2>&1 || fail "fstrim $FS failed: $(cat "$OUT")"
log "$(cat "$OUT")"
# jindisk info without a key while mounted reads the daemon's live JSON (refreshed every 2 s).
want=$((live_before - (BIG_MIB << 20) * 3 / 4))
deadline=$((SECONDS + 15))
while true; do
  expect_exit 0 "jindisk info --json while mounted (no key)" setsid -w "$JINDISK" info --json "$SEC"
  live_now=$(json_field "$OUT" live_bytes) || fail "info --json while mounted: not JSON: $(cat "$OUT")"
  ((live_now > want)) || break
  ((SECONDS < deadline)) || fail "after deleting ${BIG_MIB} MiB and fstrim, live info still reports \
live_bytes=$live_now (before: $live_before; expected <= $want within 15 s)"
  sleep 1
done
log "live info after fstrim: live_bytes=$live_now"
# The trims become durable with the next flush; the cleaner then empties the segments they
# thinned out, and the host directory shrinks by most of the deleted file while mounted.
sync
want_du=$((du_before - (BIG_MIB << 20) / 2))
deadline=$((SECONDS + 60))
while du_now=$(du -sb "$SEC" | cut -f1); ((du_now > want_du)); do
  ((SECONDS < deadline)) || fail "60 s after deleting ${BIG_MIB} MiB, fstrim and sync, the host \
directory still holds $du_now bytes (before: $du_before; expected <= $want_du)"
  sleep 1
done
log "host directory after fstrim and cleaning (mounted): $du_now bytes"
close_all

offline_info after
live_after=$(json_field "$TMP/after.json" live_bytes)
du_after=$(du -sb "$SEC" | cut -f1)
log "after fstrim and unmount: live_bytes=$live_after, du -sb SECURE_DIR=$du_after"
((live_after <= want)) || fail "offline live_bytes after fstrim: expected <= $want \
(before $live_before minus 3/4 of ${BIG_MIB} MiB), got $live_after"
((du_after <= want_du)) ||
  fail "host directory did not shrink across delete+fstrim: du -sb $du_before -> $du_after"


step "reopen, losetup --direct-io=on: e2fsck clean, remaining files intact, big file gone"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
open_fs --direct-io=on
(cd "$FS" && sha256sum --quiet -c "$TMP/sums.keep") >"$OUT" 2>&1 ||
  fail "checksums differ after fstrim and reopening (--direct-io=on): $(head -c 2000 "$OUT")"
[[ ! -e $FS/big ]] || fail "the deleted file is back"
# Write again over the trimmed space: reuse after trim works.
head -c $((16 << 20)) /dev/urandom >"$FS/again"
again_sum=$(sha256sum <"$FS/again")
sync
close_all

step "final reopen: e2fsck clean, new file intact; jindisk check clean"
jd_mount "$SEC" "$MNT" --read-only
PID=$LAST_PID
loop_attach LOOP "$IMG" --read-only
expect_exit 0 "e2fsck -fn (read-only disk)" e2fsck -fn "$LOOP"
timeout 60 mount -t ext4 -o ro,noload "$LOOP" "$FS" || fail "read-only ext4 mount failed"
[[ $(sha256sum <"$FS/again") == "$again_sum" ]] || fail "file written after fstrim differs after reopening"
(cd "$FS" && sha256sum --quiet -c "$TMP/sums.keep") >"$OUT" 2>&1 || fail "checksums differ at the end"
close_all
expect_exit 0 "jindisk check after the ext4 workload" "$JINDISK" check --key-file "$KEY" "$SEC"

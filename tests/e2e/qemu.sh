#!/usr/bin/env bash
# QEMU's block layer on disk.img: patterned aligned and unaligned writes, buffered and O_DIRECT
# (-t none), discard and write-zeroes, verified in the same session and after a remount;
# qemu-img convert and info.
source "$(dirname "$0")/lib.sh"
require_tools qemu-io qemu-img cmp

SEC=$TMP/sec
MNT=$TMP/mnt
IMG=$MNT/disk.img
SIZE=$((256 << 20))

# qemu_io WHAT [qemu-io options] -- COMMANDS...: runs one qemu-io session with one -c per command;
# fails on a non-zero exit, on "Pattern verification failed", or if a read or write did not
# report completing.
qemu_io() {
  local what=$1 opts=() c args=() reads=0 writes=0 rc=0
  shift
  while [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  for c in "$@"; do
    args+=(-c "$c")
    case $c in
      read*) reads=$((reads + 1)) ;;
      write* | discard*) writes=$((writes + 1)) ;;
    esac
  done
  timeout 120 qemu-io -f raw "${opts[@]}" "${args[@]}" "$IMG" >"$OUT" 2>&1 || rc=$?
  if grep -q "Pattern verification failed" "$OUT"; then
    fail "$what: qemu-io found data that differs from the pattern written:
$(grep -B1 -A1 "Pattern verification failed" "$OUT" | head -40)"
  fi
  [[ $rc -eq 0 ]] || fail "$what: qemu-io exited $rc: $(head -c 3000 "$OUT")"
  local done_reads done_writes
  done_reads=$(grep -cE '^read [0-9]+/[0-9]+ bytes' "$OUT" || true)
  done_writes=$(grep -cE '^(wrote|discard) [0-9]+/[0-9]+ bytes' "$OUT" || true)
  [[ $done_reads -eq $reads && $done_writes -eq $writes ]] ||
    fail "$what: expected $reads reads and $writes writes/discards to complete, qemu-io reported \
$done_reads and $done_writes: $(head -c 3000 "$OUT")"
  if grep -qiE 'error|failed' "$OUT"; then fail "$what: qemu-io reported an error: $(head -c 3000 "$OUT")"; fi
}

# The expected content after both writing sessions, as read commands (offset length pattern).
VERIFY=(
  "read -P 0xab 0 4097"
  "read -P 0x11 4097 10000"            # unaligned, crosses 3 blocks
  "read -P 0xab 14097 1034478"
  "read -P 0x22 1048575 3"             # crosses the 1 MiB boundary
  "read -P 0 1048578 1048574"          # never written
  "read -P 0 2097152 65536"            # discarded
  "read -P 0xcd 2162688 90112"
  "read -P 0 2252800 65536"            # write -z
  "read -P 0xcd 2318336 827392"
  "read -P 0x33 3145728 4096"
  "read -P 0 3149824 100"
  "read -P 0x44 3149924 5000"          # unaligned under O_DIRECT
  "read -P 0 3154924 1039380"
  "read -P 0x5a 104857600 3145728"
  "read -P 0x77 268431360 4096"        # the last block
  "read -P 0 209715200 1048576"
)

step "create a 256M disk"
jd_mount "$SEC" "$MNT" --size 256M
PID=$LAST_PID

step "qemu-io buffered: patterned writes (aligned and unaligned), read back in the same session"
qemu_io "buffered writes" -- \
  "write -P 0xab 0 1M" \
  "write -P 0x11 4097 10000" \
  "write -P 0x22 1048575 3" \
  "write -P 0x5a 100M 3M" \
  "write -P 0x77 268431360 4096" \
  "flush" \
  "${VERIFY[@]:0:5}" "${VERIFY[@]:13:3}"

step "the pattern check detects a mismatch (sanity of this test)"
rc=0
timeout 60 qemu-io -f raw -r -c "read -P 0xab 4097 4096" "$IMG" >"$OUT" 2>&1 || rc=$?
grep -q "Pattern verification failed" "$OUT" ||
  fail "reading 0x11 data with -P 0xab should report 'Pattern verification failed'; got: $(cat "$OUT")"

step "qemu-io -t none (O_DIRECT): writes, discard, write -z, full verification"
qemu_io "O_DIRECT writes" -t none -- \
  "write -P 0xcd 2M 1M" \
  "write -P 0x33 3M 4096" \
  "write -P 0x44 3149924 5000" \
  "discard 2M 64k" \
  "write -z 2200k 64k" \
  "flush" \
  "${VERIFY[@]}"

step "qemu-img info and convert"
expect_exit 0 "qemu-img info" qemu-img info -f raw "$IMG"
expect_in "$OUT" "file format: raw" "qemu-img info"
expect_in "$OUT" "($SIZE bytes)" "qemu-img info (virtual size)"
expect_exit 0 "qemu-img convert" qemu-img convert -f raw -O raw "$IMG" "$TMP/out.raw"
[[ $(stat -c %s "$TMP/out.raw") -eq $SIZE ]] || fail "converted image has size $(stat -c %s "$TMP/out.raw"), expected $SIZE"
# dd with 1 MiB requests: cmp would read disk.img in 4 KiB requests (st_blksize), slowly.
timeout 120 cmp <(dd if="$IMG" bs=1M status=none) "$TMP/out.raw" || fail "qemu-img convert output differs from disk.img"

step "unmount, remount: the same content, buffered and O_DIRECT"
jd_umount "$MNT" "$PID"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
qemu_io "verify after remount (buffered, read-only)" -r -- "${VERIFY[@]}"
qemu_io "verify after remount (O_DIRECT, read-only)" -r -t none -- "${VERIFY[@]}"
timeout 120 cmp <(dd if="$IMG" bs=1M status=none) "$TMP/out.raw" || fail "disk.img after remount differs from the image converted before"
expect_exit 0 "qemu-img compare" qemu-img compare -f raw -F raw "$IMG" "$TMP/out.raw"
jd_umount "$MNT" "$PID"
expect_exit 0 "jindisk check" "$JINDISK" check --key-file "$KEY" "$SEC"

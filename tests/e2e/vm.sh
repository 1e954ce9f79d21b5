#!/usr/bin/env bash
# A virtual machine on the disk: Debian's kernel (linux-image-amd64) boots in QEMU with disk.img as
# its virtio drive and a tiny busybox initramfs (tests/e2e/vm/) that does what the kernel command
# line asks and reports on the serial console. The host checks every result itself too (reopen,
# loop device, e2fsck -fn, checksums).
#   1. cache=none: the guest writes files on the ext4 the host made; the host reopens the disk and
#      finds them; cache=writeback: the guest verifies them and writes more; a third boot
#      verifies everything from the guest side again.
#   2. Power-off without a flush (no unmount, no sync): after reopen the ext4 needs journal
#      replay, is clean after it, and every record the guest fsynced is intact.
#   3. kill -9 of QEMU while the guest writes and fsyncs records, then kill -9 of the daemon too:
#      the disk reopens, ext4 is clean after journal replay, every acknowledged record is intact,
#      and the guest boots and verifies its files again.
# KVM when it can boot the guest, TCG otherwise (slower: longer timeouts). Skips (77) only when
# QEMU, busybox-static or Debian's kernel package cannot be had here.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/vm/vmlib.sh"
require_tools losetup mkfs.ext4 e2fsck dumpe2fs mount umount sha256sum
vm_check_tools || skip "$VM_ERROR"

SEC=$TMP/sec
MNT=$TMP/mnt
IMG=$MNT/disk.img
FS=$TMP/fs
mkdir -p "$FS"
RECORD=16384   # bytes per record (tests/e2e/vm/init.sh)

step "guest kernel and initramfs"
vm_kernel_prepare || skip "no Debian kernel for the guest: $VM_ERROR"
VM_INITRD=$TMP/initrd.gz
vm_initramfs "$VM_INITRD" || fail "building the initramfs: $VM_ERROR"
vm_accel
vm_accel_probe "$TMP"
if [[ $VM_ACCEL == kvm ]]; then
  BOOT_TIMEOUT=90
else
  BOOT_TIMEOUT=240
fi
log "kernel $VM_KERNEL_PKG ($VM_KVER); accelerator $VM_ACCEL${VM_ACCEL_WHY:+ ($VM_ACCEL_WHY)}; \
at most ${BOOT_TIMEOUT}s a boot"

# boot NAME CACHE APPEND: boots the guest on disk.img (cache=CACHE) in the foreground; it must
# power off by itself with "DONE" as its last report and no "FAIL". Serial log: $TMP/NAME.serial.
boot() {
  local name=$1 cache=$2 append=$3 q=() rc=0 start=$SECONDS
  local serial=$TMP/$name.serial
  vm_qemu_args q "$serial" "file=$IMG,cache=$cache" "$append"
  timeout -k 5 "$BOOT_TIMEOUT" "${q[@]}" >"$TMP/$name.qemu" 2>&1 </dev/null || rc=$?
  [[ $rc -ne 124 && $rc -ne 137 ]] || fail "$name: the guest did not power off within ${BOOT_TIMEOUT}s; console:
$(tr -d '\r' <"$serial" | tail -40)"
  [[ $rc -eq 0 ]] || fail "$name: qemu exited $rc: $(cat "$TMP/$name.qemu"); console:
$(tr -d '\r' <"$serial" | tail -40)"
  vm_markers "$serial" >"$TMP/$name.markers"
  if grep -q '^FAIL' "$TMP/$name.markers" || [[ $(tail -1 "$TMP/$name.markers") != DONE ]]; then
    fail "$name: the guest reported a failure or did not finish; console:
$(tr -d '\r' <"$serial" | tail -40)"
  fi
  log "  $name: guest (cache=$cache) done in $((SECONDS - start))s"
}

# sums_of NAME DIR: the checksum list the guest printed ("SUM sha DIR/f") in boot NAME.
sums_of() {
  awk -v d="$2" '$1 == "SUM" && index($3, d "/") == 1 { print $2 "  " $3 }' "$TMP/$1.markers" >"$TMP/$2.sums"
  [[ -s $TMP/$2.sums ]] || fail "boot $1 printed no checksums for $2"
}

# host_open [ro]: reopen the disk (key $KEY), loop device (read-only with "ro", else read-write),
# LOOP set.
host_open() {
  jd_mount "$SEC" "$MNT"
  PID=$LAST_PID
  if [[ ${1:-} == ro ]]; then loop_attach LOOP "$IMG" -r --direct-io=on; else loop_attach LOOP "$IMG" --direct-io=on; fi
}

# host_check_clean: e2fsck -fn of $LOOP finds nothing.
host_check_clean() {
  expect_exit 0 "e2fsck -fn $LOOP ($1)" e2fsck -fn "$LOOP"
}

# host_verify DIR...: ext4 mounted read-only; every file of each DIR matches the checksums the
# guest printed, and the guest's own DIR.sums file on the ext4 says the same.
host_verify() {
  local d
  timeout 60 mount -t ext4 -o ro "$LOOP" "$FS" || fail "mount -o ro $LOOP failed"
  for d in "$@"; do
    (cd "$FS" && sha256sum --quiet -c "$TMP/$d.sums") >"$OUT" 2>&1 ||
      fail "host: files of $d differ from the checksums the guest printed: $(head -c 2000 "$OUT")"
    cmp -s "$FS/$d.sums" "$TMP/$d.sums" || fail "host: $d.sums on the ext4 differs from the guest's console"
  done
  timeout 60 umount "$FS" || fail "umount $FS failed"
}

# host_close: loop device and FUSE mount down, the daemon exits (final commit).
host_close() {
  loop_detach "$LOOP"
  jd_umount "$MNT" "$PID"
}

# replay_journal WHAT: the ext4 was not unmounted by the guest: it must say so (needs_recovery),
# e2fsck -fp replays the journal and fixes nothing else that matters, then e2fsck -fn is clean.
replay_journal() {
  timeout 60 dumpe2fs -h "$LOOP" >"$OUT" 2>/dev/null || fail "dumpe2fs -h $LOOP failed"
  grep -q needs_recovery "$OUT" ||
    fail "$1: the guest's ext4 should need journal recovery (no unmount), but its features are: $(grep -i features "$OUT")"
  local rc=0
  timeout 120 e2fsck -fp "$LOOP" >"$OUT" 2>&1 || rc=$?
  ((rc <= 1)) || fail "$1: e2fsck -fp (journal replay) exited $rc: $(head -c 3000 "$OUT")"
  log "  e2fsck -fp replayed the journal (exit $rc)"
  host_check_clean "$1, after journal replay"
}

# ack_count SERIAL_LOG: how many records the guest has acknowledged so far.
ack_count() {
  vm_markers "$1" | awk '$1 == "ACK" { n++ } END { print n + 0 }'
}

# verify_records NAME: every record the guest acknowledged in boot NAME ("ACK i sha") is intact in
# rec/log (ext4 mounted read-only), in the layout init.sh writes.
verify_records() {
  timeout 60 mount -t ext4 -o ro "$LOOP" "$FS" || fail "mount -o ro $LOOP failed"
  awk '$1 == "ACK" { print $2, $3 }' "$TMP/$1.markers" >"$TMP/$1.acks"
  python3 - "$FS/rec/log" "$TMP/$1.acks" "$RECORD" >"$OUT" 2>&1 <<'EOF' || fail "$1: acknowledged records are damaged or missing: $(head -c 3000 "$OUT")"
import hashlib, sys
path, acks, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(path, "rb").read()
n = 0
for line in open(acks):
    i, sha = line.split()
    i = int(i)
    rec = data[i * size:(i + 1) * size]
    head = f"jindisk vm record {i}\n".encode()
    if len(rec) != size or not rec.startswith(head) or hashlib.sha256(rec).hexdigest() != sha:
        sys.exit(f"record {i}: {len(rec)} bytes, starts {rec[:24]!r}")
    n += 1
print(f"{n} acknowledged records intact, rec/log is {len(data)} bytes")
EOF
  log "  $(cat "$OUT")"
  timeout 60 umount "$FS" || fail "umount $FS failed"
}

# ---------------------------------------------------------------------------------------------
step "create a 256M disk; mkfs.ext4 on the host through a loop device"
jd_mount "$SEC" "$MNT" --size 256M
PID=$LAST_PID
loop_attach LOOP "$IMG" --direct-io=on
timeout 120 mkfs.ext4 -q -F -L jdvm -E lazy_itable_init=0,lazy_journal_init=0 "$LOOP" >"$OUT" 2>&1 ||
  fail "mkfs.ext4 on $LOOP failed: $(cat "$OUT")"
loop_detach "$LOOP"

step "boot 1, cache=none: the guest mounts the ext4 and writes a/"
boot b1 none "jd.mode=fs jd.write=a jd.files=6 jd.kb=96"
sums_of b1 a

step "host: unmount, reopen, e2fsck -fn, the files equal the guest's checksums"
jd_umount "$MNT" "$PID"
host_open ro
host_check_clean "after boot 1"
host_verify a
loop_detach "$LOOP"

step "boot 2, cache=writeback: the guest verifies a/ and writes b/"
boot b2 writeback "jd.mode=fs jd.verify=a jd.write=b jd.files=4 jd.kb=256"
grep -qx 'VERIFIED a 6 files' "$TMP/b2.markers" || fail "boot 2 did not verify a/: $(cat "$TMP/b2.markers")"
sums_of b2 b
jd_umount "$MNT" "$PID"
host_open ro
host_check_clean "after boot 2"
host_verify a b
host_close

step "boot 3, cache=none, on the reopened disk: the guest verifies a/ and b/"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
boot b3 none "jd.mode=fs jd.verify=a,b"
grep -qx 'VERIFIED b 4 files' "$TMP/b3.markers" || fail "boot 3 did not verify b/: $(cat "$TMP/b3.markers")"

step "boot 4, cache=none: fsynced records, then power-off without unmount or sync"
boot b4 none "jd.mode=fs jd.records=12 jd.end=nosync"
(($(ack_count "$TMP/b4.serial") == 12)) || fail "boot 4 acknowledged $(ack_count "$TMP/b4.serial") records, expected 12"
jd_umount "$MNT" "$PID"
host_open
replay_journal "power-off without flush"
verify_records b4
host_verify a b
host_close

step "boot 5, cache=writeback: records written and fsynced until kill -9 of QEMU, then of the daemon"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
q=()
vm_qemu_args q "$TMP/b5.serial" "file=$IMG,cache=writeback" "jd.mode=fs jd.records=100000"
"${q[@]}" >"$TMP/b5.qemu" 2>&1 </dev/null &
QPID=$!
BG_PIDS+=("$QPID")
disown "$QPID"   # no "Killed" job notice: its end is checked below
deadline=$((SECONDS + BOOT_TIMEOUT))
until (($(ack_count "$TMP/b5.serial") >= 25)); do
  proc_alive "$QPID" || fail "qemu exited before 25 records: $(cat "$TMP/b5.qemu"); console:
$(tr -d '\r' <"$TMP/b5.serial" | tail -30)"
  ((SECONDS < deadline)) || fail "the guest did not acknowledge 25 records within ${BOOT_TIMEOUT}s"
  sleep 0.2
done
kill -9 "$QPID"
wait_gone "$QPID" 10 || fail "qemu survived kill -9"
vm_markers "$TMP/b5.serial" >"$TMP/b5.markers"
! grep -q '^FAIL' "$TMP/b5.markers" || fail "boot 5: the guest reported a failure: $(grep '^FAIL' "$TMP/b5.markers")"
log "  qemu killed after $(ack_count "$TMP/b5.serial") acknowledged records"
kill -9 "$PID"
wait_gone "$PID" 10 || fail "daemon $PID survived kill -9"
timeout 60 fusermount3 -u -z "$MNT" || fail "fusermount3 -u -z of the dead mount failed"

step "host: the disk reopens; ext4 clean after journal replay; every acknowledged record intact"
host_open
replay_journal "kill -9 of QEMU and the daemon"
verify_records b5
host_verify a b
loop_detach "$LOOP"

step "boot 6, cache=none: the guest mounts the recovered ext4 and verifies a/ and b/"
boot b6 none "jd.mode=fs jd.verify=a,b"
jd_umount "$MNT" "$PID"
expect_exit 0 "jindisk check" "$JINDISK" check --key-file "$KEY" "$SEC"
log "accelerator was $VM_ACCEL${VM_ACCEL_WHY:+ ($VM_ACCEL_WHY)}"

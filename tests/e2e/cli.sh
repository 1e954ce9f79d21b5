#!/usr/bin/env bash
# jindisk-fuse as a command: creation and reopening, key sources and exit codes, refusals (busy
# directory, busy or stale mountpoint, non-disk directory), unmounting and signals, the options
# (--read-only, --image-name, -o, --cache, --anchor, -d), modes, and the image file's semantics
# (fixed size, short I/O at the end, fallocate).
source "$(dirname "$0")/lib.sh"

SIZE=$((256 << 20))
SEC=$TMP/sec
MNT=$TMP/mnt
IMG=$MNT/disk.img
head -c $((1 << 20)) /dev/urandom >"$TMP/data1"
head -c $((1 << 20)) /dev/urandom >"$TMP/data2"

step "--help and --version"
expect_exit 0 "jindisk-fuse --help" "$JINDISK_FUSE" --help
for opt in --size --key-file --passphrase-file --image-name --read-only --cache --anchor \
  --no-anchor --accept-rollback --foreground -f --debug -d --option -o --help -h --version -V; do
  grep -qE -- "(^|[^a-z-])$opt([^a-z-]|$)" "$OUT" || fail "--help does not mention $opt; it printed:
$(cat "$OUT")"
done
expect_in "$OUT" "Usage: jindisk-fuse" "--help"
expect_exit 0 "jindisk-fuse --version" "$JINDISK_FUSE" --version
grep -qE '^jindisk-fuse [0-9]+\.[0-9]+' "$OUT" || fail "--version: expected 'jindisk-fuse X.Y...', got: $(cat "$OUT")"
expect_exit 0 "jindisk-fuse -V" "$JINDISK_FUSE" -V

step "usage errors exit 2"
expect_exit 2 "unknown option" "$JINDISK_FUSE" --no-such-option "$SEC" "$MNT"
expect_exit 2 "no arguments" "$JINDISK_FUSE"
expect_exit 2 "only SECURE_DIR" "$JINDISK_FUSE" --key-file "$KEY" "$SEC"
expect_exit 2 "three positional arguments" "$JINDISK_FUSE" --key-file "$KEY" "$SEC" "$MNT" "$TMP/extra"
mkdir -p "$MNT"
expect_exit 2 "--size 1000 (not a multiple of 4 KiB)" "$JINDISK_FUSE" --key-file "$KEY" --size 1000 "$SEC" "$MNT"
expect_exit 2 "--size banana" "$JINDISK_FUSE" --key-file "$KEY" --size banana "$SEC" "$MNT"
expect_exit 2 "--key-file with --passphrase-file" "$JINDISK_FUSE" --key-file "$KEY" --passphrase-file "$KEY" "$SEC" "$MNT"
[[ ! -e $SEC ]] || fail "a refused command line created $SEC"
! fuse_mounted "$MNT" || fail "a refused command line mounted $MNT"

step "no key and no terminal: exit 2, 'no key', nothing created"
expect_exit 2 "no key, no terminal" setsid -w "$JINDISK_FUSE" --size 256M "$SEC" "$MNT"
expect_in "$ERR" "no key" "no key, no terminal"
[[ ! -e $SEC ]] || fail "the failed keyless create left $SEC behind"
! fuse_mounted "$MNT" || fail "the keyless attempt mounted $MNT"

step "create on a missing directory"
jd_mount "$SEC" "$MNT" --size 256M
PID=$LAST_PID
size=$(stat -c %s "$IMG")
[[ $size -eq $SIZE ]] || fail "disk.img size: expected $SIZE (--size 256M), got $size"
listing=$(ls -A "$MNT")
[[ $listing == disk.img ]] || fail "mountpoint should hold only disk.img, holds: $listing"
dd if="$TMP/data1" of="$IMG" bs=1M seek=7 conv=notrunc,fsync status=none

step "modes and ownership: SECURE_DIR 0700, its files 0600, image 0600; chown EPERM; nothing else"
[[ $(stat -c %a "$SEC") == 700 ]] || fail "a new SECURE_DIR must have mode 0700, has $(stat -c %a "$SEC")"
modes=$(find "$SEC" -type f ! -perm 0600 -printf '%f %m\n')
[[ -z $modes ]] || fail "files in SECURE_DIR must have mode 0600: $modes"
[[ $(stat -c '%a %u %g' "$IMG") == "600 0 0" ]] || fail "disk.img: expected mode 600 owned by root, got $(stat -c '%a %u %g' "$IMG")"
chmod 0640 "$IMG" || fail "chmod of disk.img must be accepted"
[[ $(stat -c %a "$IMG") == 640 ]] || fail "chmod 0640 disk.img not visible: $(stat -c %a "$IMG")"
chmod 0600 "$IMG"
rc=0
chown 1:1 "$IMG" 2>"$ERR" || rc=$?
[[ $rc -ne 0 ]] || fail "chown of disk.img succeeded; expected EPERM"
expect_in "$ERR" "Operation not permitted" "chown of disk.img"
rc=0
touch "$MNT/other" 2>"$ERR" || rc=$?
[[ $rc -ne 0 && ! -e $MNT/other ]] || fail "a new file could be created in the mount"
rc=0
mkdir "$MNT/dir" 2>"$ERR" || rc=$?
[[ $rc -ne 0 && ! -e $MNT/dir ]] || fail "a directory could be created in the mount"

step "a second daemon on the same SECURE_DIR is refused with the holder's pid"
mkdir -p "$TMP/mnt2"
expect_exit 1 "second daemon on $SEC" "$JINDISK_FUSE" --key-file "$KEY" "$SEC" "$TMP/mnt2"
expect_in "$ERR" "in use by process $PID" "second daemon on $SEC (holder pid $PID)"
! fuse_mounted "$TMP/mnt2" || fail "the refused second daemon mounted $TMP/mnt2"
[[ $(daemon_pids "$SEC") == "$PID" ]] || fail "expected only daemon $PID on $SEC, found: $(daemon_pids "$SEC")"

step "a mountpoint already in use is refused"
expect_exit 1 "mount another disk on the busy $MNT" "$JINDISK_FUSE" --key-file "$KEY" --size 64M "$TMP/other" "$MNT"
[[ ! -e $TMP/other ]] || fail "the refused mount created $TMP/other"
[[ $(range_sha "$IMG" $((7 << 20)) $((1 << 20))) == $(sha256sum <"$TMP/data1" | cut -d' ' -f1) ]] ||
  fail "the disk mounted on $MNT no longer reads back its data after the refused mount"

step "no key with an existing disk: exit 2"
jd_umount "$MNT" "$PID"
expect_exit 2 "open without key and terminal" setsid -w "$JINDISK_FUSE" "$SEC" "$MNT"
expect_in "$ERR" "no key" "open without key and terminal"

step "wrong key file: exit 3"
head -c 32 /dev/urandom >"$TMP/wrong.key"
expect_exit 3 "open with a wrong key file" "$JINDISK_FUSE" --key-file "$TMP/wrong.key" "$SEC" "$MNT"
expect_in "$ERR" "wrong passphrase or key" "open with a wrong key file"
! fuse_mounted "$MNT" || fail "a wrong key mounted $MNT"
head -c 31 "$KEY" >"$TMP/short.key"
expect_exit 2 "key file of 31 bytes" "$JINDISK_FUSE" --key-file "$TMP/short.key" "$SEC" "$MNT"

step "reopen: data kept, --size ignored"
jd_mount "$SEC" "$MNT" --size 1G
PID=$LAST_PID
size=$(stat -c %s "$IMG")
[[ $size -eq $SIZE ]] || fail "reopened with --size 1G: size must stay $SIZE, got $size"
cmp <(dd if="$IMG" bs=1M skip=7 count=1 status=none) "$TMP/data1" ||
  fail "data written and fsynced before unmounting differs after reopening"

step "truncate: other sizes EINVAL, the same size ok; writes past the end EFBIG"
python3 - "$IMG" "$SIZE" <<'EOF' || fail "truncate/append semantics of disk.img (see above)"
import errno, os, sys
path, size = sys.argv[1], int(sys.argv[2])
def expect_errno(what, want, fn):
    try:
        fn()
    except OSError as e:
        if e.errno != want:
            sys.exit(f"{what}: expected {errno.errorcode[want]}, got {errno.errorcode.get(e.errno, e.errno)}")
        return
    sys.exit(f"{what}: expected {errno.errorcode[want]}, but it succeeded")
expect_errno("truncate to size/2", errno.EINVAL, lambda: os.truncate(path, size // 2))
expect_errno("truncate to size+4096", errno.EINVAL, lambda: os.truncate(path, size + 4096))
expect_errno("truncate to 0", errno.EINVAL, lambda: os.truncate(path, 0))
os.truncate(path, size)  # the same size: allowed
fd = os.open(path, os.O_WRONLY)
expect_errno("pwrite at the end", errno.EFBIG, lambda: os.pwrite(fd, b"x" * 4096, size))
os.close(fd)
if os.stat(path).st_size != size:
    sys.exit(f"size changed to {os.stat(path).st_size}")
EOF
rc=0
truncate -s 128M "$IMG" 2>"$ERR" || rc=$?
[[ $rc -ne 0 ]] || fail "truncate -s 128M disk.img succeeded; expected EINVAL"
expect_in "$ERR" "Invalid argument" "truncate -s 128M disk.img"

step "edges of the image: short reads/writes at the end, unaligned punch hole and zero range"
python3 - "$IMG" "$SIZE" <<'EOF' || fail "image edge semantics (see above)"
import ctypes, errno, os, sys
path, size = sys.argv[1], int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE = 0x01, 0x02, 0x10
fd = os.open(path, os.O_RDWR)
def check(what, cond):
    if not cond:
        sys.exit(what)
check("read crossing the end must return the 100 bytes before it", len(os.pread(fd, 4096, size - 100)) == 100)
check("read at the end must return 0 bytes", len(os.pread(fd, 4096, size)) == 0)
check("write crossing the end must write the 100 bytes before it", os.pwrite(fd, b"e" * 4096, size - 100) == 100)
check("the 100 bytes written at the end must read back", os.pread(fd, 100, size - 100) == b"e" * 100)
def fallocate_errno(mode, off, length):
    r = libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(length))
    return 0 if r == 0 else ctypes.get_errno()
check("plain fallocate inside the image must succeed", fallocate_errno(0, 0, 1 << 20) == 0)
check("plain fallocate past the end must fail with EFBIG", fallocate_errno(0, size - 4096, 8192) == errno.EFBIG)
check("fallocate KEEP_SIZE past the end must succeed", fallocate_errno(FALLOC_FL_KEEP_SIZE, size - 4096, 8192) == 0)
check("FALLOC_FL_COLLAPSE_RANGE must fail with EOPNOTSUPP", fallocate_errno(0x08, 0, 1 << 20) == errno.EOPNOTSUPP)
base = 150 << 20
os.pwrite(fd, b"\xff" * 16384, base)
def fallocate(mode, off, length):
    if libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(length)) != 0:
        sys.exit(f"fallocate({mode:#x}, {off}, {length}): {os.strerror(ctypes.get_errno())}")
fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, base + 100, 5000)    # unaligned, crosses a block
fallocate(FALLOC_FL_ZERO_RANGE, base + 9000, 3000)                        # unaligned, inside a block
want = bytearray(b"\xff" * 16384)
want[100:5100] = bytes(5000)
want[9000:12000] = bytes(3000)
os.fsync(fd)
got = os.pread(fd, 16384, base)
if got != bytes(want):
    diff = [i for i in range(16384) if got[i] != want[i]]
    sys.exit(f"after an unaligned punch hole/zero range, {len(diff)} bytes differ, first at +{diff[0]}")
if os.fstat(fd).st_size != size:
    sys.exit("fallocate changed the size")
EOF

step "fusermount3 -u: the daemon exits and an immediate remount works"
timeout 60 fusermount3 -u "$MNT" || fail "fusermount3 -u failed"
jd_mount "$SEC" "$MNT"
NEWPID=$LAST_PID
[[ $NEWPID != "$PID" ]] || fail "the remount reused the old daemon $PID"
wait_gone "$PID" 5 || fail "daemon $PID still running 5 s after fusermount3 -u"
cmp <(dd if="$IMG" bs=1M skip=7 count=1 status=none) "$TMP/data1" || fail "data differs after the immediate remount"
jd_umount "$MNT" "$NEWPID"

step "SIGTERM (foreground daemon): unmounts, exits 0, fsynced data kept"
start_fg PID "$SEC" "$MNT" "$TMP/fg.log"
dd if="$TMP/data2" of="$IMG" bs=1M seek=100 conv=notrunc,fsync status=none
kill -TERM "$PID"
wait_exit_status rc "$PID" 20
[[ $rc -eq 0 ]] || fail "daemon after SIGTERM: expected exit 0, got $rc; log: $(cat "$TMP/fg.log")"
wait_fuse_unmounted "$MNT" 5 || fail "$MNT still mounted after the daemon exited on SIGTERM"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
cmp <(dd if="$IMG" bs=1M skip=100 count=1 status=none) "$TMP/data2" ||
  fail "data fsynced before SIGTERM differs after remount"
cmp <(dd if="$IMG" bs=1M skip=7 count=1 status=none) "$TMP/data1" || fail "older data differs after SIGTERM"
jd_umount "$MNT" "$PID"

for sig in INT HUP; do
  step "SIG$sig (foreground daemon): exits 0"
  start_fg PID "$SEC" "$MNT" "$TMP/fg-$sig.log"
  kill -"$sig" "$PID"
  wait_exit_status rc "$PID" 20
  [[ $rc -eq 0 ]] || fail "daemon after SIG$sig: expected exit 0, got $rc; log: $(cat "$TMP/fg-$sig.log")"
  wait_fuse_unmounted "$MNT" 5 || fail "$MNT still mounted after SIG$sig"
done

step "-d: stays in the foreground and prints FUSE requests"
start_fg PID "$SEC" "$MNT" "$TMP/debug.log" -d
head -c 4096 "$IMG" >/dev/null
grep -q "opcode" "$TMP/debug.log" || fail "-d: no FUSE request in the output: $(head -c 2000 "$TMP/debug.log")"
kill -TERM "$PID"
wait_exit_status rc "$PID" 20
[[ $rc -eq 0 ]] || fail "-d daemon after SIGTERM: expected exit 0, got $rc"

step "umount (not fusermount3): final commit, exit 0; the daemon lifts its descriptor soft limit"
old_nofile=$(ulimit -Sn)
ulimit -Sn 1024
start_fg PID "$SEC" "$MNT" "$TMP/fg3.log"
ulimit -Sn "$old_nofile"
read -r _ _ _ soft hard _ < <(grep "^Max open files" "/proc/$PID/limits")
[[ $soft == "$hard" ]] || fail "descriptor limit of the daemon: soft $soft, hard $hard (expected equal)"
dd if="$TMP/data1" of="$IMG" bs=1M seek=120 conv=notrunc,fsync status=none
timeout 60 umount "$MNT" || fail "umount $MNT failed"
wait_exit_status rc "$PID" 20
[[ $rc -eq 0 ]] || fail "daemon after umount: expected exit 0, got $rc; log: $(cat "$TMP/fg3.log")"
expect_in "$TMP/fg3.log" "final commit done" "daemon log after umount"

step "more options: -o, --cache, --anchor; bad ones exit 2, a file as mountpoint exits 1"
jd_mount "$SEC" "$MNT" -o allow_other,default_permissions --cache 8M --anchor "$TMP/custom.anchor"
PID=$LAST_PID
awk -v m="$MNT" '$2 == m { print $4 }' /proc/mounts | grep -q allow_other ||
  fail "-o allow_other is not among the mount options: $(grep -F "$MNT" /proc/mounts)"
# default_permissions is always on: with allow_other, another user still cannot open the 0600 image.
if command -v setpriv >/dev/null; then
  rc=0
  setpriv --reuid=65534 --regid=65534 --clear-groups head -c 1 "$IMG" >/dev/null 2>"$ERR" || rc=$?
  [[ $rc -ne 0 ]] || fail "with -o allow_other, user nobody could read the 0600 image"
  expect_in "$ERR" "Permission denied" "user nobody opening the image under allow_other"
fi
cmp <(dd if="$IMG" bs=1M skip=120 count=1 status=none) "$TMP/data1" || fail "data written before umount is lost"
jd_umount "$MNT" "$PID"
[[ -s $TMP/custom.anchor ]] || fail "--anchor $TMP/custom.anchor: no anchor file written there"
expect_exit 2 "-o nonsense" "$JINDISK_FUSE" --key-file "$KEY" -o nonsense "$SEC" "$MNT"
! fuse_mounted "$MNT" || fail "-o nonsense mounted"
[[ -z $(daemon_pids "$SEC") ]] || fail "-o nonsense left a daemon: $(daemon_pids "$SEC")"
expect_exit 2 "--cache 1M" "$JINDISK_FUSE" --key-file "$KEY" --cache 1M "$SEC" "$MNT"
expect_exit 2 "--anchor with --no-anchor" "$JINDISK_FUSE" --key-file "$KEY" --anchor "$TMP/a" --no-anchor "$SEC" "$MNT"
touch "$TMP/plainfile"
expect_exit 1 "a regular file as mountpoint" "$JINDISK_FUSE" --key-file "$KEY" "$SEC" "$TMP/plainfile"
expect_exit 1 "a missing mountpoint" "$JINDISK_FUSE" --key-file "$KEY" "$SEC" "$TMP/nowhere"
expect_exit 1 "a regular file as SECURE_DIR" "$JINDISK_FUSE" --key-file "$KEY" "$TMP/plainfile" "$MNT"

step "--read-only: writes refused (EROFS), reads work, host directory unchanged"
# SECURE_DIR without the lock file (it gets the pid), and the anchor.
snapshot() {
  (cd "$SEC" && find . -type f ! -name lock -print0 | sort -z | xargs -0 sha256sum)
  (cd "$XDG_STATE_HOME/jindisk" && sha256sum ./*.anchor)
}
before=$(snapshot)
jd_mount "$SEC" "$MNT" --read-only
PID=$LAST_PID
python3 - "$IMG" <<'EOF' || fail "--read-only: opening disk.img for writing must fail with EROFS"
import errno, os, sys
for flags, name in ((os.O_WRONLY, "O_WRONLY"), (os.O_RDWR, "O_RDWR")):
    try:
        os.close(os.open(sys.argv[1], flags))
    except OSError as e:
        if e.errno != errno.EROFS:
            sys.exit(f"{name}: expected EROFS, got {errno.errorcode.get(e.errno, e.errno)}")
    else:
        sys.exit(f"{name}: open succeeded")
EOF
rc=0
dd if=/dev/zero of="$IMG" bs=4096 count=1 conv=notrunc status=none 2>"$ERR" || rc=$?
[[ $rc -ne 0 ]] || fail "--read-only: dd wrote to disk.img"
expect_in "$ERR" "Read-only file system" "--read-only: dd writing to disk.img"
cmp <(dd if="$IMG" bs=1M skip=7 count=1 status=none) "$TMP/data1" || fail "--read-only: reads return wrong data"
cmp <(dd if="$IMG" bs=1M skip=100 count=1 status=none) "$TMP/data2" || fail "--read-only: reads return wrong data"
jd_umount "$MNT" "$PID"
after=$(snapshot)
[[ $before == "$after" ]] || fail "--read-only mount changed the host directory:
before:
$before
after:
$after"
expect_exit 2 "--read-only on a missing directory" "$JINDISK_FUSE" --key-file "$KEY" --read-only "$TMP/nodisk" "$MNT"
[[ ! -e $TMP/nodisk ]] || fail "--read-only on a missing directory created it"

step "--image-name"
jd_mount "$SEC" "$MNT" --image-name vm.raw
PID=$LAST_PID
listing=$(ls -A "$MNT")
[[ $listing == vm.raw ]] || fail "--image-name vm.raw: mountpoint holds '$listing'"
cmp <(dd if="$MNT/vm.raw" bs=1M skip=7 count=1 status=none) "$TMP/data1" || fail "--image-name: wrong data"
jd_umount "$MNT" "$PID"
expect_exit 2 "--image-name with a slash" "$JINDISK_FUSE" --key-file "$KEY" --image-name a/b "$SEC" "$MNT"

step "a non-empty directory that is no disk: exit 1, untouched"
mkdir -p "$TMP/notdisk/sub"
echo "precious" >"$TMP/notdisk/file.txt"
head -c 5000 /dev/urandom >"$TMP/notdisk/sub/blob"
list_tree() { (cd "$1" && find . -printf '%p %s %m %T@\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
before=$(list_tree "$TMP/notdisk")
expect_exit 1 "mount a non-disk directory" "$JINDISK_FUSE" --key-file "$KEY" --size 64M "$TMP/notdisk" "$MNT"
expect_in "$ERR" "not empty" "mount a non-disk directory"
[[ $(list_tree "$TMP/notdisk") == "$before" ]] || fail "the refused non-disk directory was modified"
! fuse_mounted "$MNT" || fail "a non-disk directory got mounted"

step "passphrases: wrong one exits 3, right one opens (env and --passphrase-file)"
expect_exit 0 "create with JINDISK_PASSPHRASE" env JINDISK_PASSPHRASE='correct horse' \
  "$JINDISK_FUSE" --size 64M "$TMP/psec" "$MNT"
jd_adopt "$TMP/psec" "$MNT"
jd_umount "$MNT" "$LAST_PID"
expect_exit 3 "open with a wrong passphrase" env JINDISK_PASSPHRASE='battery staple' \
  "$JINDISK_FUSE" "$TMP/psec" "$MNT"
expect_in "$ERR" "wrong passphrase or key" "open with a wrong passphrase"
! fuse_mounted "$MNT" || fail "a wrong passphrase mounted $MNT"
expect_exit 3 "open a passphrase disk with a key file" "$JINDISK_FUSE" --key-file "$KEY" "$TMP/psec" "$MNT"
printf 'correct horse\n' >"$TMP/pass"
expect_exit 0 "open with the right --passphrase-file" "$JINDISK_FUSE" --passphrase-file "$TMP/pass" "$TMP/psec" "$MNT"
jd_adopt "$TMP/psec" "$MNT"
jd_umount "$MNT" "$LAST_PID"

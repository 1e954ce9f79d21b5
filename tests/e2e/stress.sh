#!/usr/bin/env bash
# Concurrency stress through FUSE: fio with several jobs at once - four through a loop device
# (--direct-io=on, libaio, 16 requests in flight each, fsync every 32 writes) and two on disk.img
# itself (pwrite, fsync every 8 writes) - writing random 4-64 KiB blocks with verify=crc32c (a
# verify backlog while writing, then a full verify pass), while a trimmer discards random ranges
# of a region filled with known data. Then unmount, `jindisk check`, mount again, and verify
# everything once more: fio --verify_only replays the same writes and checks every block, the
# trimmed ranges read as zeros and the rest of the trim region as written.
source "$(dirname "$0")/lib.sh"
require_tools fio losetup blkdiscard dd cmp

SEC=$TMP/sec
MNT=$TMP/mnt
IMG=$MNT/disk.img
TRIM_OFF=$((768 << 20))     # the trim region: 64 MiB of known data at 768 MiB
TRIM_LEN=$((64 << 20))
TRIMS=48                    # random 64 KiB-aligned ranges of 64 KiB .. 1 MiB
head -c $TRIM_LEN /dev/urandom >"$TMP/trimref"

# The job file: the same for the write run and the verify-only run after the remount (fio replays
# the same random offsets and sizes: randrepeat, the default). Regions do not overlap.
cat >"$TMP/stress.fio" <<'EOF'
[global]
rw=randwrite
bsrange=4k-64k
randrepeat=1
verify=crc32c
verify_fatal=1
verify_dump=0
verify_backlog=256
verify_state_save=0

[loop]
filename=${LOOPDEV}
ioengine=libaio
iodepth=16
direct=1
size=48M
offset_increment=48M
numjobs=4
fsync=32

[file]
filename=${IMGFILE}
ioengine=psync
offset=256M
size=8M
offset_increment=32M
numjobs=2
fsync=8
EOF

# fio_run OUTFILE [fio options...]: runs the job file; fails on any fio error.
fio_run() {
  local out=$1
  shift
  LOOPDEV=$LOOP IMGFILE=$IMG timeout 600 fio "$TMP/stress.fio" --output-format=json --output="$out" "$@" \
    >"$out.err" 2>&1 || fail "fio $* failed: $(head -c 3000 "$out.err"; grep -m5 -i 'verify\|error' "$out")"
}

# fio_sum FILE: "JOBS WRITTEN_BYTES VERIFIED_BYTES ERRORS" over all jobs of a fio JSON output.
fio_sum() {
  python3 -c '
import json, sys
t = open(sys.argv[1]).read()
d = json.loads(t[t.index("{"):])
j = d["jobs"]
print(len(j), sum(x["write"]["io_bytes"] for x in j), sum(x["read"]["io_bytes"] for x in j),
      sum(x["error"] for x in j))' "$1"
}

step "create a 1G disk; loop device with direct I/O; fill the trim region with known data"
jd_mount "$SEC" "$MNT" --size 1G
PID=$LAST_PID
loop_attach LOOP "$IMG" --direct-io=on
dd if="$TMP/trimref" of="$LOOP" bs=1M seek=$((TRIM_OFF >> 20)) oflag=direct conv=fsync status=none

step "fio: 6 jobs writing with verify=crc32c and fsyncs; $TRIMS discards at the same time"
start=$SECONDS
python3 - "$LOOP" "$TMP/trims" "$TRIM_OFF" "$TRIM_LEN" "$TRIMS" <<'EOF' >"$TMP/trimmer.log" 2>&1 &
import fcntl, os, random, struct, sys, time
dev, log, off, length, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
BLKDISCARD = 0x1277
fd = os.open(dev, os.O_RDWR)
with open(log, "w") as out:
    for i in range(n):
        size = random.randint(1, 16) * 65536
        start = off + random.randrange(0, (length - size) // 65536 + 1) * 65536
        fcntl.ioctl(fd, BLKDISCARD, struct.pack("QQ", start, size))
        out.write(f"{start} {size}\n")
        out.flush()
        if i % 8 == 7:
            os.fsync(fd)        # a flush through the loop device: commits the discards
        time.sleep(random.random() * 0.2)
os.fsync(fd)
EOF
TPID=$!
BG_PIDS+=("$TPID")
fio_run "$TMP/fio1.json"
wait_exit_status rc "$TPID" 120
[[ $rc -eq 0 ]] || fail "the trimmer failed: $(cat "$TMP/trimmer.log")"
BG_PIDS=()
read -r jobs written verified errors <<<"$(fio_sum "$TMP/fio1.json")"
((jobs == 6 && errors == 0 && written > 0 && verified >= written)) ||
  fail "fio: $jobs jobs, $written bytes written, $verified verified, errors $errors"
log "fio: $jobs jobs wrote $((written >> 20)) MiB and verified $((verified >> 20)) MiB (backlog and final pass) \
in $((SECONDS - start)) s; $(wc -l <"$TMP/trims") discards"

step "unmount; jindisk check; mount again"
loop_detach "$LOOP"
jd_umount "$MNT" "$PID"
expect_exit 0 "jindisk check after the stress run" "$JINDISK" check --key-file "$KEY" "$SEC"
log "$(tail -1 "$OUT")"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
loop_attach LOOP "$IMG" --direct-io=on

step "after the remount: fio --verify_only, and the trim region"
fio_run "$TMP/fio2.json" --verify_only
read -r jobs written2 verified2 errors <<<"$(fio_sum "$TMP/fio2.json")"
# (--verify_only reports as "written" what it would have written.)
((jobs == 6 && errors == 0 && verified2 == written)) ||
  fail "fio --verify_only: $jobs jobs, $written2 bytes written, $verified2 verified, errors $errors"
# fio's verify replays the writes: a block written twice is checked once, at its last content.
log "fio --verify_only: $jobs jobs verified $((verified2 >> 20)) MiB after the remount"
dd if="$LOOP" of="$TMP/trimgot" bs=1M skip=$((TRIM_OFF >> 20)) count=$((TRIM_LEN >> 20)) iflag=direct status=none
python3 - "$TMP/trimref" "$TMP/trimgot" "$TMP/trims" <<'EOF' || fail "the trim region after the remount is wrong"
import sys
ref, got = bytearray(open(sys.argv[1], "rb").read()), open(sys.argv[2], "rb").read()
base = 768 << 20
for line in open(sys.argv[3]):
    start, size = map(int, line.split())
    ref[start - base:start - base + size] = bytes(size)
if bytes(ref) != got:
    bad = [i for i in range(0, len(got), 4096) if got[i:i + 4096] != ref[i:i + 4096]]
    sys.exit(f"{len(bad)} blocks differ from (known data with the discarded ranges zeroed), "
             f"first at offset {base + bad[0]}")
print(f"trim region: {len(got) >> 20} MiB as expected")
EOF
loop_detach "$LOOP"
jd_umount "$MNT" "$PID"
expect_exit 0 "jindisk check at the end" "$JINDISK" check --key-file "$KEY" "$SEC"
log "RESULT stress: 6 fio jobs, $((written >> 20)) MiB written with fsyncs, $((verified >> 20)) MiB verified online, \
$((verified2 >> 20)) MiB verified again after the remount, $TRIMS discards checked, jindisk check clean; $((SECONDS - E2E_START)) s"

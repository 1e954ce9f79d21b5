#!/usr/bin/env bash
# Sync atomicity against snapshot ("eviction") attacks, AtomicDisk (FAST'25): a client writes
# generation after generation into a region of disk.img and fsyncs after each; at random instants
# the daemon is frozen (SIGSTOP: every thread stops), SECURE_DIR is copied, and the daemon goes
# on (SIGCONT). Every copy, opened without the anchor, must pass `jindisk check` and hold exactly
# one generation in the whole region - a generation that a completed fsync produced: not older
# than the last fsync acknowledged before the freeze, not newer than the one in progress. Every
# second generation also writes an 8 MiB filler region three times over (24 MiB, the first two
# passes with intermediate content that no fsync ever covers): the engine seals and drains
# buffered blocks to the host long before a flush (the host grows by ~8 MB during the first
# unflushed pass), so copies hold sealed blocks of unflushed generations (the eviction case), and
# an intermediate version inside one generation must never show either.
#
# FREEZES (default 60) instants are tried, within FREEZE_SECONDS (default 80) of freezing; at
# least FREEZE_MIN (default 10) must fit, else the machine is too slow to say anything.
source "$(dirname "$0")/lib.sh"
require_tools cp

FREEZES=${FREEZES:-60}
FREEZE_SECONDS=${FREEZE_SECONDS:-80}
FREEZE_MIN=${FREEZE_MIN:-10}
((FREEZE_MIN <= FREEZES)) || FREEZE_MIN=$FREEZES

SEC=$TMP/sec
MNT=$TMP/mnt
IMG=$MNT/disk.img
COPY=$TMP/copy
CMNT=$TMP/cmnt
mkdir -p "$CMNT"

STAMP_BLOCKS=256     # LBAs 0..255: rewritten by every generation
FILL_BASE=1024       # LBAs 1024..: 8 MiB written FILL_PASSES times by every BIG_EVERY-th generation
FILL_BLOCKS=2048
FILL_PASSES=3
BIG_EVERY=2
INTERMEDIATE=1000000000  # + g: the stamp of the filler passes before the last one

# gen.py: the content of block LBA in generation G (32-byte stamp repeated: a torn or mixed block
# never matches), shared by the writer and the verifier.
cat >"$TMP/gen.py" <<'EOF'
def block(g, lba):
    return (b"JDFRZ g=%010d l=%010d\n" % (g, lba)) * 128  # 32 bytes x 128

def parse(b):
    # -> (g, lba) of a well-formed block, None for zeros, "torn" for anything else.
    if b == bytes(4096):
        return None
    try:
        g, lba = int(b[8:18]), int(b[21:31])
    except ValueError:
        return "torn"
    return (g, lba) if b == block(g, lba) else "torn"
EOF

# writer.py IMG LOG STOPFILE: until STOPFILE exists, generation g = 1, 2, ...: "S g" to LOG; every
# stamp block, and on big generations each filler MiB FILL_PASSES times (earlier passes stamped
# INTERMEDIATE + g), in a random interleaved order; fsync; "D g" to LOG.
cat >"$TMP/writer.py" <<EOF
import os, random, sys
sys.path.insert(0, "$TMP")
from gen import block
img, log, stop = sys.argv[1], sys.argv[2], sys.argv[3]
fd = os.open(img, os.O_RDWR)
lg = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
rnd = random.Random()
g = 1
while not os.path.exists(stop):
    os.write(lg, b"S %d\n" % g)
    items = [("s", lba) for lba in range($STAMP_BLOCKS)]
    if g % $BIG_EVERY == 0:
        items += [("f", $FILL_BASE + c * 256) for c in range($FILL_BLOCKS // 256)] * $FILL_PASSES
    rnd.shuffle(items)
    passes = {}
    for kind, lba in items:
        if kind == "s":
            os.pwrite(fd, block(g, lba), lba * 4096)
        else:
            passes[lba] = passes.get(lba, 0) + 1
            stamp = g if passes[lba] == $FILL_PASSES else $INTERMEDIATE + g
            os.pwrite(fd, b"".join(block(stamp, l) for l in range(lba, lba + 256)), lba * 4096)
    os.fsync(fd)
    os.write(lg, b"D %d\n" % g)
    g += 1
EOF

# verify.py IMG LOW HIGH: the whole stamp region holds one generation g with LOW <= g <= HIGH,
# and every filler block holds the last big generation <= g (zeros before the first), never an
# intermediate pass.
# Prints g.
cat >"$TMP/verify.py" <<EOF
import os, random, sys
sys.path.insert(0, "$TMP")
from gen import block, parse
img, low, high = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(img, os.O_RDONLY)
stamps = os.pread(fd, $STAMP_BLOCKS * 4096, 0)
seen = {}
for lba in range($STAMP_BLOCKS):
    p = parse(stamps[lba * 4096:(lba + 1) * 4096])
    if p is None or p == "torn" or p[1] != lba:
        seen.setdefault(str(p), []).append(lba)
    else:
        seen.setdefault(p[0], []).append(lba)
if len(seen) != 1:
    sys.exit("the region mixes states: " + "; ".join(
        f"generation {k}: {len(v)} blocks (e.g. LBA {v[0]})" for k, v in sorted(seen.items(), key=str)))
g = next(iter(seen))
if not isinstance(g, int):
    sys.exit(f"the region holds no generation: {g} in all {$STAMP_BLOCKS} blocks")
if not low <= g <= high:
    sys.exit(f"the region holds generation {g}, outside [{low}, {high}] (the last acknowledged "
             f"before the freeze .. the one in progress)")
fill_gen = g // $BIG_EVERY * $BIG_EVERY
for c in range($FILL_BLOCKS // 256):
    first = $FILL_BASE + c * 256
    got = os.pread(fd, 256 * 4096, first * 4096)
    for i in range(256):
        b = got[i * 4096:(i + 1) * 4096]
        if b != (bytes(4096) if fill_gen == 0 else block(fill_gen, first + i)):
            sys.exit(f"generation {g}: filler LBA {first + i} holds {parse(b)} (intermediate: "
                     f"{$INTERMEDIATE}+g), expected generation {fill_gen}")
print(g)
EOF

# last_gen LOG S|D: the last generation started (S) or acknowledged (D) according to LOG.
last_gen() { awk -v k="$2" '$1 == k { g = $2 } END { print g + 0 }' "$1"; }

# all_stopped PID: true once every thread of PID is in the stopped state.
all_stopped() {
  local st
  for st in /proc/"$1"/task/*/stat; do
    [[ $(awk '{ sub(/^.*\) /, ""); print $1 }' "$st" 2>/dev/null) == [tT] ]] || return 1
  done
}

step "create a 256M disk; the client writes generation 1 and fsyncs"
jd_mount "$SEC" "$MNT" --size 256M
PID=$LAST_PID
LOGF=$TMP/writer.log
: >"$LOGF"
python3 "$TMP/writer.py" "$IMG" "$LOGF" "$TMP/stop" >"$TMP/writer.out" 2>&1 &
WPID=$!
BG_PIDS+=("$WPID")
deadline=$((SECONDS + 30))
until (($(last_gen "$LOGF" D) >= 1)); do
  proc_alive "$WPID" || fail "the writer died: $(cat "$TMP/writer.out")"
  ((SECONDS < deadline)) || fail "the writer did not complete generation 1 in 30 s"
  sleep 0.05
done

step "freeze the daemon at up to $FREEZES random instants; copy SECURE_DIR; open each copy"
tried=0
at_acked=0      # copies holding the last generation acknowledged before the freeze
ahead=0         # copies holding a later one (its fsync finished on the host, not yet acknowledged)
during_big=0    # freezes while a generation with the 24 MiB of filler writes was in progress
max_copy=0
freeze_start=$SECONDS
while ((tried < FREEZES && SECONDS - freeze_start < FREEZE_SECONDS)); do
  sleep "0.$(printf '%03d' $((RANDOM % 300)))"
  proc_alive "$WPID" || fail "the writer died: $(cat "$TMP/writer.out")"
  low=$(last_gen "$LOGF" D)
  kill -STOP "$PID"
  n=0
  until all_stopped "$PID"; do
    # A thread inside a host write or sync stops only when that I/O ends, which takes longer
    # while other tests load the same host disk.
    ((++n < 1000)) || { kill -CONT "$PID"; fail "daemon $PID did not stop within 10 s of SIGSTOP"; }
    sleep 0.01
  done
  rm -rf "$COPY"
  cp -a "$SEC" "$COPY" || { kill -CONT "$PID"; fail "cp -a of the frozen SECURE_DIR failed"; }
  high=$(last_gen "$LOGF" S)
  kill -CONT "$PID"
  ((tried += 1))
  ((high % BIG_EVERY == 0)) && ((during_big += 1))
  size=$(du -sb "$COPY" | cut -f1)
  ((size > max_copy)) && max_copy=$size

  expect_exit 0 "jindisk check of copy $tried (frozen between generations $low and $high)" \
    "$JINDISK" check --no-anchor --key-file "$KEY" "$COPY"
  expect_exit 0 "read-only mount of copy $tried" \
    "$JINDISK_FUSE" --no-anchor --read-only --key-file "$KEY" "$COPY" "$CMNT"
  jd_adopt "$COPY" "$CMNT"
  cpid=$LAST_PID
  got=$(timeout 120 python3 "$TMP/verify.py" "$CMNT/disk.img" "$low" "$high" 2>&1) ||
    fail "copy $tried (frozen after generation $low was acknowledged, with $high in progress): $got"
  jd_umount "$CMNT" "$cpid"
  # It is gone: forget its pid, which may be reused (pid_max can be 32768): new_daemon_pid skips
  # every recorded pid, and hundreds of copies are opened.
  kept=()
  for p in "${DAEMON_PIDS[@]}"; do [[ $p == "$cpid" ]] || kept+=("$p"); done
  DAEMON_PIDS=("${kept[@]}")
  if ((got == low)); then ((at_acked += 1)); else ((ahead += 1)); fi
  if ((tried % 25 == 0)); then log "  $tried instants so far"; fi
done
elapsed=$((SECONDS - freeze_start))
((tried >= FREEZE_MIN)) || fail "only $tried freezes fit in ${FREEZE_SECONDS} s (at least $FREEZE_MIN wanted)"

# Not a signal: its close() would be a FUSE flush and commit a half-written generation.
touch "$TMP/stop"
wait_exit_status rc "$WPID" 60
[[ $rc -eq 0 ]] || fail "the writer exited $rc: $(cat "$TMP/writer.out")"
BG_PIDS=()
gens=$(last_gen "$LOGF" D)
log "RESULT freeze: $tried instants in ${elapsed}s, every copy opened (jindisk check 0) to one flushed generation: \
$at_acked at the last acknowledged, $ahead at the one being acknowledged; $during_big during a generation with filler; \
$gens generations written; largest copy $max_copy bytes"

step "the live disk: unmount, check with the anchor, and it holds the last generation"
jd_umount "$MNT" "$PID"
expect_exit 0 "jindisk check of the live disk" "$JINDISK" check --key-file "$KEY" "$SEC"
jd_mount "$SEC" "$MNT"
PID=$LAST_PID
got=$(timeout 120 python3 "$TMP/verify.py" "$IMG" "$gens" "$gens" 2>&1) || fail "the live disk: $got"

step "the verifier itself: one block of another generation is caught as a mixed state"
python3 -c 'import os, sys
sys.path.insert(0, sys.argv[1])
from gen import block
fd = os.open(sys.argv[2], os.O_WRONLY)
os.pwrite(fd, block(int(sys.argv[3]) + 1, 77), 77 * 4096)' "$TMP" "$IMG" "$gens"
rc=0
got=$(timeout 120 python3 "$TMP/verify.py" "$IMG" 0 $((gens + 1)) 2>&1) || rc=$?
[[ $rc -ne 0 && $got == *"mixes states"* ]] || fail "verify.py missed a mixed region (exit $rc): $got"
jd_umount "$MNT" "$PID"

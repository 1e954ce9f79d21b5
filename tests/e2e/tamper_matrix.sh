#!/usr/bin/env bash
# The tamper matrix through the daemon, end to end: every host file kind (header, root, seg-*,
# wal-*, sst-*, man-*) x {flip a byte in its header / body / tag area, truncate, delete, replace
# with an older copy, swap two files of the kind}, plus replaying an older root slot and restoring
# the whole directory with the anchor kept. Each case starts from the same victim directory and
# anchor; then `jindisk check` must report it (exit 4) and jindisk-fuse must either refuse the
# mount (exit 4) or mount and fail some reads with EIO - every read that succeeds must return
# exactly the data written (0 wrong blocks). Prints one line per case and a table at the end.
#
# Then confidentiality and anonymity on the host files: no plaintext pattern, key or LBA in any
# host file; the same block written to 256 LBAs and 16 times to one LBA gives 272 ciphertext blocks
# with nothing in common, and each rewrite of the LBA lands at a new host block.
source "$(dirname "$0")/lib.sh"
require_tools dd cp cmp

SEC=$TMP/sec
MNT=$TMP/mnt
IMG=$MNT/disk.img
VICTIM=$TMP/victim      # the directory every case starts from
OLD=$TMP/old            # the same disk one unmount earlier
REGION_MIB=80           # the data region compared after each case

# flip_byte FILE OFFSET: XORs one byte with 0x01 in place.
flip_byte() {
  python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDWR); off = int(sys.argv[2])
b = os.pread(fd, 1, off)
assert len(b) == 1, "offset beyond the end"
os.pwrite(fd, bytes([b[0] ^ 1]), off)' "$1" "$2"
}

# scan: reads the region of disk.img (256 KiB requests, 4 KiB after an error) and compares it with
# $TMP/ref; prints "EIO_BLOCKS OTHER_ERRORS WRONG_BLOCKS".
scan() {
  timeout 300 python3 - "$IMG" "$TMP/ref" <<'EOF'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
ref = open(sys.argv[2], "rb")
eio = other = wrong = 0
CH = 256 << 10
size = os.fstat(ref.fileno()).st_size
for off in range(0, size, CH):
    want = ref.read(CH)
    try:
        got = os.pread(fd, CH, off)
        parts = [(got, want)]
    except OSError:
        parts = []
        for i in range(0, CH, 4096):
            try:
                parts.append((os.pread(fd, 4096, off + i), want[i:i + 4096]))
            except OSError as e:
                if e.errno == errno.EIO: eio += 1
                else: other += 1
    for g, w in parts:
        for i in range(0, len(w), 4096):
            wrong += g[i:i + 4096] != w[i:i + 4096]
print(eio, other, wrong)
EOF
}

# names DIR PREFIX: the files in DIR whose names start with PREFIX, sorted.
names() { (cd "$1" && for f in "$2"*; do if [[ -e $f ]]; then echo "$f"; fi; done); }

# ---------------------------------------------------------------------------------------------
step "build the victim: 36 MiB, then unmount (the older copy), then 4 MiB rewritten + 32 MiB more"
# A 4 MiB cache keeps the index memtable at 8192 entries, so the victim has SSTs and a manifest.
head -c $((REGION_MIB << 20)) /dev/zero >"$TMP/ref"
head -c $((36 << 20)) /dev/urandom | dd of="$TMP/ref" conv=notrunc status=none
jd_mount "$SEC" "$MNT" --size 256M --cache 4M
PID=$LAST_PID
dd if="$TMP/ref" of="$IMG" bs=1M count=36 conv=notrunc,fsync status=none
jd_umount "$MNT" "$PID"
cp -a "$SEC" "$OLD"
head -c $((4 << 20)) /dev/urandom | dd of="$TMP/ref" bs=1M seek=8 conv=notrunc status=none
head -c $((32 << 20)) /dev/urandom | dd of="$TMP/ref" bs=1M seek=48 conv=notrunc status=none
jd_mount "$SEC" "$MNT" --cache 4M
PID=$LAST_PID
dd if="$TMP/ref" of="$IMG" bs=1M skip=8 seek=8 count=4 conv=notrunc,fsync status=none
dd if="$TMP/ref" of="$IMG" bs=1M skip=48 seek=48 count=32 conv=notrunc,fsync status=none
result=$(scan)
[[ $result == "0 0 0" ]] || fail "the untampered victim reads wrong: $result"
jd_umount "$MNT" "$PID"
expect_exit 0 "jindisk check of the untampered victim" "$JINDISK" check --key-file "$KEY" "$SEC"
mv "$SEC" "$VICTIM"
ANCHOR=$(ls "$XDG_STATE_HOME"/jindisk/*.anchor)
cp "$ANCHOR" "$TMP/anchor.victim"
log "victim: $(names "$VICTIM" "" | tr '\n' ' ')"
log "older copy: $(names "$OLD" "" | tr '\n' ' ')"

for k in seg wal sst man; do
  [[ -n $(names "$VICTIM" "$k-") ]] || fail "the victim has no $k-* file: $(ls "$VICTIM")"
done

# ---------------------------------------------------------------------------------------------
# The cases. case_run KIND ATTACK CMD...: a fresh copy of the victim in $SEC and the victim's
# anchor, CMD tampers with $SEC, then check and mount must detect it.
declare -A CASES REFUSED EIOED HARMLESS
CASE_N=0
CASE_CODES="4"   # the exit codes that count as "refused" (check and mount) for the next case
CASE_MAY_PASS=0  # 1: the next case may also go unnoticed (check 0, every read right)
case_run() {
  local kind=$1 what=$2
  shift 2
  rm -rf "$SEC"
  cp -a "$VICTIM" "$SEC"
  cp "$TMP/anchor.victim" "$ANCHOR"
  "$@"
  ((CASE_N += 1))
  CASES[$kind]=$((${CASES[$kind]:-0} + 1))
  local crc=0 mrc=0 outcome
  timeout 120 "$JINDISK" check --key-file "$KEY" "$SEC" >"$OUT" 2>"$ERR" </dev/null || crc=$?
  [[ " $CASE_CODES " == *" $crc "* ]] || { ((CASE_MAY_PASS)) && ((crc == 0)); } || fail "$kind: $what: jindisk check exited $crc, expected $CASE_CODES: \
$(tail -c 500 "$OUT") $(tail -c 500 "$ERR")"
  cp "$TMP/anchor.victim" "$ANCHOR"
  timeout 60 "$JINDISK_FUSE" --key-file "$KEY" "$SEC" "$MNT" >"$OUT" 2>"$ERR" </dev/null || mrc=$?
  if [[ $mrc -ne 0 && " $CASE_CODES " == *" $mrc "* ]]; then
    ! fuse_mounted "$MNT" || fail "$kind: $what: exit $mrc but mounted"
    [[ -s $ERR ]] || fail "$kind: $what: refused without a message"
    REFUSED[$kind]=$((${REFUSED[$kind]:-0} + 1))
    outcome="refused at open (exit $mrc): $(head -1 "$ERR" | cut -c1-150)"
  elif [[ $mrc -eq 0 ]]; then
    jd_adopt "$SEC" "$MNT"
    local pid=$LAST_PID eio other wrong
    read -r eio other wrong <<<"$(scan)"
    jd_umount "$MNT" "$pid"
    ((wrong == 0)) || fail "$kind: $what: $wrong blocks returned WRONG DATA ($eio EIO)"
    ((other == 0)) || fail "$kind: $what: $other reads failed with an error other than EIO"
    if ((eio > 0)); then
      EIOED[$kind]=$((${EIOED[$kind]:-0} + 1))
      outcome="mounted; $eio blocks EIO, 0 wrong"
    elif ((CASE_MAY_PASS)); then
      HARMLESS[$kind]=$((${HARMLESS[$kind]:-0} + 1))
      outcome="mounted; every block read correctly (no effect)"
    else
      fail "$kind: $what: mounted and every block read correctly: the attack went unnoticed"
    fi
  else
    fail "$kind: $what: jindisk-fuse exited $mrc (expected 4, or 0 with EIO on reads): $(head -c 500 "$ERR")"
  fi
  log "case $CASE_N: $kind: $what -> check $crc; $outcome"
  CASE_CODES="4"
  CASE_MAY_PASS=0
}

truncate_half() { truncate -s $(($(stat -c %s "$1") / 2)) "$1"; }
swap_files() { mv "$1" "$TMP/swap.tmp" && mv "$2" "$1" && mv "$TMP/swap.tmp" "$2"; }

# header (256 bytes): magic | wrapped master key | checksum
case_run header "flip a byte in its header area (magic)" flip_byte "$SEC/header" 0
case_run header "flip a byte in its body (wrapped master key)" flip_byte "$SEC/header" 110
case_run header "flip a byte in its tag area (checksum)" flip_byte "$SEC/header" 240
case_run header "truncate to half" truncate_half "$SEC/header"
# Without a header the directory is no disk at all: exit 1 ("holds no disk"), not damage.
CASE_CODES="1 4"
case_run header "delete" rm "$SEC/header"

# root: two 4096-byte slots; the newest has the higher epoch (u64 at 12). In the newest slot:
# header area (epoch), body (payload), tag (16 bytes after the payload of length u32 at 20).
newest_slot() {
  python3 -c 'import struct, sys
d = open(sys.argv[1], "rb").read()
e = [struct.unpack_from("<Q", d, s * 4096 + 12)[0] for s in (0, 1)]
s = 0 if e[0] > e[1] else 1
L = struct.unpack_from("<I", d, s * 4096 + 20)[0]
print(s * 4096, s * 4096 + 48 + L)' "$1"
}
read -r SLOT SLOT_TAG <<<"$(newest_slot "$VICTIM/root")"
case_run root "flip a byte in the newest slot's header area (epoch)" flip_byte "$SEC/root" $((SLOT + 12))
case_run root "flip a byte in the newest slot's body (payload)" flip_byte "$SEC/root" $((SLOT + 200))
case_run root "flip a byte in the newest slot's tag" flip_byte "$SEC/root" $((SLOT_TAG + 3))
flip_both_slots() { flip_byte "$SEC/root" 100 && flip_byte "$SEC/root" 4196; }
case_run root "flip a byte in both slots" flip_both_slots
case_run root "truncate to half (one slot)" truncate_half "$SEC/root"
case_run root "delete" rm "$SEC/root"
case_run root "replace with the older copy" cp "$OLD/root" "$SEC/root"
replay_slot() {  # the older copy's slot at the position of the newest slot (a valid, older record)
  dd if="$OLD/root" of="$SEC/root" bs=4096 skip=$((SLOT / 4096)) seek=$((SLOT / 4096)) count=1 \
    conv=notrunc status=none
}
case_run root "replay an older root slot (from the older copy, same position)" replay_slot
swap_slots() {
  dd if="$VICTIM/root" bs=4096 skip=1 count=1 status=none >"$SEC/root" &&
    dd if="$VICTIM/root" bs=4096 count=1 status=none >>"$SEC/root"
}
case_run root "swap the two slots" swap_slots

# seg-*: no header and no tags of its own (keys and tags live in the index): the first byte, a
# middle byte and the last byte of live blocks. The next-to-last segment of the victim holds
# only data of the second session, all live.
mapfile -t SEGS < <(names "$VICTIM" seg-)
# Live blocks: the slots that changed since the older copy hold the second session's writes,
# which nothing overwrote. A segment file may begin with a summary area (one entry per slot,
# written for the cleaner): its size is what a full file holds beyond blocks-per-segment x 4096.
read -r S SUMMARY FIRST MID LAST NCHANGED <<<"$(python3 - "$VICTIM" "$OLD" <<'EOF'
import os, struct, sys
victim, old = sys.argv[1], sys.argv[2]
bps = struct.unpack_from("<I", open(os.path.join(victim, "header"), "rb").read(), 36)[0]
segs = sorted(n for n in os.listdir(victim) if n.startswith("seg-"))
# Files may grow as slots are written: a full one tells the size of the summary area.
summary = max(0, max(os.path.getsize(os.path.join(victim, n)) for n in segs) - bps * 4096)
best = None
for name in segs:
    data = open(os.path.join(victim, name), "rb").read()
    p = os.path.join(old, name)
    before = open(p, "rb").read() if os.path.exists(p) else b""
    changed = [s for s in range(bps)
               if data[summary + s * 4096:summary + (s + 1) * 4096] not in (b"", bytes(4096))
               and data[summary + s * 4096:summary + (s + 1) * 4096] != before[summary + s * 4096:summary + (s + 1) * 4096]]
    if changed and (best is None or len(changed) >= len(best[2])):
        best = (name, summary, changed)
name, summary, changed = best
print(name, summary, changed[0], changed[len(changed) // 2], changed[-1], len(changed))
EOF
)"
log "segment attacks on $S: $NCHANGED live blocks written by the second session; summary area $SUMMARY bytes"
at() { echo $((SUMMARY + $1 * 4096 + $2)); }
case_run seg "$S: flip the first byte of a live block (slot $FIRST)" flip_byte "$SEC/$S" "$(at "$FIRST" 0)"
case_run seg "$S: flip a byte in the middle of a live block (slot $MID)" flip_byte "$SEC/$S" "$(at "$MID" 2048)"
case_run seg "$S: flip the last byte of a live block (slot $LAST)" flip_byte "$SEC/$S" "$(at "$LAST" 4095)"
if ((SUMMARY > 0)); then
  # The summary carries no integrity of its own, by design (a changed entry can only make the
  # cleaner skip a segment): no detection is required, wrong data is still never allowed.
  CASE_MAY_PASS=1
  case_run seg "$S: flip a byte in the summary entry of slot $MID (unauthenticated by design)" \
    flip_byte "$SEC/$S" $((MID * 16 + 3))
fi
case_run seg "$S: truncate to half" truncate_half "$SEC/$S"
case_run seg "$S: delete" rm "$SEC/$S"
older_seg=""
for s in "${SEGS[@]}"; do
  if [[ -f $OLD/$s ]] && ! cmp -s "$OLD/$s" "$VICTIM/$s"; then older_seg=$s; break; fi
done
if [[ -n $older_seg ]]; then
  case_run seg "$older_seg: replace with its older copy" cp "$OLD/$older_seg" "$SEC/$older_seg"
else
  o=$(names "$OLD" seg- | tail -1)
  case_run seg "$S: replace with the older copy's $o" cp "$OLD/$o" "$SEC/$S"
fi
case_run seg "swap ${SEGS[0]} and ${SEGS[1]}" swap_files "$SEC/${SEGS[0]}" "$SEC/${SEGS[1]}"

# wal-*, sst-*, man-*: the WAL is a chain of 4096-byte blocks (nonce | ciphertext | tag); SSTs
# and manifests are sealed files (blocks, then a table of 16-byte tags at the end).
for k in wal sst man; do
  mapfile -t F < <(names "$VICTIM" "$k-")
  f=${F[-1]}
  size=$(stat -c %s "$VICTIM/$f")
  if [[ $k == wal ]]; then
    last=$(((size / 4096 - 1) * 4096))
    case_run $k "$f: flip a byte in the header area (nonce) of its last block" flip_byte "$SEC/$f" $((last + 5))
    case_run $k "$f: flip a byte in the body of its last block" flip_byte "$SEC/$f" $((last + 2000))
    case_run $k "$f: flip a byte in the tag of its last block" flip_byte "$SEC/$f" $((last + 4085))
  else
    case_run $k "$f: flip a byte in the header area (first bytes of block 0)" flip_byte "$SEC/$f" 3
    case_run $k "$f: flip a byte in the body (middle of block 0)" flip_byte "$SEC/$f" 2048
    case_run $k "$f: flip a byte in the tag table" flip_byte "$SEC/$f" $((size - 5))
  fi
  case_run $k "$f: truncate to half" truncate_half "$SEC/$f"
  case_run $k "$f: delete" rm "$SEC/$f"
  o=$(names "$OLD" "$k-" | tail -1)
  if [[ -n $o ]] && ! cmp -s "$OLD/$o" "$VICTIM/$f"; then
    case_run $k "$f: replace with the older copy's $o" cp "$OLD/$o" "$SEC/$f"
  else
    log "($k: the older copy has no different $k file: no older-copy case)"
  fi
  if ((${#F[@]} >= 2)); then
    case_run $k "swap ${F[0]} and ${F[1]}" swap_files "$SEC/${F[0]}" "$SEC/${F[1]}"
  else
    # One file of the kind: put the older copy's file of the kind under its name and vice versa.
    log "($k: only one $k file in the victim: no swap case)"
  fi
done

# The whole directory: the older copy restored, the anchor kept.
restore_dir() { rm -rf "$SEC" && cp -a "$OLD" "$SEC"; }
case_run dir "restore the older copy of the whole SECURE_DIR (anchor kept)" restore_dir

summary=""
for k in header root seg wal sst man dir; do
  summary+="$k ${CASES[$k]:-0} ${REFUSED[$k]:-0} ${EIOED[$k]:-0} ${HARMLESS[$k]:-0}; "
done
log "RESULT tamper matrix: $CASE_N cases, 0 wrong data (kind cases refused eio no-effect): $summary"

# ---------------------------------------------------------------------------------------------
step "confidentiality: no plaintext pattern, key or LBA in any host file"
rm -rf "$SEC"
jd_mount "$SEC" "$MNT" --size 1G
PID=$LAST_PID
# 512 blocks at distinctive LBAs, each holding text, its LBA as text and a distinctive u64 word.
FIRST_LBA=$((0x2A5F3))
python3 - "$IMG" "$FIRST_LBA" <<'EOF'
import os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for k in range(512):
    lba = int(sys.argv[2]) + k * 97
    text = b"JD-CONFIDENTIAL-PLAINTEXT lba=%08d " % lba
    word = struct.pack("<Q", 0x5EC2E7DA7A000000 + lba)
    block = (text + word) * (4096 // (len(text) + 8))
    os.pwrite(fd, block + bytes(4096 - len(block)), lba * 4096)
os.fsync(fd)
EOF
# Also 48 MiB written but never flushed (sealed blocks reach the host before a flush).
python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for i in range(48):
    os.pwrite(fd, (b"JD-CONFIDENTIAL-UNFLUSHED-" * 40330)[:1 << 20], (512 + i) << 20)' "$IMG"
# Every needle is found through a short anchor it contains (fast), then compared in full:
# the texts, each of the 512 data words and each of the 512 LBAs as a u64, and the key.
cat >"$TMP/leaks.py" <<'EOF'
import os, struct, sys
sec, key, first = sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])
lbas = [first + k * 97 for k in range(512)]
words = {struct.pack("<Q", 0x5EC2E7DA7A000000 + l) for l in lbas}
lba_words = {struct.pack("<Q", l) for l in lbas}
found, total, names = [], 0, sorted(os.listdir(sec))

def scan(data, anchor, back, wanted, what, name):
    i = data.find(anchor)
    while i != -1:
        if i >= back and data[i - back:i - back + 8] in wanted:
            found.append(f"{name}: {what} at {i - back}")
        i = data.find(anchor, i + 1)

for name in names:
    data = open(os.path.join(sec, name), "rb").read()
    total += len(data)
    for text in (b"JD-CONFIDENTIAL", b"CONFIDENTIAL-PLAINTEXT", b"UNFLUSHED", b"lba=000", key, key[:16], key[16:]):
        if text in data:
            found.append(f"{name}: {text[:24]!r}")
    scan(data, struct.pack("<Q", 0x5EC2E7DA7A000000)[3:], 3, words, "a data word", name)
    for hi in (b"\x02", b"\x03"):  # LBAs 0x2A5F3..0x3A3D2 as u64: lo, mid, 02|03, then 5 zeros
        scan(data, hi + bytes(5), 2, lba_words, "an LBA", name)
print(f"{7 + len(words) + len(lba_words)} needles, {len(names)} files, {total} bytes;",
      "LEAKS:" if found else "none found", " ".join(found[:10]))
EOF
leaks=$(timeout 300 python3 "$TMP/leaks.py" "$SEC" "$KEY" "$FIRST_LBA")
# The scanner itself: a file holding one LBA as a u64 and one data word is caught.
mkdir "$TMP/leaky"
python3 -c 'import struct, sys
open(sys.argv[1], "wb").write(bytes(100) + struct.pack("<Q", int(sys.argv[2]) + 97) + bytes(50)
                              + struct.pack("<Q", 0x5EC2E7DA7A000000 + int(sys.argv[2])))' \
  "$TMP/leaky/f" "$FIRST_LBA"
self=$(python3 "$TMP/leaks.py" "$TMP/leaky" "$KEY" "$FIRST_LBA")
[[ $self == *"an LBA at 100"* && $self == *"a data word at 158"* ]] || fail "the leak scanner misses planted needles: $self"
log "confidentiality: $leaks"
[[ $leaks == *"none found"* ]] || fail "host files leak: $leaks"
jd_umount "$MNT" "$PID"

step "anonymity: one block to 256 LBAs and 16 times to one LBA gives unrelated ciphertext"
rm -rf "$SEC"
jd_mount "$SEC" "$MNT" --size 1G
PID=$LAST_PID
timeout 300 python3 - "$IMG" "$SEC" <<'EOF' >"$TMP/anon.out" 2>&1 || fail "anonymity: $(cat "$TMP/anon.out")"
import os, sys
img, sec = sys.argv[1], sys.argv[2]
fd = os.open(img, os.O_RDWR)
block = b"JD-SAME-BLOCK-".ljust(64, b".") * 64

def seg_blocks():
    # Every 4 KiB page of every segment that is not all zeros.
    out = {}
    for name in sorted(os.listdir(sec)):
        if name.startswith("seg-"):
            data = open(os.path.join(sec, name), "rb").read()
            for off in range(0, len(data), 4096):
                b = data[off:off + 4096]
                if b.count(0) != 4096:
                    out[(name, off)] = b
    return out

def new_blocks(old, now):
    # Pages that now hold a new ciphertext block: most of their bytes changed. (A segment may
    # have a summary area where one write changes only a 16-byte entry.)
    out = {}
    for p, b in now.items():
        o = old.get(p, bytes(4096))
        if sum(x != y for x, y in zip(o, b)) > 2048:
            out[p] = b
    return out

before = seg_blocks()
for k in range(256):
    os.pwrite(fd, block, (1000 + k * 37) * 4096)
os.fsync(fd)
places = []
for i in range(16):
    snap = seg_blocks()
    os.pwrite(fd, block, 77777 * 4096)
    os.fsync(fd)
    new = new_blocks(snap, seg_blocks())
    if len(new) != 1:
        sys.exit(f"rewrite {i}: expected exactly one new host block, found {len(new)}")
    places.append(next(iter(new)))
moved = sum(1 for a, b in zip(places, places[1:]) if a != b)
if moved != 15:
    sys.exit(f"rewriting one LBA 16 times: only {moved} of 15 rewrites moved it: {places}")
new = new_blocks(before, seg_blocks())
if len(new) < 256 + 16:
    sys.exit(f"expected at least 272 new ciphertext blocks, found {len(new)}")
blocks = list(new.values())
if len(set(blocks)) != len(blocks):
    sys.exit("two ciphertext blocks are identical")
# Nothing in common: no 16-byte piece repeats at the same offset; XOR of two ciphertexts (equal
# under a reused key stream and equal plaintext) is not zero anywhere in a 16-byte piece.
seen = set()
for b in blocks:
    for off in range(0, 4096, 16):
        piece = (off, b[off:off + 16])
        if piece in seen:
            sys.exit(f"a 16-byte ciphertext piece at offset {off} repeats between two blocks")
        seen.add(piece)
same = sum(x == y for x, y in zip(blocks[0], blocks[1]))
for name in os.listdir(sec):
    if b"JD-SAME-BLOCK-" in open(os.path.join(sec, name), "rb").read():
        sys.exit(f"the plaintext is in {name}")
print(f"{len(blocks)} new 4 KiB pages in the segments (the 272 blocks of one plaintext, and any "
      f"summary page): all distinct, no 16-byte piece shared; "
      f"16 rewrites of one LBA at {len(set(places))} distinct host blocks; "
      f"two blocks agree in {same} of 4096 bytes (random: ~16)")
EOF
log "anonymity: $(cat "$TMP/anon.out")"
jd_umount "$MNT" "$PID"

#!/usr/bin/env bash
# The offline tool `jindisk`: format, info (--json, offline and while mounted), check, passwd,
# dump, and its refusals and exit codes.
source "$(dirname "$0")/lib.sh"

DIR=$TMP/disk
MNT=$TMP/mnt

step "usage"
expect_exit 0 "jindisk --help" "$JINDISK" --help
for c in format info check passwd dump; do expect_in "$OUT" "$c" "jindisk --help lists $c"; done
expect_exit 0 "jindisk --version" "$JINDISK" --version
grep -qE '^jindisk [0-9]+\.[0-9]+' "$OUT" || fail "jindisk --version: got $(cat "$OUT")"
expect_exit 2 "jindisk without arguments" "$JINDISK"
expect_exit 2 "jindisk frobnicate" "$JINDISK" frobnicate "$DIR"
expect_exit 2 "jindisk info without SECURE_DIR" "$JINDISK" info --key-file "$KEY"
expect_exit 2 "jindisk check --bogus" "$JINDISK" check --bogus "$DIR"
expect_exit 2 "jindisk format --size 1000" "$JINDISK" format --size 1000 --key-file "$KEY" "$DIR"
[[ ! -e $DIR ]] || fail "a refused format created $DIR"
for c in format info check passwd dump; do
  expect_exit 0 "jindisk $c --help" "$JINDISK" "$c" --help
  expect_in "$OUT" "--key-file" "jindisk $c --help"
done

step "format --size 64M, then info --json"
expect_exit 0 "jindisk format" "$JINDISK" format --size 64M --key-file "$KEY" "$DIR"
expect_in "$OUT" "uuid" "jindisk format output"
cp "$OUT" "$TMP/format.out"
cat >"$TMP/check_info.py" <<'EOF'
import json, re, sys
info = json.load(open(sys.argv[1]))
problems = []
if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", str(info.get("uuid"))):
    problems.append(f"uuid {info.get('uuid')!r} is not a UUID")
if info.get("logical_bytes") != int(sys.argv[2]):
    problems.append(f"logical_bytes {info.get('logical_bytes')} != {sys.argv[2]}")
if not isinstance(info.get("epoch"), int) or info["epoch"] < 1:
    problems.append(f"epoch {info.get('epoch')!r} is not >= 1")
for k in ("host_bytes", "live_bytes", "live_blocks", "segments", "write_amplification"):
    if not isinstance(info.get(k), (int, float)):
        problems.append(f"{k} missing or not a number: {info.get(k)!r}")
if problems:
    sys.exit("; ".join(problems))
print(info["uuid"])
EOF
expect_exit 0 "jindisk info --json" "$JINDISK" info --json --key-file "$KEY" "$DIR"
cp "$OUT" "$TMP/info.json"
UUID=$(python3 "$TMP/check_info.py" "$TMP/info.json" 67108864) ||
  fail "jindisk info --json after format: $UUID
$(cat "$TMP/info.json")"
expect_in "$TMP/format.out" "$UUID" "jindisk format prints the uuid that info reports"
expect_exit 0 "jindisk info (text)" "$JINDISK" info --key-file "$KEY" "$DIR"
expect_in "$OUT" "$UUID" "jindisk info (text) shows the uuid"
expect_in "$OUT" "64 MiB" "jindisk info (text) shows the size"

step "check on the fresh disk, and after some writes"
expect_exit 0 "jindisk check (fresh)" "$JINDISK" check --key-file "$KEY" "$DIR"
jd_mount "$DIR" "$MNT"
PID=$LAST_PID
[[ $(stat -c %s "$MNT/disk.img") -eq 67108864 ]] || fail "formatted 64M disk mounts as $(stat -c %s "$MNT/disk.img") bytes"
head -c $((8 << 20)) /dev/urandom >"$TMP/data"
dd if="$TMP/data" of="$MNT/disk.img" bs=1M seek=4 conv=notrunc,fsync status=none
jd_umount "$MNT" "$PID"
expect_exit 0 "jindisk check (after writes)" "$JINDISK" check --key-file "$KEY" "$DIR"
expect_in "$OUT" "0 damaged" "jindisk check (after writes)"
expect_exit 0 "jindisk info --json (after writes)" "$JINDISK" info --json --key-file "$KEY" "$DIR"
live=$(json_field "$OUT" live_bytes)
[[ $live -eq $((8 << 20)) ]] || fail "live_bytes after writing 8 MiB: expected $((8 << 20)), got $live"
epoch=$(json_field "$OUT" epoch)
old_epoch=$(json_field "$TMP/info.json" epoch)
((epoch > old_epoch)) || fail "epoch did not grow across a mount with writes: $old_epoch -> $epoch"

step "info, check and dump write nothing but the lock's pid, and leave the anchor alone"
state() {
  (cd "$DIR" && find . -type f ! -name lock -print0 | sort -z | xargs -0 sha256sum)
  (cd "$XDG_STATE_HOME/jindisk" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}
before=$(state)
expect_exit 0 "jindisk info" "$JINDISK" info --key-file "$KEY" "$DIR"
expect_exit 0 "jindisk check" "$JINDISK" check --key-file "$KEY" "$DIR"
expect_exit 0 "jindisk dump" "$JINDISK" dump --key-file "$KEY" "$DIR"
[[ $(state) == "$before" ]] || fail "info/check/dump changed SECURE_DIR or the state directory:
before:
$before
after:
$(state)"
anchor=$XDG_STATE_HOME/jindisk/$UUID.anchor
[[ -f $anchor ]] || fail "no anchor at $anchor after format and mount: $(ls -la "$XDG_STATE_HOME/jindisk")"
mv "$anchor" "$TMP/anchor.saved"
expect_exit 0 "jindisk check without an anchor" "$JINDISK" check --key-file "$KEY" "$DIR"
[[ ! -e $anchor ]] || fail "jindisk check created the missing anchor (read-only commands must not)"
mv "$TMP/anchor.saved" "$anchor"

step "wrong keys and missing keys"
head -c 32 /dev/urandom >"$TMP/wrong.key"
expect_exit 3 "jindisk info with a wrong key file" "$JINDISK" info --key-file "$TMP/wrong.key" "$DIR"
expect_in "$ERR" "wrong passphrase or key" "jindisk info with a wrong key file"
expect_exit 3 "jindisk check with a wrong key file" "$JINDISK" check --key-file "$TMP/wrong.key" "$DIR"
expect_exit 2 "jindisk check without a key or terminal" setsid -w "$JINDISK" check "$DIR"
expect_in "$ERR" "no key" "jindisk check without a key or terminal"

step "passwd: key file -> passphrase"
printf 'new secret words\n' >"$TMP/newpass"
header_before=$(sha256sum <"$DIR/header")
segs_before=$(cd "$DIR" && sha256sum seg-*)
expect_exit 0 "jindisk passwd --new-passphrase-file" "$JINDISK" passwd --key-file "$KEY" \
  --new-passphrase-file "$TMP/newpass" "$DIR"
[[ $(sha256sum <"$DIR/header") != "$header_before" ]] || fail "passwd did not change the header"
[[ $(cd "$DIR" && sha256sum seg-*) == "$segs_before" ]] || fail "passwd rewrote data segments"
expect_exit 3 "jindisk info with the old key after passwd" "$JINDISK" info --key-file "$KEY" "$DIR"
expect_exit 3 "jindisk passwd with the old key again" "$JINDISK" passwd --key-file "$KEY" \
  --new-key-file "$TMP/wrong.key" "$DIR"
expect_exit 0 "jindisk check with the new passphrase" "$JINDISK" check --passphrase-file "$TMP/newpass" "$DIR"

step "dump lists the header and root"
expect_exit 0 "jindisk dump" "$JINDISK" dump --passphrase-file "$TMP/newpass" "$DIR"
expect_in "$OUT" "header" "jindisk dump"
expect_in "$OUT" "$UUID" "jindisk dump"
grep -qE '^ *root ' "$OUT" || fail "jindisk dump does not list the root file: $(cat "$OUT")"
grep -qE '^ *seg-[0-9]+ ' "$OUT" || fail "jindisk dump does not list data segments: $(cat "$OUT")"
expect_in "$OUT" "passphrase" "jindisk dump (unlocked by passphrase)"

step "mount with the new passphrase; info while mounted prints the live JSON without a key"
expect_exit 0 "mount with the new passphrase" env JINDISK_PASSPHRASE='new secret words' \
  "$JINDISK_FUSE" "$DIR" "$MNT"
jd_adopt "$DIR" "$MNT"
PID=$LAST_PID
cmp <(dd if="$MNT/disk.img" bs=1M skip=4 count=8 status=none) "$TMP/data" || fail "data differs after passwd"
expect_exit 0 "jindisk info --json while mounted (no key, no terminal)" setsid -w "$JINDISK" info --json "$DIR"
cp "$OUT" "$TMP/live.json"
live_uuid=$(python3 "$TMP/check_info.py" "$TMP/live.json" 67108864) || fail "live info: $live_uuid
$(cat "$TMP/live.json")"
[[ $live_uuid == "$UUID" ]] || fail "live info uuid $live_uuid != $UUID"
expect_exit 0 "jindisk info (text) while mounted" setsid -w "$JINDISK" info "$DIR"
expect_in "$OUT" "mounted" "jindisk info (text) while mounted"
expect_exit 1 "jindisk check while mounted" "$JINDISK" check --passphrase-file "$TMP/newpass" "$DIR"
expect_in "$ERR" "in use by process $PID" "jindisk check while mounted"
expect_exit 1 "jindisk passwd while mounted" "$JINDISK" passwd --passphrase-file "$TMP/newpass" \
  --new-key-file "$TMP/wrong.key" "$DIR"
[[ -f $XDG_STATE_HOME/jindisk/$UUID.live.json ]] || fail "no live information file while mounted"
jd_umount "$MNT" "$PID"
[[ ! -e $XDG_STATE_HOME/jindisk/$UUID.live.json ]] || fail "the live information file is still there after unmount"
expect_exit 0 "jindisk info after unmount (live file gone: needs the key)" setsid -w "$JINDISK" info \
  --json --passphrase-file "$TMP/newpass" "$DIR"
expect_exit 2 "jindisk info after unmount without a key" setsid -w "$JINDISK" info --json "$DIR"

step "passwd back to a key file"
head -c 32 /dev/urandom >"$TMP/key2"
expect_exit 0 "jindisk passwd --new-key-file" "$JINDISK" passwd --passphrase-file "$TMP/newpass" \
  --new-key-file "$TMP/key2" "$DIR"
expect_exit 0 "jindisk info with the new key file" "$JINDISK" info --key-file "$TMP/key2" "$DIR"
expect_exit 3 "jindisk info with the replaced passphrase" "$JINDISK" info --passphrase-file "$TMP/newpass" "$DIR"

step "format refuses a non-empty directory"
header_before=$(sha256sum <"$DIR/header")
expect_exit 1 "jindisk format on an existing disk" "$JINDISK" format --size 64M --key-file "$KEY" "$DIR"
[[ $(sha256sum <"$DIR/header") == "$header_before" ]] || fail "format on an existing disk changed its header"
expect_exit 0 "the existing disk still opens" "$JINDISK" check --key-file "$TMP/key2" "$DIR"
mkdir -p "$TMP/junk"
echo hello >"$TMP/junk/file"
expect_exit 1 "jindisk format on a non-empty non-disk directory" "$JINDISK" format --size 64M --key-file "$KEY" "$TMP/junk"
[[ $(ls -A "$TMP/junk") == file && $(cat "$TMP/junk/file") == hello ]] || fail "format touched the non-empty directory"
expect_exit 1 "jindisk info on a non-disk directory" "$JINDISK" info --key-file "$KEY" "$TMP/junk"
mkdir -p "$TMP/empty"
expect_exit 0 "jindisk format on an empty directory" "$JINDISK" format --size 1M --key-file "$KEY" "$TMP/empty"

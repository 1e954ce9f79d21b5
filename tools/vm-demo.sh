#!/usr/bin/env bash
# A virtual machine whose root file system lives on a jindisk secure disk.
#
# Usage (as root): tools/vm-demo.sh [--check] [SECURE_DIR [MOUNTPOINT]]
#   defaults: ~/jindisk-vm.d and /mnt/jindisk-vm
#
# First run: creates the disk (JINDISK_SIZE, default 1G; the passphrase is asked twice, or taken
# from JINDISK_PASSPHRASE, or --key-file FILE in JINDISK_FUSE_OPTS), mounts it, makes ext4 on
# disk.img through a loop device and installs a small busybox root file system on it. Every run:
# boots that root file system in QEMU (Debian's kernel, fetched once into a cache; see
# tests/e2e/vm/vmlib.sh) with disk.img as a virtio drive, cache=none, on the serial console of
# this terminal. Type `poweroff` in the guest to stop it (or Ctrl-A X to kill QEMU); the disk is
# then unmounted (final commit).
#
# --check: no console. The guest boots, prints a few facts, writes /root/hello-<time>, powers
# off; the script reopens the disk and reads that file back from the host side.
#
# Environment: JINDISK_FUSE / JINDISK name the binaries (default: build/ of this checkout, else
# the PATH); JINDISK_VM_ACCEL=kvm|tcg forces an accelerator (default: KVM when it can boot the
# kernel, else TCG).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/tests/e2e/vm/vmlib.sh"

check=0
if [[ ${1:-} == --check ]]; then
  check=1
  shift
fi
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
secure_dir=$(realpath -m "${1:-$HOME/jindisk-vm.d}")
mountpoint=$(realpath -m "${2:-/mnt/jindisk-vm}")

say() { printf 'vm-demo: %s\n' "$*"; }
die() {
  printf 'vm-demo: %s\n' "$*" >&2
  exit 1
}

find_bin() {  # ENV_VALUE BUILD_PATH NAME ENV_NAME
  if [[ -n $1 ]]; then
    realpath "$1"
  elif [[ -x $repo/$2 ]]; then
    echo "$repo/$2"
  else
    command -v "$3" || die "$3 not found: build it (tools/quickstart.sh or ninja -C build) or set ${4}"
  fi
}
jindisk_fuse=$(find_bin "${JINDISK_FUSE:-}" build/fusefs/jindisk-fuse jindisk-fuse JINDISK_FUSE)

[[ $(id -u) -eq 0 ]] || die "run as root (loop device, mount, FUSE)"
vm_check_tools || die "$VM_ERROR"
for t in losetup mkfs.ext4 debugfs fusermount3; do
  command -v "$t" >/dev/null || die "$t is not installed (tools/install-deps.sh)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/jindisk-vm-demo.XXXXXX")
loop=
root_mnt=
qemu_pid=
cleanup() {
  local rc=$?
  set +e
  [[ -n $qemu_pid ]] && kill -9 "$qemu_pid" 2>/dev/null
  [[ -n $root_mnt ]] && umount "$root_mnt"
  [[ -n $loop ]] && losetup -d "$loop"
  if awk -v m="$mountpoint" '$2 == m && $3 ~ /^fuse/ { f = 1 } END { exit !f }' /proc/mounts; then
    say "unmounting $mountpoint (final commit)"
    fusermount3 -u "$mountpoint" || fusermount3 -u -z "$mountpoint"
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
new=0
[[ -d $secure_dir && -n $(ls -A "$secure_dir" 2>/dev/null) ]] || new=1
mkdir -p "$mountpoint"
if awk -v m="$mountpoint" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; then
  die "something is already mounted on $mountpoint"
fi
if ((new)); then
  say "creating a ${JINDISK_SIZE:-1G} disk in $secure_dir, mounted at $mountpoint"
else
  say "opening the disk in $secure_dir at $mountpoint"
fi
# shellcheck disable=SC2086
"$jindisk_fuse" --size "${JINDISK_SIZE:-1G}" ${JINDISK_FUSE_OPTS:-} "$secure_dir" "$mountpoint"
img=$mountpoint/disk.img

# daemon_pid: the jindisk-fuse process serving $secure_dir.
daemon_pid() {
  local p
  for p in $(pgrep -x jindisk-fuse || true); do
    if tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qxF -- "$secure_dir"; then echo "$p"; fi
  done
}

# install_rootfs DIR: a busybox system: /bin/busybox and its applets, init scripts, /root.
install_rootfs() {
  local r=$1 a
  mkdir -p "$r"/{bin,sbin,etc/init.d,dev,proc,sys,tmp,root,mnt,usr/bin,usr/sbin,var/log}
  chmod 1777 "$r/tmp"
  cp /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list-full); do
    [[ -e $r/$a ]] || ln -s /bin/busybox "$r/$a"
  done
  cat >"$r/etc/inittab" <<'EOF'
::sysinit:/etc/init.d/rcS
::respawn:/bin/cttyhack /bin/sh -l
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
::shutdown:/bin/umount -a -r
EOF
  cat >"$r/etc/init.d/rcS" <<'EOF'
#!/bin/sh
# Boot of the jindisk demo guest. With jd.check on the kernel command line: report and power off.
mount -t proc proc /proc
mount -t sysfs sys /sys
grep -q ' /dev ' /proc/mounts || mount -t devtmpfs dev /dev
hostname jindisk-guest
if grep -qw 'jd.check' /proc/cmdline; then
  stamp=$(date +%s)
  echo "JDVM: kernel $(uname -r)"
  echo "JDVM: root $(df -h / | tail -1)"
  echo "hello from the guest, boot $stamp" >"/root/hello-$stamp"
  sync
  echo "JDVM: wrote /root/hello-$stamp"
  echo "JDVM: CHECK-OK"
  umount -a -r 2>/dev/null
  poweroff -f
fi
cat /etc/motd
EOF
  chmod 755 "$r/etc/init.d/rcS"
  cat >"$r/etc/motd" <<'EOF'

  This guest's root file system is ext4 on a jindisk secure disk (/dev/vda):
  on the host it exists only as ciphertext. `poweroff` ends the session.

EOF
  echo 'root::0:0:root:/root:/bin/sh' >"$r/etc/passwd"
  echo 'root:x:0:' >"$r/etc/group"
  echo 'export PS1="jindisk-guest:\w# "' >"$r/etc/profile"
}

if ((new)); then
  loop=$(losetup --direct-io=on -f --show "$img")
  say "mkfs.ext4 on $loop, installing a busybox root file system"
  mkfs.ext4 -q -F -L jindisk-root "$loop"
  root_mnt=$work/root
  mkdir -p "$root_mnt"
  mount -t ext4 "$loop" "$root_mnt"
  install_rootfs "$root_mnt"
  umount "$root_mnt"
  root_mnt=
  losetup -d "$loop"
  loop=
fi

say "preparing the guest kernel"
vm_kernel_prepare || die "$VM_ERROR"
VM_INITRD=$work/initrd.gz
vm_initramfs "$VM_INITRD" || die "$VM_ERROR"
vm_accel
vm_accel_probe "$work"
say "kernel $VM_KERNEL_PKG, accelerator $VM_ACCEL${VM_ACCEL_WHY:+ ($VM_ACCEL_WHY)}"

append="jd.mode=root"
((check)) && append+=" jd.check"
q=()
if ((check)); then
  vm_qemu_args q "$work/serial.log" "file=$img,cache=none" "$append"
else
  vm_qemu_args q - "file=$img,cache=none" "$append"
fi
# The command, for users who want to run it themselves (the kernel and initramfs are the cache's
# and this run's; any kernel with virtio_blk and ext4 will do).
printf -v cmd '%q ' "${q[@]}"
say "running: $cmd"
if ((check)); then
  start=$SECONDS
  timeout -k 5 600 "${q[@]}" </dev/null >"$work/qemu.out" 2>&1 || die "qemu failed or timed out: $(cat "$work/qemu.out"); console: $(tr -d '\r' <"$work/serial.log" | tail -30)"
  vm_markers "$work/serial.log" | sed 's/^/  guest: /'
  vm_markers "$work/serial.log" | grep -qx CHECK-OK || die "the guest did not report CHECK-OK; console: $(tr -d '\r' <"$work/serial.log" | tail -30)"
  hello=$(vm_markers "$work/serial.log" | sed -n 's|^wrote ||p')
  say "guest booted, checked and powered off in $((SECONDS - start))s; reopening the disk"
  pid=$(daemon_pid)
  fusermount3 -u "$mountpoint"
  for _ in $(seq 200); do [[ -n $pid && -d /proc/$pid ]] || break; sleep 0.1; done
  # shellcheck disable=SC2086
  "$jindisk_fuse" --read-only ${JINDISK_FUSE_OPTS:-} "$secure_dir" "$mountpoint"
  loop=$(losetup -r -f --show "$img")
  got=$(debugfs -R "cat $hello" "$loop" 2>/dev/null)
  say "host reads $hello from the reopened disk: $got"
  [[ $got == "hello from the guest, boot "* ]] || die "the file the guest wrote is not on the disk"
  say "check passed"
else
  say "the guest's console follows; poweroff in the guest ends it (Ctrl-A X kills QEMU)"
  "${q[@]}"
fi

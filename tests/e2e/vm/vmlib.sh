# shellcheck shell=bash
# shellcheck disable=SC2034  # the VM_* results are for the scripts that source this file
# Helpers to boot a small Linux guest in QEMU with a jindisk disk.img as its virtio drive. Sourced
# by tests/e2e/vm.sh, tools/vm-demo.sh and tools/vm-bench.sh; it does not depend on tests/e2e/lib.sh.
#
# The guest is Debian's own kernel (the linux-image-amd64 package, resolved to the versioned
# linux-image-*-amd64 package it depends on) with a tiny initramfs built here: busybox-static, the
# kernel modules the guest needs (virtio_pci, virtio_blk, ext4 and what they depend on, loaded in
# the order modules.dep gives) and tests/e2e/vm/init.sh as /init. Kernel command line parameters
# jd.* select what the guest does; it reports on the serial console in lines starting "JDVM: ".
#
# The kernel package is not installed (its initramfs hooks are slow and useless here): it is
# downloaded with `apt-get download` and unpacked once into a cache directory, by default
# /var/cache/jindisk-vm (root) or ~/.cache/jindisk-vm, or $JINDISK_VM_CACHE. Only vmlinuz and the
# few modules needed are kept there (about 80 MB with an uncompressed vmlinux).
#
# Functions return non-zero with a message in $VM_ERROR instead of exiting; the caller decides
# whether that is a failure or a reason to skip.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_ERROR=
# The modules the guest loads, by name; their dependencies come from modules.dep. crc32c is
# needed by ext4 (metadata checksums) but requested through the crypto API, not a symbol, so it
# is not in ext4's dependencies.
VM_MODULES=(virtio_pci virtio_blk crc32c_generic ext4)
# Bumped when what vm_kernel_unpack keeps changes: older cache entries are rebuilt.
VM_CACHE_LAYOUT=2

vm_err() {
  VM_ERROR="$*"
  return 1
}

# vm_check_tools: the host programs the guest needs; sets VM_ERROR naming what is missing.
vm_check_tools() {
  local t missing=()
  for t in qemu-system-x86_64 cpio gzip apt-get apt-cache dpkg-deb flock; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  [[ -x /bin/busybox ]] && file_is_static /bin/busybox || missing+=("busybox-static (a static /bin/busybox)")
  [[ ${#missing[@]} -eq 0 ]] || vm_err "missing: ${missing[*]} (tools/install-deps.sh installs them)"
}

# file_is_static FILE: true if FILE is a statically linked ELF (no program interpreter).
file_is_static() {
  python3 - "$1" <<'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    h = f.read(64)
    if h[:4] != b"\x7fELF" or h[4] != 2:
        sys.exit(1)
    phoff, = struct.unpack_from("<Q", h, 32)
    phentsize, phnum = struct.unpack_from("<HH", h, 54)
    for i in range(phnum):
        f.seek(phoff + i * phentsize)
        if struct.unpack("<I", f.read(4))[0] == 3:  # PT_INTERP
            sys.exit(1)
EOF
}

# vm_cache_dir: prints the kernel cache directory.
vm_cache_dir() {
  if [[ -n ${JINDISK_VM_CACHE:-} ]]; then
    echo "$JINDISK_VM_CACHE"
  elif [[ $(id -u) -eq 0 ]]; then
    echo /var/cache/jindisk-vm
  else
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/jindisk-vm"
  fi
}

# vm_kernel_prepare: makes sure a Debian kernel and its modules are in the cache; sets
# VM_KERNEL (vmlinux, or vmlinuz if the kernel cannot boot uncompressed), VM_KVER (its release), VM_MODDIR (directory holding the needed .ko files
# and load-order, one file name per line, dependencies first). Idempotent; concurrent callers
# wait for each other (flock). The first call downloads about 70 MB and takes 15-30 s.
vm_kernel_prepare() {
  local cache pkg dir
  cache=$(vm_cache_dir)
  mkdir -p "$cache" || vm_err "cannot create the kernel cache $cache" || return 1
  # linux-image-amd64 is a metapackage: its first dependency is the current versioned kernel.
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-.*-amd64$/ { print $2; exit }')
  if [[ -z $pkg ]]; then
    # No package lists (apt-get update never ran): use a kernel cached before, if any.
    dir=$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'linux-image-*' -exec test -f '{}/ready' ';' -print 2>/dev/null | sort -V | tail -1)
    [[ -n $dir ]] || vm_err "cannot resolve linux-image-amd64 (apt-cache depends found nothing: run apt-get update, or tools/install-deps.sh)" || return 1
  else
    dir=$cache/$pkg
  fi
  if [[ $(cat "$dir/ready" 2>/dev/null) != "$VM_CACHE_LAYOUT" ]]; then
    (
      flock -w 600 9 || exit 1
      [[ $(cat "$dir/ready" 2>/dev/null) == "$VM_CACHE_LAYOUT" ]] && exit 0
      work=$(mktemp -d "$dir.tmp.XXXXXX") || exit 1
      trap 'rm -rf "$work"' EXIT
      vm_kernel_unpack "$pkg" "$dir" "$work"
    ) 9>"$cache/.lock" || vm_err "could not fetch and unpack $pkg into $dir${VM_ERROR:+: $VM_ERROR}" || return 1
  fi
  VM_KVER=$(cat "$dir/kver")
  VM_KERNEL=$dir/vmlinuz
  [[ -f $dir/vmlinux ]] && VM_KERNEL=$dir/vmlinux
  VM_MODDIR=$dir/modules
  VM_KERNEL_PKG=$(basename "$dir")
  [[ -f $VM_KERNEL && -f $VM_MODDIR/load-order ]] || vm_err "the kernel cache $dir is incomplete; remove it and retry"
}

# vm_kernel_unpack PKG DIR WORK (runs under the cache lock): apt-get download, unpack into the
# scratch directory WORK beside DIR, generate modules.dep with busybox depmod (the package has none: depmod
# runs at install time), keep vmlinuz and the closure of VM_MODULES, then mark DIR ready.
vm_kernel_unpack() {
  local pkg=$1 dir=$2 work=$3 deb kver m order=()
  echo "vm: downloading and unpacking $pkg (once, into $(dirname "$dir"))" >&2
  (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null 2>"$work/apt.err") ||
    { echo "apt-get download $pkg failed: $(tail -3 "$work/apt.err")" >&2; return 1; }
  deb=$(ls "$work"/*.deb)
  dpkg-deb -x "$deb" "$work/root" || return 1
  kver=$(ls "$work/root/lib/modules" | head -1)
  [[ -n $kver && -f $work/root/boot/vmlinuz-$kver ]] || { echo "no vmlinuz in $deb" >&2; return 1; }
  /bin/busybox depmod -b "$work/root" "$kver" || return 1
  local mdir=$work/root/lib/modules/$kver
  # Load order: each module after everything it depends on (modules.dep lists the full closure).
  declare -A deps=() path=() seen=()
  local line name
  while IFS= read -r line; do
    name=${line%%:*}
    name=${name##*/}
    name=${name%.ko*}
    path[$name]=${line%%:*}
    deps[$name]=${line#*:}
  done <"$mdir/modules.dep"
  visit() {
    local n=$1 d dn
    [[ -n ${seen[$n]:-} ]] && return 0
    seen[$n]=1
    [[ -n ${path[$n]:-} ]] || { echo "module $n not found in $kver" >&2; return 1; }
    for d in ${deps[$n]}; do
      dn=${d##*/}
      visit "${dn%.ko*}" || return 1
    done
    order+=("$n")
  }
  for m in "${VM_MODULES[@]}"; do visit "$m" || return 1; done
  mkdir -p "$work/keep/modules"
  cp "$work/root/boot/vmlinuz-$kver" "$work/keep/vmlinuz"
  # Under TCG, decompressing the kernel (xz) in the guest takes longer than booting it: keep the
  # uncompressed ELF too, which QEMU starts directly through its PVH entry point (CONFIG_PVH).
  if grep -qx 'CONFIG_PVH=y' "$work/root/boot/config-$kver"; then
    python3 - "$work/keep/vmlinuz" "$work/keep/vmlinux" <<'PY' || rm -f "$work/keep/vmlinux"
import lzma, sys
data = open(sys.argv[1], "rb").read()
start = data.find(b"\xfd7zXZ\x00")
if start < 0:
    sys.exit("vmlinuz: no xz payload")
elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
if elf[:4] != b"\x7fELF":
    sys.exit("vmlinuz: the xz payload is not an ELF")
open(sys.argv[2], "wb").write(elf)
PY
  fi
  for m in "${order[@]}"; do
    cp "$mdir/${path[$m]}" "$work/keep/modules/" || return 1
    echo "${path[$m]##*/}" >>"$work/keep/modules/load-order"
  done
  echo "$kver" >"$work/keep/kver"
  dpkg-deb -f "$deb" Version >"$work/keep/version"
  rm -rf "$dir"
  mv "$work/keep" "$dir" && echo "$VM_CACHE_LAYOUT" >"$dir/ready"
}

# vm_accel: sets VM_ACCEL to kvm when /dev/kvm can run a stock kernel, else tcg, and VM_ACCEL_WHY
# to the reason. $JINDISK_VM_ACCEL=kvm|tcg overrides. Call vm_accel_probe afterwards (it needs the
# kernel and an initramfs) to catch a KVM that opens but cannot boot Debian's kernel.
vm_accel() {
  VM_ACCEL=tcg
  VM_ACCEL_WHY=
  if [[ -n ${JINDISK_VM_ACCEL:-} ]]; then
    VM_ACCEL=$JINDISK_VM_ACCEL
    VM_ACCEL_WHY="set by JINDISK_VM_ACCEL"
    return 0
  fi
  if [[ ! -e /dev/kvm ]]; then
    VM_ACCEL_WHY="/dev/kvm does not exist"
  elif [[ -d /sys/module/kvm_pvm && ! -d /sys/module/kvm_intel && ! -d /sys/module/kvm_amd ]]; then
    # PVM (pagetable-based nested virtualization) runs only guest kernels built for it: Debian's
    # kernel hangs in its decompressor there (seen on this project's machines).
    VM_ACCEL_WHY="/dev/kvm is PVM (kvm_pvm), which cannot boot an unmodified kernel"
  elif ! VM_ACCEL_WHY=$(python3 -c '
import fcntl, os, sys
try:
    fd = os.open("/dev/kvm", os.O_RDWR)
    if fcntl.ioctl(fd, 0xAE00) != 12:    # KVM_GET_API_VERSION
        sys.exit("/dev/kvm: unexpected KVM API version")
    os.close(fcntl.ioctl(fd, 0xAE01, 0))  # KVM_CREATE_VM
except OSError as e:
    sys.exit(f"/dev/kvm: {e.strerror}")
' 2>&1); then
    :
  else
    VM_ACCEL=kvm
  fi
}

# vm_accel_probe SCRATCH_DIR: with VM_ACCEL=kvm (and not forced), boots the guest without a drive
# (jd.mode=probe); if it does not report within 30 s, switches to tcg and says why in VM_ACCEL_WHY.
vm_accel_probe() {
  [[ $VM_ACCEL == kvm && -z ${JINDISK_VM_ACCEL:-} ]] || return 0
  local log=$1/probe.serial q=()
  vm_qemu_args q "$log" "" "jd.mode=probe"
  timeout -k 5 30 "${q[@]}" >"$1/probe.out" 2>&1 </dev/null || true
  if ! vm_markers "$log" | grep -q '^PROBED'; then
    VM_ACCEL=tcg
    VM_ACCEL_WHY="a probe boot under KVM did not reach the initramfs within 30 s"
  fi
}

# vm_initramfs OUT [fio]: builds a gzip'd newc initramfs at OUT with busybox, the modules, /init;
# with "fio", also /bin/fio and the shared libraries it needs (from ldd). Needs vm_kernel_prepare.
vm_initramfs() {
  local out=$1 with=${2:-} root lib
  root=$(mktemp -d "${out}.root.XXXXXX") || return 1
  mkdir -p "$root"/{bin,sbin,dev,proc,sys,mnt,tmp,newroot,etc,lib/modules}
  cp /bin/busybox "$root/bin/busybox"
  cp "$VM_DIR/init.sh" "$root/init"
  chmod 755 "$root/init"
  cp "$VM_MODDIR"/*.ko "$VM_MODDIR/load-order" "$root/lib/modules/"
  if [[ $with == fio ]]; then
    command -v fio >/dev/null || { rm -rf "$root"; vm_err "fio is not installed"; return 1; }
    cp "$(command -v fio)" "$root/bin/fio"
    cp "$VM_DIR/fio-jobs" "$root/etc/fio-jobs"
    # Every library with its full path, the dynamic loader included, at the same path in the guest.
    for lib in $(ldd "$(command -v fio)" | grep -oE '/[^ ]+'); do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  fi
  (cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$out" || { rm -rf "$root"; vm_err "cpio of the initramfs failed"; return 1; }
  rm -rf "$root"
}

# vm_qemu_args ARRAY_NAME SERIAL_LOG DRIVE_OPTS APPEND [extra qemu args...]: fills the array with
# a qemu-system-x86_64 command line: the cached kernel, initramfs $VM_INITRD, the drive
# (file=...,cache=... etc. given in DRIVE_OPTS, always format=raw,if=virtio; none if empty), serial console to
# SERIAL_LOG (or stdio with "-"), no display, no network, no reboot (a guest reboot or panic
# exits QEMU). $VM_MEM (MiB) and $VM_SMP size the guest.
vm_qemu_args() {
  local -n _a=$1
  local serial=$2 drive=$3 append=$4
  shift 4
  _a=(qemu-system-x86_64 -accel "$VM_ACCEL" -nodefaults -no-user-config -display none -no-reboot
    -m "${VM_MEM:-384}" -smp "${VM_SMP:-1}"
    -kernel "$VM_KERNEL" -initrd "$VM_INITRD"
    -append "console=ttyS0 panic=-1 loglevel=4 $append")
  [[ -z $drive ]] || _a+=(-drive "$drive,format=raw,if=virtio")
  [[ $VM_ACCEL == kvm ]] && _a+=(-cpu host)
  if [[ $serial == - ]]; then
    _a+=(-serial mon:stdio)
  else
    _a+=(-serial "file:$serial")
  fi
  _a+=("$@")
}

# vm_markers LOG: the guest's report lines ("JDVM: ..." without the prefix and carriage returns).
vm_markers() {
  [[ -f $1 ]] || return 0
  tr -d '\r' <"$1" | sed -n 's/^.*JDVM: //p'
}

# fio_terse_summary LINE: "read MiB/s, read IOPS, write MiB/s, write IOPS" of one fio --minimal
# (terse v3) line: fields 7/8 are read bandwidth (KiB/s) and IOPS, 48/49 the same for writes.
fio_terse_summary() {
  awk -F';' '{ printf "%.1f %.0f %.1f %.0f\n", $7 / 1024, $8, $48 / 1024, $49 }' <<<"$1"
}

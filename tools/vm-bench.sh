#!/usr/bin/env bash
# What a VM gets from a jindisk disk: the fio jobs of tests/e2e/vm/fio-jobs (seq 1M at QD32,
# random 4K at QD1 and QD32, direct I/O, libaio) run on the host against a loop device over
# disk.img (losetup --direct-io=on), then inside a QEMU guest on /dev/vda (disk.img as a virtio
# drive, cache=none), on the same freshly created disk. Prints a Markdown table (docs/bench/guest.md).
#
# Usage (as root): tools/vm-bench.sh [--runtime SECONDS] [--size MIB] [--cache none|writeback]
#   defaults: 10 s a job, a 256 MiB region of a 1 GiB disk, cache=none.
# Environment: JINDISK_FUSE (default build/fusefs/jindisk-fuse of this checkout, else the PATH);
# JINDISK_VM_ACCEL=kvm|tcg forces the accelerator. TMPDIR chooses the host file system that holds
# SECURE_DIR. Under TCG (no usable KVM) the guest's numbers measure CPU emulation, not the disk.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/tests/e2e/vm/vmlib.sh"

runtime=10
size=256
cache=none
while [[ $# -gt 0 ]]; do
  case $1 in
    --runtime) runtime=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "vm-bench: unknown argument $1" >&2; exit 2 ;;
  esac
done

say() { printf 'vm-bench: %s\n' "$*" >&2; }
die() {
  printf 'vm-bench: %s\n' "$*" >&2
  exit 1
}
[[ $(id -u) -eq 0 ]] || die "run as root (FUSE, loop device)"
if [[ -n ${JINDISK_FUSE:-} ]]; then
  jindisk_fuse=$(realpath "$JINDISK_FUSE")
elif [[ -x $repo/build/fusefs/jindisk-fuse ]]; then
  jindisk_fuse=$repo/build/fusefs/jindisk-fuse
else
  jindisk_fuse=$(command -v jindisk-fuse) || die "jindisk-fuse not found: build it or set JINDISK_FUSE"
fi
vm_check_tools || die "$VM_ERROR"
command -v fio >/dev/null || die "fio is not installed"

work=$(mktemp -d "${TMPDIR:-/tmp}/jindisk-vm-bench.XXXXXX")
sec=$work/sec
mnt=$work/mnt
loop=
qemu_pid=
cleanup() {
  local rc=$?
  set +e
  [[ -n $qemu_pid ]] && kill -9 "$qemu_pid" 2>/dev/null
  [[ -n $loop ]] && losetup -d "$loop"
  if awk -v m="$mnt" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; then
    fusermount3 -u "$mnt" || fusermount3 -u -z "$mnt"
  fi
  sleep 1
  rm -rf --one-file-system "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "guest kernel and initramfs (with fio)"
vm_kernel_prepare || die "$VM_ERROR"
VM_INITRD=$work/initrd.gz
vm_initramfs "$VM_INITRD" fio || die "$VM_ERROR"
vm_accel
vm_accel_probe "$work"
say "accelerator $VM_ACCEL${VM_ACCEL_WHY:+ ($VM_ACCEL_WHY)}"

head -c 32 /dev/urandom >"$work/key"
mkdir -p "$mnt"
XDG_STATE_HOME=$work/state "$jindisk_fuse" --key-file "$work/key" --size 1G "$sec" "$mnt" >&2
img=$mnt/disk.img

declare -A host_res guest_res
say "host: fio on a loop device over disk.img (--direct-io=on), ${runtime}s a job"
loop=$(losetup --direct-io=on -f --show "$img")
while read -r job rw bs qd; do
  [[ -z $job || $job == \#* ]] && continue
  line=$(fio --name="$job" --filename="$loop" --direct=1 --ioengine=libaio --rw="$rw" --bs="$bs" \
    --iodepth="$qd" --size="${size}M" --runtime="$runtime" --time_based --thread --minimal)
  host_res[$job]=$(fio_terse_summary "$line")
  say "  $job: ${host_res[$job]} (read MiB/s, IOPS, write MiB/s, IOPS)"
done <"$VM_DIR/fio-jobs"
losetup -d "$loop"
loop=

say "guest: the same jobs on /dev/vda (virtio, cache=$cache), ${runtime}s a job"
q=()
VM_MEM=1024 VM_SMP=2 vm_qemu_args q "$work/serial.log" "file=$img,cache=$cache" \
  "jd.mode=fio jd.size=$size jd.runtime=$runtime"
jobs_n=$(grep -cv '^#' "$VM_DIR/fio-jobs")
timeout -k 5 $((300 + jobs_n * (runtime + 30) * 2)) "${q[@]}" </dev/null >"$work/qemu.out" 2>&1 ||
  die "qemu failed or timed out: $(cat "$work/qemu.out"); console: $(tr -d '\r' <"$work/serial.log" | tail -20)"
vm_markers "$work/serial.log" >"$work/markers"
grep -qx DONE "$work/markers" || die "the guest did not finish: $(tr -d '\r' <"$work/serial.log" | tail -20)"
while read -r tag job line; do
  [[ $tag == FIO ]] || continue
  guest_res[$job]=$(fio_terse_summary "$line")
  say "  $job: ${guest_res[$job]}"
done <"$work/markers"

# Markdown: one row a job; the number that matters for the job (read or write), MiB/s and IOPS.
echo "| job | host: loop device, MiB/s | host IOPS | guest: virtio, MiB/s | guest IOPS | guest/host |"
echo "|---|---|---|---|---|---|"
while read -r job rw bs qd; do
  [[ -z $job || $job == \#* ]] && continue
  read -r hr hri hw hwi <<<"${host_res[$job]}"
  read -r gr gri gw gwi <<<"${guest_res[$job]:-0 0 0 0}"
  if [[ $rw == *read* ]]; then h=$hr hi=$hri g=$gr gi=$gri; else h=$hw hi=$hwi g=$gw gi=$gwi; fi
  ratio=$(awk -v g="$g" -v h="$h" 'BEGIN { if (h > 0) printf "%.2f", g / h; else print "-" }')
  echo "| $job ($rw $bs QD$qd) | $h | $hi | $g | $gi | $ratio |"
done <"$VM_DIR/fio-jobs"
echo
echo "accelerator: $VM_ACCEL${VM_ACCEL_WHY:+ ($VM_ACCEL_WHY)}; guest kernel $VM_KERNEL_PKG; ${runtime}s a job on ${size} MiB; QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'); fio $(fio --version)"

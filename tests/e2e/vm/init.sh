#!/bin/busybox sh
# /init of the guest initramfs built by vmlib.sh (busybox ash, PID 1). Loads the modules, waits for
# the virtio drive /dev/vda and does what the kernel command line asks (parameters jd.NAME=VALUE):
#
#   jd.mode=fs       file system work on the ext4 on /dev/vda, in this order:
#     jd.verify=a,b    sha256sum -c of each directory's list (written by an earlier jd.write)
#     jd.write=c       writes jd.files files (jd.kb KiB and up, random) into directory c and
#                      its checksum list c.sums (also printed as "SUM" lines)
#     jd.records=N     appends 16 KiB records to rec/log, fsync after each, "ACK i sha256"
#                      after each fsync returned, with unsynced 256 KiB writes to rec/noise in
#                      between; N records at most (the host kills QEMU long before)
#     jd.end=clean     (default) unmount, sync, power off
#     jd.end=nosync    power off at once: no unmount, no sync (the page cache is lost)
#   jd.mode=fio      the jobs of /etc/fio-jobs (vm/fio-jobs) on /dev/vda, one "FIO name
#                    terse-line" each; jd.size=MiB of the drive to use, jd.runtime=seconds a job
#   jd.mode=root     mounts /dev/vda and switch_root's into it (/sbin/init): the demo
#   jd.mode=shell    a shell on the console (debugging)
#   jd.mode=probe    reports "PROBED" once the modules are loaded, powers off (no drive needed)
#
# Report lines start "JDVM: "; the last one is "DONE" or "FAIL reason".

export PATH=/bin:/sbin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

say() { echo "JDVM: $*"; }
bye() {
  if [ "$1" = nosync ]; then
    poweroff -n -f
  else
    sync
    poweroff -f
  fi
  sleep 5
}
fail() {
  say "FAIL $*"
  bye clean
}

for w in $(cat /proc/cmdline); do
  case $w in
    jd.*=*)
      k=${w%%=*}
      k=${k#jd.}
      eval "jd_$k=\${w#*=}"
      ;;
  esac
done
say "BOOT $(uname -r) mode=${jd_mode:-none}"

for m in $(cat /lib/modules/load-order); do
  insmod "/lib/modules/$m" || fail "insmod $m"
done
if [ "$jd_mode" = probe ]; then
  say PROBED
  bye clean
fi
i=0
while [ ! -b /dev/vda ]; do
  i=$((i + 1))
  [ $i -le 300 ] || fail "no /dev/vda after 30 s"
  sleep 0.1
done

fs_mode() {
  if [ -n "$jd_verify" ]; then
    mount -t ext4 /dev/vda /mnt || fail "mount /dev/vda (verify)"
    for d in $(echo "$jd_verify" | tr , ' '); do
      (cd /mnt && sha256sum -c -s "$d.sums") || fail "checksums of $d differ"
      say "VERIFIED $d $(wc -l <"/mnt/$d.sums") files"
    done
    umount /mnt || fail "umount after verify"
  fi
  if [ -n "$jd_write" ]; then
    mount -t ext4 /dev/vda /mnt || fail "mount /dev/vda (write)"
    d=$jd_write
    mkdir -p "/mnt/$d" || fail "mkdir $d"
    n=0
    while [ $n -lt "${jd_files:-8}" ]; do
      # Sizes jd.kb, 2*jd.kb, ...: small and large files, some not a multiple of 4 KiB.
      dd if=/dev/urandom of="/mnt/$d/f$n" bs=1024 count=$(((n + 1) * ${jd_kb:-256} + n)) 2>/dev/null ||
        fail "writing $d/f$n"
      n=$((n + 1))
    done
    (cd /mnt && sha256sum "$d"/* >"$d.sums") || fail "sha256sum $d"
    while read -r line; do say "SUM $line"; done <"/mnt/$d.sums"
    say "WROTE $d"
    if [ "${jd_end:-clean}" = clean ]; then umount /mnt || fail "umount after write"; fi
  fi
  if [ -n "$jd_records" ]; then
    grep -q ' /mnt ' /proc/mounts || mount -t ext4 /dev/vda /mnt || fail "mount /dev/vda (records)"
    { mkdir -p /mnt/rec && : >/mnt/rec/log && sync; } || fail "creating rec/log"
    i=0
    while [ $i -lt "$jd_records" ]; do
      { echo "jindisk vm record $i"; yes "$i"; } | head -c 16384 >/tmp/rec
      dd if=/tmp/rec of=/mnt/rec/log bs=16384 seek=$i conv=notrunc,fsync 2>/dev/null || fail "record $i"
      say "ACK $i $(sha256sum </tmp/rec | cut -d' ' -f1)"
      dd if=/dev/urandom of=/mnt/rec/noise bs=65536 count=4 seek=$((i % 64 * 4)) conv=notrunc 2>/dev/null
      i=$((i + 1))
    done
  fi
}

fio_mode() {
  [ -x /bin/fio ] || fail "no fio in this initramfs"
  grep -v '^#' /etc/fio-jobs | while read -r job rw bs qd; do
    [ -n "$job" ] || continue
    out=$(fio --name="$job" --filename=/dev/vda --direct=1 --ioengine=libaio --rw="$rw" --bs="$bs" \
      --iodepth="$qd" --size="${jd_size:-256}M" --runtime="${jd_runtime:-10}" --time_based \
      --thread --minimal 2>&1) || fail "fio $job: $out"
    say "FIO $job $out"
  done
}

case ${jd_mode:-shell} in
  fs) fs_mode ;;
  fio) fio_mode ;;
  root)
    mount -t ext4 /dev/vda /newroot || fail "mount /dev/vda as the root file system"
    umount /proc /sys
    mount --move /dev /newroot/dev 2>/dev/null || umount /dev
    exec switch_root /newroot /sbin/init
    ;;
  shell)
    setsid cttyhack sh
    ;;
  *) fail "unknown jd.mode=$jd_mode" ;;
esac
say DONE
bye "${jd_end:-clean}"

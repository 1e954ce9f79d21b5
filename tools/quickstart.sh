#!/usr/bin/env bash
# Installs what is missing, builds, then creates (first time) or opens a secure disk and mounts
# it. Usage: tools/quickstart.sh [SECURE_DIR [MOUNTPOINT]]
#   defaults: ~/secure.d and /mnt/jd; a new disk is 16G (override: JINDISK_SIZE=64G).
# The passphrase is asked on the terminal (twice for a new disk), or taken from
# JINDISK_PASSPHRASE. Any further jindisk-fuse options can be given in JINDISK_FUSE_OPTS.
set -euo pipefail
cd "$(dirname "$0")/.."

secure_dir=${1:-$HOME/secure.d}
mountpoint=${2:-/mnt/jd}

tools/install-deps.sh
if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null
fi
ninja -C build >/dev/null

mkdir -p "$mountpoint"
# shellcheck disable=SC2086
build/fusefs/jindisk-fuse --size "${JINDISK_SIZE:-16G}" ${JINDISK_FUSE_OPTS:-} "$secure_dir" "$mountpoint"

cat <<MSG

The disk image is $mountpoint/disk.img. To put a file system on it:
  dev=\$(losetup --direct-io=on -f --show $mountpoint/disk.img)
  mkfs.ext4 \$dev            # first time only
  mkdir -p /mnt/jd-ext4 && mount \$dev /mnt/jd-ext4
Or give it to a VM:
  qemu-system-x86_64 -drive file=$mountpoint/disk.img,format=raw,if=virtio,cache=none ...
To stop (the daemon makes its final commit and exits):
  umount /mnt/jd-ext4; losetup -d \$dev; fusermount3 -u $mountpoint
State of the disk:  build/tools/jindisk info $secure_dir
MSG

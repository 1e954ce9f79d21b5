#!/usr/bin/env bash
# Installs the Debian packages jindisk-fuse needs to build, test and run. Idempotent: quiet and
# quick when everything is present; runs apt-get (as root) only for what is missing.
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config
  libfuse3-dev fuse3 libsodium-dev libboost-program-options-dev doctest-dev
  e2fsprogs util-linux fio qemu-utils
  qemu-system-x86 busybox-static cpio  # the VM test, demo and bench (tests/e2e/vm/); the guest
                                       # kernel is fetched into a cache by tests/e2e/vm/vmlib.sh
  clang-14 libclang-rt-14-dev  # libFuzzer targets in fuzz/ (tools/fuzz.sh)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

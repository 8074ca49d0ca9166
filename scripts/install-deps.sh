#!/bin/bash
# Install every Debian package tdx-emu needs to build QEMU, the L1 kernel,
# the initramfs and the native tests. Idempotent: does nothing when all are
# present. Build dependencies come from bookworm; meson from
# bookworm-backports (QEMU 10.0 needs >= 1.5).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root "package installation"

PKGS=(
    # toolchain and build drivers
    build-essential ccache pkg-config ninja-build python3 python3-venv
    dpkg-dev git xz-utils cpio file
    # QEMU build dependencies (x86_64-softmmu, minimal features)
    libglib2.0-dev libslirp-dev libpixman-1-dev flex bison zlib1g-dev libfdt-dev
    # L1 kernel build dependencies
    bc libelf-dev libssl-dev kmod
    # L1 initramfs
    busybox-static
    # JUnit schema check of the campaign's output (tests/system/test-campaign-shard.sh)
    libxml2-utils
    # native tests: sanitizers and libFuzzer runtimes for clang
    clang libclang-rt-14-dev
)
BACKPORTS=(meson)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
meson_ok=0
if command -v meson >/dev/null &&
   dpkg --compare-versions "$(meson --version 2>/dev/null || echo 0)" ge 1.5; then
    meson_ok=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $meson_ok = 1 ]; then
    exit 0
fi

bash "$TDX_EMU_ROOT/scripts/setup-apt.sh"
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
        die "apt-get install failed for: ${missing[*]}"
fi
if [ $meson_ok = 0 ]; then
    log "installing meson from bookworm-backports"
    $SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports "${BACKPORTS[@]}" >&2 ||
        die "could not install meson >= 1.5 from bookworm-backports"
fi
v=$(meson --version)
dpkg --compare-versions "$v" ge 1.5 || die "meson $v is too old; QEMU 10.0 needs >= 1.5"

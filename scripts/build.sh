#!/bin/bash
# Build everything from nothing (or incrementally): install packages, fetch
# sources, build the QEMU fork, the L1 kernel, the native parts and the L1
# initramfs. Writes the artifact paths to $TDX_EMU_CACHE/artifacts.env,
# which run-l1.sh and the tests read.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

t0=$(now_s)
bash "$TDX_EMU_ROOT/scripts/install-deps.sh"
mkdir -p "$TDX_EMU_CACHE"
{
    bash "$TDX_EMU_ROOT/scripts/fetch-sources.sh" firmware
    bash "$TDX_EMU_ROOT/scripts/build-native.sh"
} > "$TDX_EMU_CACHE/artifacts.env.tmp"
t1=$(now_s)
bash "$TDX_EMU_ROOT/scripts/build-qemu.sh" >> "$TDX_EMU_CACHE/artifacts.env.tmp"
log "QEMU step: $(elapsed "$t1") s"
t1=$(now_s)
bash "$TDX_EMU_ROOT/scripts/build-kernel.sh" >> "$TDX_EMU_CACHE/artifacts.env.tmp"
log "kernel step: $(elapsed "$t1") s"
# The initramfs carries the guest tools and the test modules built against
# the kernel, so it comes last.
eval "$(cat "$TDX_EMU_CACHE/artifacts.env.tmp")"
bash "$TDX_EMU_ROOT/scripts/build-initramfs.sh" "$NATIVE_BUILD" "$GUEST_KMODS" >> "$TDX_EMU_CACHE/artifacts.env.tmp"
# The real TD stack (Debian's QEMU/OVMF/kernel in L1; ~50 Debian packages
# downloaded once, cached): TDX_EMU_REAL_TD=0 leaves it out.
if [ "${TDX_EMU_REAL_TD:-1}" = 1 ]; then
    bash "$TDX_EMU_ROOT/scripts/fetch-real-td.sh" >> "$TDX_EMU_CACHE/artifacts.env.tmp"
fi
mv "$TDX_EMU_CACHE/artifacts.env.tmp" "$TDX_EMU_CACHE/artifacts.env"
log "build complete in $(elapsed "$t0") s; artifacts in $TDX_EMU_CACHE/artifacts.env"

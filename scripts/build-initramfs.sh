#!/bin/bash
# Build the L1 initramfs: busybox (from Debian's busybox-static), guest/init,
# guest/jobs/* and the static guest tools of the native build, plus the
# test-only kernel modules (guest/kmod, built by build-kernel.sh) in /kmod.
# Usage: build-initramfs.sh NATIVE_BUILD_DIR [GUEST_KMODS_DIR].
# Prints INITRAMFS=path.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

native=${1:?usage: build-initramfs.sh NATIVE_BUILD_DIR [GUEST_KMODS_DIR]}
kmods=${2:-${GUEST_KMODS:-}}
if [ -z "$kmods" ] && [ -f "$TDX_EMU_CACHE/artifacts.env" ]; then
    kmods=$(sed -n 's/^GUEST_KMODS=//p' "$TDX_EMU_CACHE/artifacts.env")
fi
BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] && file -L "$BUSYBOX" | grep -q 'statically linked' ||
    die "$BUSYBOX is not a static busybox (install busybox-static)"

OUT=$TDX_EMU_CACHE/build/initramfs
rm -rf "$OUT/root"; mkdir -p "$OUT/root"/{bin,sbin,jobs,kmod,proc,sys,dev,tmp,etc}
cp "$BUSYBOX" "$OUT/root/bin/busybox"
cp "$TDX_EMU_ROOT/guest/init" "$OUT/root/init"
cp "$TDX_EMU_ROOT"/guest/jobs/* "$OUT/root/jobs/"
for prog in $(sed -n "s/^ *'\([a-z0-9_-]*\)': files(.*/\1/p" "$TDX_EMU_ROOT/guest/meson.build"); do
    [ -x "$native/guest/$prog" ] || die "guest tool $prog missing from $native/guest"
    cp "$native/guest/$prog" "$OUT/root/bin/"
done
# The TD guest image that tdvmm --run loads (guest/td-payload).
[ -f "$native/guest/td-payload.bin" ] || die "td-payload.bin missing from $native/guest"
mkdir -p "$OUT/root/lib" && cp "$native/guest/td-payload.bin" "$OUT/root/lib/"
# Without the modules the image still boots; jobs that need one say so.
if [ -n "$kmods" ] && ls "$kmods"/*.ko > /dev/null 2>&1; then
    cp "$kmods"/*.ko "$OUT/root/kmod/"
else
    log "no guest kernel modules (${kmods:-GUEST_KMODS unset}): jobs that load one will fail"
fi
chmod +x "$OUT/root/init" "$OUT/root/jobs"/*
# A fixed order and timestamps make the archive reproducible.
(cd "$OUT/root" && find . -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc --reproducible -R 0:0 2>/dev/null) | gzip -9n > "$OUT/initramfs.cpio.gz.tmp"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
echo "INITRAMFS=$OUT/initramfs.cpio.gz"

#!/bin/bash
# Copy what a campaign or an L1 boot needs (the QEMU fork's binary, the L1
# kernel, its initramfs, the firmware) out of $TDX_EMU_CACHE into DIR, with
# DIR/artifacts.env pointing there, so that another job, machine or
# container runs scripts/campaign and scripts/run-l1.sh with
# TDX_EMU_CACHE=DIR and nothing built:
#   bundle.sh DIR                      after scripts/build.sh
#   bundle.sh --install-runtime DIR    where DIR was copied to: install the
#                                      shared libraries the binary needs
#                                      (apt, Debian) and point
#                                      DIR/artifacts.env at DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# The QEMU fork's run-time libraries on Debian bookworm (its configure:
# --without-default-features --enable-slirp) and what run-l1.sh uses.
RUNTIME_PKGS=(libglib2.0-0 libpixman-1-0 libslirp0 libfdt1 zlib1g python3 coreutils)

relocate() {   # DIR: artifacts.env naming DIR's files
    local dir=$1
    cat > "$dir/artifacts.env" <<EOT
QEMU_BINARY=$dir/qemu-system-x86_64
KERNEL_IMAGE=$dir/bzImage
INITRAMFS=$dir/initramfs.cpio.gz
FIRMWARE_DIR=$dir/firmware
EOT
}

if [ "${1:-}" = --install-runtime ]; then
    dir=$(cd "${2:?usage: bundle.sh --install-runtime DIR}" && pwd)
    need_root "installing run-time libraries"
    missing=()
    for p in "${RUNTIME_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -q >&2
        $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
    chmod +x "$dir/qemu-system-x86_64"
    relocate "$dir"
    if ldd "$dir/qemu-system-x86_64" | grep -q 'not found'; then
        die "the QEMU binary misses libraries: $(ldd "$dir/qemu-system-x86_64" | grep 'not found' | tr '\n' ' ')"
    fi
    log "bundle ready: TDX_EMU_CACHE=$dir"
    exit 0
fi

out=${1:?usage: bundle.sh DIR | bundle.sh --install-runtime DIR}
ART=$TDX_EMU_CACHE/artifacts.env
[ -f "$ART" ] || die "nothing built yet in $TDX_EMU_CACHE: run scripts/build.sh first"
eval "$(cat "$ART")"
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/firmware"
cp "$QEMU_BINARY" "$out/qemu-system-x86_64"
cp "$KERNEL_IMAGE" "$out/bzImage"
cp "$INITRAMFS" "$out/initramfs.cpio.gz"
cp -rL "$FIRMWARE_DIR" "$out/firmware"
relocate "$out"
log "bundle in $out ($(du -sh "$out" | cut -f1)): TDX_EMU_CACHE=$out python3 scripts/campaign ..."

#!/bin/bash
# Fetch, from Debian's registry, what tdx-emu builds on:
#   QEMU      the `qemu` source package of trixie (10.0.x), Debian patches applied
#   Linux     linux-source-7.2 (else the newest linux-source-7.x served)
#   firmware  seabios and qemu-system-data, unpacked into the cache (not installed)
# Results go under $TDX_EMU_CACHE and are reused on rerun. Prints nothing on
# stdout but `KEY=value` lines that build.sh evaluates.
#
# QEMU_SRC=dir / KERNEL_SRC=dir skip the corresponding download.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

QEMU_SUITE=${QEMU_SUITE:-trixie}
DL=$TDX_EMU_CACHE/downloads
SRC=$TDX_EMU_CACHE/src
mkdir -p "$DL" "$SRC"

fetch_qemu() {
    if [ -n "${QEMU_SRC:-}" ]; then
        [ -f "$QEMU_SRC/VERSION" ] || die "QEMU_SRC=$QEMU_SRC does not look like a QEMU tree"
        echo "QEMU_SRC=$QEMU_SRC"; echo "QEMU_VERSION=$(cat "$QEMU_SRC/VERSION")"
        return
    fi
    local dsc ver dir
    dsc=$(ls -t "$DL"/qemu_*.dsc 2>/dev/null | head -n1 || true)
    # Re-check what the suite serves at most once a day; use the cached copy offline.
    if [ -z "$dsc" ] || [ -z "$(find "$dsc" -mtime -1 2>/dev/null)" ]; then
        bash "$TDX_EMU_ROOT/scripts/setup-apt.sh"
        (cd "$DL" && apt-get source -q -o APT::Sandbox::User=root --download-only "qemu/$QEMU_SUITE" >&2) ||
            { [ -n "$dsc" ] || die "could not download the qemu source package of $QEMU_SUITE"; }
        dsc=$(ls -t "$DL"/qemu_*.dsc | head -n1)
    fi
    ver=$(basename "$dsc" .dsc); ver=${ver#qemu_}
    dir=$SRC/qemu-$ver
    if [ ! -f "$dir/VERSION" ]; then
        log "unpacking qemu $ver"
        rm -rf "$dir.tmp"
        dpkg-source --no-check -x "$dsc" "$dir.tmp" >&2 || die "dpkg-source failed on $dsc"
        mv "$dir.tmp" "$dir"
    fi
    echo "QEMU_SRC=$dir"; echo "QEMU_VERSION=$(cat "$dir/VERSION")"
}

fetch_kernel() {
    if [ -n "${KERNEL_SRC:-}" ]; then
        [ -f "$KERNEL_SRC/Makefile" ] && [ -d "$KERNEL_SRC/arch/x86" ] ||
            die "KERNEL_SRC=$KERNEL_SRC does not look like a Linux tree"
        echo "KERNEL_SRC=$KERNEL_SRC"; return
    fi
    local pkg deb ver dir tarball
    local policy
    # Prefer 7.2 (what the busy-path reference is written against); a cached
    # 7.2 package is reused for a week before asking the registry again.
    deb=$(ls -t "$DL"/linux-source-7.2_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ] || [ -z "$(find "$deb" -mtime -7 2>/dev/null)" ]; then
        bash "$TDX_EMU_ROOT/scripts/setup-apt.sh"
        pkg=linux-source-7.2
        policy=$(apt-cache policy "$pkg" 2>/dev/null || true)
        if ! printf '%s\n' "$policy" | grep -q 'Candidate: [0-9]'; then
            pkg=$(apt-cache pkgnames linux-source-7. | sort -V | tail -n1)
            [ -n "$pkg" ] || die "the registry serves no linux-source-7.x package"
            log "linux-source-7.2 is not served; using $pkg (TDX options are re-verified in .config)"
        fi
        (cd "$DL" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
            { [ -n "$deb" ] || die "could not download $pkg"; }
        deb=$(ls -t "$DL"/"$pkg"_*.deb | head -n1)
    fi
    ver=$(dpkg-deb -f "$deb" Version)
    pkg=$(dpkg-deb -f "$deb" Package)
    dir=$SRC/$pkg-$ver
    if [ ! -f "$dir/Makefile" ]; then
        log "unpacking $pkg $ver"
        rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
        tarball=$(dpkg-deb -c "$deb" | awk '{print $NF}' | grep -E '/usr/src/linux-source-[0-9.]+\.tar\.xz$' | head -n1)
        [ -n "$tarball" ] || die "$deb ships no kernel tarball"
        dpkg-deb --fsys-tarfile "$deb" | tar -xO "$tarball" | tar -xJ -C "$dir.tmp" --strip-components=1
        mv "$dir.tmp" "$dir"
    fi
    echo "KERNEL_SRC=$dir"
}

fetch_firmware() {
    local fw=$TDX_EMU_CACHE/firmware p deb
    if [ -f "$fw/bios-256k.bin" ] && [ -f "$fw/linuxboot_dma.bin" ]; then
        echo "FIRMWARE_DIR=$fw"; return
    fi
    bash "$TDX_EMU_ROOT/scripts/setup-apt.sh"
    mkdir -p "$fw" "$DL/fw"
    for p in seabios qemu-system-data; do
        (cd "$DL/fw" && apt-get download -q -o APT::Sandbox::User=root "$p/$QEMU_SUITE" >&2) || die "could not download $p"
    done
    rm -rf "$DL/fw/x"
    for deb in "$DL"/fw/*.deb; do dpkg-deb -x "$deb" "$DL/fw/x"; done
    # Collect the ROMs where -L can find them; links inside the packages are resolved.
    find "$DL/fw/x" \( -name '*.bin' -o -name '*.rom' -o -name '*.img' \) \( -type f -o -type l \) |
        while read -r f; do cp -L "$f" "$fw/" 2>/dev/null || true; done
    [ -f "$fw/bios-256k.bin" ] || die "seabios did not provide bios-256k.bin"
    [ -f "$fw/linuxboot_dma.bin" ] || die "qemu-system-data did not provide linuxboot_dma.bin"
    echo "FIRMWARE_DIR=$fw"
}

case "${1:-all}" in
    qemu) fetch_qemu ;;
    kernel) fetch_kernel ;;
    firmware) fetch_firmware ;;
    all) fetch_qemu; fetch_kernel; fetch_firmware ;;
    *) die "usage: $0 [qemu|kernel|firmware|all]" ;;
esac

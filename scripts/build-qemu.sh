#!/bin/bash
# Build the tdx-emu QEMU fork: pristine QEMU 10.0.x source + qemu/patches +
# the overlay directories of this repository, configured for x86_64-softmmu
# with minimal features. Incremental: the working tree is only recreated when
# the source or the patch series changed, and ninja rebuilds what changed.
# Prints QEMU_BUILD=dir and QEMU_BINARY=path on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

eval "$(bash "$TDX_EMU_ROOT/scripts/fetch-sources.sh" qemu)"
want=$(cat "$TDX_EMU_ROOT/qemu/series-version")
case "$QEMU_VERSION" in
    "$want".*) ;;
    *) die "QEMU $QEMU_VERSION at $QEMU_SRC: tdx-emu's patches are for QEMU $want.x" ;;
esac

TREE=$TDX_EMU_CACHE/build/qemu-tree
BUILD=$TDX_EMU_CACHE/build/qemu
build_lock qemu
export CCACHE_DIR=${CCACHE_DIR:-$TDX_EMU_CACHE/ccache}

series=()
while read -r p; do
    case "$p" in ''|'#'*) continue ;; esac
    series+=("$TDX_EMU_ROOT/qemu/patches/$p")
done < "$TDX_EMU_ROOT/qemu/series"
tree_id=$( { echo "$QEMU_SRC"; cat "$QEMU_SRC/VERSION"; cat "${series[@]}" /dev/null; } | md5sum | cut -c1-16)

if [ "$(cat "$TREE/.tdx-emu-tree" 2>/dev/null)" != "$tree_id" ]; then
    log "preparing QEMU $QEMU_VERSION working tree with ${#series[@]} patch(es)"
    rm -rf "$TREE.tmp"
    # Hard links keep unchanged files' mtimes, so a rebuild after a patch
    # change recompiles only what the patch touched; patch(1) writes new
    # files rather than modifying the pristine ones in place.
    cp -al "$QEMU_SRC" "$TREE.tmp" 2>/dev/null || cp -a "$QEMU_SRC" "$TREE.tmp"
    for p in "${series[@]}"; do
        patch -d "$TREE.tmp" -p1 --dry-run -s -f < "$p" >/dev/null 2>&1 ||
            die "qemu/patches/$(basename "$p") does not apply to QEMU $QEMU_VERSION ($QEMU_SRC)"
        patch -d "$TREE.tmp" -p1 -s -f --no-backup-if-mismatch < "$p" >&2
    done
    rm -rf "$TREE"; mv "$TREE.tmp" "$TREE"
    echo "$tree_id" > "$TREE/.tdx-emu-tree"
    rm -rf "$BUILD"   # configure caches absolute source paths
fi

# The overlay: links into this repository (refreshed each run, so a moved
# checkout still works).
ln -sfn "$TDX_EMU_ROOT/hw/tdx-emu" "$TREE/hw/tdx-emu"
ln -sfn "$TDX_EMU_ROOT/target/i386" "$TREE/target/i386/tdx-emu"
ln -sfn "$TDX_EMU_ROOT/tests/qtest" "$TREE/tests/qtest/tdx-emu"
for f in "$TDX_EMU_ROOT"/hw/tdx-emu/qapi/*.json; do
    ln -sfn "$f" "$TREE/qapi/$(basename "$f")"
done
find "$TREE/tests/qtest" -maxdepth 1 -name 'tdx-emu*.c' -type l -delete
for f in "$TDX_EMU_ROOT"/tests/qtest/tdx-emu*.c; do
    [ -e "$f" ] && ln -sfn "$f" "$TREE/tests/qtest/$(basename "$f")"
done

conf=(--target-list=x86_64-softmmu --without-default-features
      --enable-tcg --enable-slirp --disable-docs --disable-install-blobs
      --disable-werror --python=/usr/bin/python3)
# QEMU's configure hands --cc to meson word-split, so "ccache gcc" works.
command -v ccache >/dev/null && conf+=(--cc="ccache gcc")
if [ "$(cat "$BUILD/.tdx-emu-configure" 2>/dev/null)" != "${conf[*]}" ] || [ ! -f "$BUILD/build.ninja" ]; then
    log "configuring QEMU"
    rm -rf "$BUILD"; mkdir -p "$BUILD"
    (cd "$BUILD" && "$TREE/configure" "${conf[@]}" >"$BUILD/configure.log" 2>&1) ||
        { tail -30 "$BUILD/configure.log" >&2; die "QEMU configure failed (log: $BUILD/configure.log)"; }
    echo "${conf[*]}" > "$BUILD/.tdx-emu-configure"
fi

# Built from another checkout before: its files' mtimes say nothing about
# this one's (an older edit here looks "up to date" against objects built
# from a fresher clone), so rebuild everything; ccache makes that cheap.
if [ "$(cat "$BUILD/.tdx-emu-root" 2>/dev/null)" != "$TDX_EMU_ROOT" ]; then
    [ -f "$BUILD/.tdx-emu-root" ] && log "overlay moved to $TDX_EMU_ROOT: rebuilding all objects"
    # Meson recorded the overlay's files by their resolved paths (for
    # re-running itself when e.g. core/sources.list changes): re-read them.
    ninja -C "$BUILD" reconfigure >"$BUILD/reconfigure.log" 2>&1 ||
        { tail -20 "$BUILD/reconfigure.log" >&2; die "QEMU reconfigure failed (log: $BUILD/reconfigure.log)"; }
    ninja -C "$BUILD" -t clean >/dev/null 2>&1 || true
    echo "$TDX_EMU_ROOT" > "$BUILD/.tdx-emu-root"
fi

t0=$(now_s)
log "building QEMU in $BUILD"
ninja -C "$BUILD" -j"$(nproc)" qemu-system-x86_64 >"$BUILD/ninja.log" 2>&1 ||
    { grep -E 'error|Error' "$BUILD/ninja.log" | head -30 >&2; die "QEMU build failed (log: $BUILD/ninja.log)"; }
log "QEMU built in $(elapsed "$t0") s"

# Debian's +ds source has no firmware blobs; put the ones from Debian's
# seabios/qemu-system-data packages where a build-tree QEMU looks (qtests
# start it without -L).
eval "$(bash "$TDX_EMU_ROOT/scripts/fetch-sources.sh" firmware)"
datadir=$(find "$BUILD/qemu-bundle" -path '*/share/qemu' -type d | head -n1)
[ -n "$datadir" ] || die "no share/qemu in $BUILD/qemu-bundle"
for f in "$FIRMWARE_DIR"/*; do
    ln -sfn "$f" "$datadir/$(basename "$f")"
done
echo "QEMU_BUILD=$BUILD"
echo "QEMU_BINARY=$BUILD/qemu-system-x86_64"

#!/bin/bash
# Build the QEMU-free parts (module core, unit tests, benchmarks, guest
# tools) with meson in $TDX_EMU_CACHE/build/native (or the dir given by
# NATIVE_BUILD, with extra meson options from NATIVE_OPTS).
# Prints NATIVE_BUILD=dir on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD=${NATIVE_BUILD:-$TDX_EMU_CACHE/build/native}
read -r -a opts <<< "${NATIVE_OPTS:-}"
mkdir -p "$(dirname "$BUILD")"
# Options are fixed at setup: a build dir set up with other ones starts over.
if [ "$(cat "$BUILD/.tdx-emu-opts" 2>/dev/null)" != "$TDX_EMU_ROOT ${CC:-cc} ${opts[*]}" ]; then
    rm -rf "$BUILD"
fi
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" "$TDX_EMU_ROOT" "${opts[@]}" >"$BUILD.setup.log" 2>&1 ||
        { cat "$BUILD.setup.log" >&2; die "meson setup of $BUILD failed"; }
    echo "$TDX_EMU_ROOT ${CC:-cc} ${opts[*]}" > "$BUILD/.tdx-emu-opts"
fi
ninja -C "$BUILD" >"$BUILD.ninja.log" 2>&1 ||
    { grep -E -A5 'error|FAILED' "$BUILD.ninja.log" | head -40 >&2; die "native build in $BUILD failed"; }
echo "NATIVE_BUILD=$BUILD"

#!/bin/bash
# Build the L1 host kernel (bzImage) from Debian's linux-source-7.2 (or
# KERNEL_SRC) with patches-kernel/*.config merged onto tinyconfig, out of
# tree under $TDX_EMU_CACHE/build. Fails unless the final .config really has
# INTEL_TDX_HOST=y and KVM_INTEL_TDX=y. Prints KERNEL_IMAGE=path on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

eval "$(bash "$TDX_EMU_ROOT/scripts/fetch-sources.sh" kernel)"
kver=$(make -s -C "$KERNEL_SRC" kernelversion 2>/dev/null)
OUT=$TDX_EMU_CACHE/build/linux-$kver-$(printf '%s' "$KERNEL_SRC" | md5sum | cut -c1-8)
mkdir -p "$OUT"
build_lock kernel
export CCACHE_DIR=${CCACHE_DIR:-$TDX_EMU_CACHE/ccache}
MAKE=(make -C "$KERNEL_SRC" O="$OUT" -j"$(nproc)" CC="ccache gcc" HOSTCC="ccache gcc")

fragments=("$TDX_EMU_ROOT"/patches-kernel/*.config)
cfg_hash=$(cat "${fragments[@]}" | md5sum | cut -c1-16)
if [ "$(cat "$OUT/.tdx-emu-config" 2>/dev/null)" != "$cfg_hash" ] || [ ! -f "$OUT/.config" ]; then
    log "configuring Linux $kver (tinyconfig + ${fragments[*]##*/})"
    {
        "${MAKE[@]}" -s tinyconfig &&
        (cd "$OUT" && "$KERNEL_SRC/scripts/kconfig/merge_config.sh" -m -O "$OUT" "$OUT/.config" "${fragments[@]}") &&
        "${MAKE[@]}" -s olddefconfig
    } >"$OUT/config.log" 2>&1 || { tail -20 "$OUT/config.log" >&2; die "kernel configuration failed (log: $OUT/config.log)"; }
    echo "$cfg_hash" > "$OUT/.tdx-emu-config"
fi

# What the fragment asks for must survive olddefconfig: dependencies that are
# not met drop options silently.
bad=0
for opt in INTEL_TDX_HOST KVM_INTEL_TDX KVM_INTEL KVM X86_X2APIC CONTIG_ALLOC BLK_DEV_INITRD SERIAL_8250_CONSOLE MODULES; do
    if ! grep -qx "CONFIG_$opt=y" "$OUT/.config"; then
        log "CONFIG_$opt is not =y in $OUT/.config (unmet dependency?)"
        bad=1
    fi
done
[ $bad = 0 ] || die "the L1 kernel config lost required options; see above"

t0=$(now_s)
log "building Linux $kver bzImage in $OUT"
"${MAKE[@]}" bzImage modules >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log" >&2; die "kernel build failed (full log: $OUT/build.log)"; }
log "kernel built in $(elapsed "$t0") s"

# Test-only modules (guest/kmod) against this kernel. Kbuild writes next to
# the sources, so they are built from a copy in the cache.
KMOD=$OUT/tdx-emu-kmod
rm -rf "$KMOD"; mkdir -p "$KMOD"
cp "$TDX_EMU_ROOT"/guest/kmod/* "$KMOD/"
"${MAKE[@]}" M="$KMOD" modules >"$OUT/kmod.log" 2>&1 || { tail -40 "$OUT/kmod.log" >&2; die "guest module build failed (full log: $OUT/kmod.log)"; }
echo "KERNEL_IMAGE=$OUT/arch/x86/boot/bzImage"
echo "KERNEL_BUILD=$OUT"
echo "GUEST_KMODS=$KMOD"

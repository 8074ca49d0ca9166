#!/bin/bash
# Fetch the real TD stack of issue 13 from Debian's registry (binaries, as
# shipped) and build its L1 overlay under $TDX_EMU_CACHE/real-td:
#   qemu-system-x86 1:11.1.3+ds-2~bpo13+1 (trixie-backports) and its
#     shared-library closure from trixie, with trixie's ld.so
#   ovmf 2025.02-8+deb13u1 (trixie): OVMF.fd
#   linux-binary-7.2.13+deb14-amd64 7.2.13-1 (sid): vmlinuz
#   our busybox initramfs for the TD guest (guest/real-td/td-init)
# with `apt-get download` through the low-pinned suites of setup-apt.sh:
# nothing is installed system-wide. Prints REAL_TD_OVERLAY=FILE; boot it
# with: bash scripts/run-l1.sh --initrd-overlay FILE --job real-td
# (scripts/build.sh runs this when TDX_EMU_REAL_TD=1 and records
# REAL_TD_OVERLAY in artifacts.env).
# Rebuilt only when this script, the overlay builder or the TD init change.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
build_lock real-td
bash "$TDX_EMU_ROOT/scripts/setup-apt.sh"
out=$TDX_EMU_CACHE/real-td/overlay.cpio.gz
key=$(cat "$0" "$TDX_EMU_ROOT/scripts/real-td-overlay.py" \
          "$TDX_EMU_ROOT/guest/real-td/td-init" "${BUSYBOX:-/bin/busybox}" | sha256sum | cut -c1-16)
stamp=$TDX_EMU_CACHE/stamps/real-td-$key
if [ -f "$out" ] && [ -f "$stamp" ]; then
    echo "REAL_TD_OVERLAY=$out"
    exit 0
fi
t0=$(now_s)
python3 "$TDX_EMU_ROOT/scripts/real-td-overlay.py"
mkdir -p "$(dirname "$stamp")" && touch "$stamp"
log "real TD overlay: $(elapsed "$t0") s"

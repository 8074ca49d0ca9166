#!/bin/bash
# The main job: set up everything that is missing (packages, sources, QEMU
# fork, L1 kernel, initramfs), boot L1 on the emulated TDX platform, build
# and destroy a TD there with guest/tdvmm, and print the module's state
# ("info tdx") after L1 powered off. Arguments, if any, go to
# scripts/run-l1.sh instead of that default.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bash "$TDX_EMU_ROOT/scripts/build.sh"
[ $# -gt 0 ] || set -- --job tdvmm --hmp-at-exit "info tdx"
exec bash "$TDX_EMU_ROOT/scripts/run-l1.sh" "$@"

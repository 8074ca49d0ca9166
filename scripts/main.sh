#!/bin/bash
# The main job: set up everything that is missing (packages, sources, QEMU
# fork, L1 kernel, initramfs) and boot L1 under the fork, showing what the
# L1 kernel says about TDX and KVM. Arguments go to scripts/run-l1.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bash "$TDX_EMU_ROOT/scripts/build.sh"
exec bash "$TDX_EMU_ROOT/scripts/run-l1.sh" "$@"

#!/bin/bash
# The main job: set up everything that is missing (packages, sources, QEMU
# fork, L1 kernel, initramfs), then run the default fault-injection
# campaign (scripts/campaign, plan scripts/plans/default.json): L1 boots on
# the emulated TDX platform once per scenario, KVM builds and runs TDs
# while injected TDX_OPERAND_BUSY statuses hit every busy path of
# docs/busy-paths.md, and the table of recognized versus
# intended reactions is printed. Arguments, if any, go to scripts/campaign
# (e.g. --plan FILE, --seed N, --only runtime, --out DIR).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bash "$TDX_EMU_ROOT/scripts/build.sh"
exec python3 "$TDX_EMU_ROOT/scripts/campaign" "$@"

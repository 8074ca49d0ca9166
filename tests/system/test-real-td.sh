#!/bin/bash
# The real TD stack (issue 13): L1 on tdx-emu boots, Debian's QEMU 11 starts
# a TD with Debian's OVMF and Debian's kernel (as shipped, from the overlay
# of scripts/fetch-real-td.sh), the TD kernel reaches our userspace, writes
# 4 MiB through a virtio-serial port (swiotlb bounce buffers in shared
# memory) and powers off; afterwards the module holds no TD and neither L1
# nor the TD kernel warned. The first run downloads ~50 Debian packages
# (cached). TDX_EMU_REAL_TD=0 skips it (and says so).
. "$(dirname "$0")/lib.sh"

if [ "${TDX_EMU_REAL_TD:-1}" = 0 ]; then
    echo "measured: real TD stack not run (TDX_EMU_REAL_TD=0)"
    exit 0
fi
overlay=$(bash "$ROOT/scripts/fetch-real-td.sh" | sed -n 's/^REAL_TD_OVERLAY=//p')
[ -f "$overlay" ] || fail "fetch-real-td.sh: expected REAL_TD_OVERLAY=FILE, got none"
ok "overlay: $overlay ($(du -m "$overlay" | cut -f1) MB)"

t0=$EPOCHREALTIME
boot realtd --smp 2 --mem 2G --timeout "${TDX_EMU_REAL_TD_TIMEOUT:-600}" \
    --initrd-overlay "$overlay" --job real-td --hmp-at-exit "info tdx"
echo "measured: whole run $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s (run-l1 rc=$rc)"
grep -E '^TDX-EMU-HOST: init-seconds|^TDX-EMU-L1: real-td: (qemu rc|times)|^TDX-EMU-TD: workload' \
    "$WORK/realtd.log" | sed 's/^/measured: /' || true
grep -E '^  #VE injected|^  TD translations at VP.ENTER|^  requests this module does not know|^    (TD[HG]\.[A-Z.]+ +field|unknown leaf) |^    (TDH.VP.ENTER|TDG.VP.VMCALL|TDH.MEM.PAGE.AUG|TDG.MEM.PAGE.ACCEPT) ' \
    "$WORK/realtd.log" | sed 's/^ */measured: /' || true
# How far the stack got, in the order it gets there.
stage=none
grep -q 'TDX-EMU-L1: real-td: ' "$WORK/realtd.log" && stage="L1 started Debian's QEMU"
grep -qE 'tdx: Guest detected|Linux version .*deb14' "$WORK/realtd.log" && stage="TD kernel started"
grep -q 'Memory Encryption Features active: Intel TDX' "$WORK/realtd.log" && stage="TD kernel in TDX mode"
grep -q '^TDX-EMU-TD: userspace reached' "$WORK/realtd.log" && stage="TD userspace"
grep -q '^TDX-EMU-TD: done' "$WORK/realtd.log" && stage="TD userspace done, powering off"
echo "measured: real TD stack reached: $stage"
expect_line realtd '^TDX-EMU-TD: userspace reached' "TD guest (Debian's kernel) reached our userspace"
expect_line realtd '^TDX-EMU-TD: cpu flag tdx_guest' "TD guest runs as a TDX guest"
expect_line realtd '^TDX-EMU-TD: dmesg: .*Memory Encryption Features active: Intel TDX' "TD kernel in TDX mode"
sent=$(sed -n 's/^TDX-EMU-TD: workload bytes=\([0-9]*\) sha256=\([0-9a-f]*\).*/\1 \2/p' "$WORK/realtd.log")
got=$(sed -n 's/^TDX-EMU-L1: real-td: data bytes=\([0-9]*\) sha256=\([0-9a-f]*\).*/\1 \2/p' "$WORK/realtd.log")
[ "$sent" = "4194304 ${sent#* }" ] && [ -n "${sent#* }" ] ||
    fail "workload: expected the TD to send 4194304 bytes through virtio-serial, got '${sent:-no workload line}'"
[ "$sent" = "$got" ] || fail "workload: L1 expected to receive what the TD sent ($sent), got '${got:-nothing}'"
ok "workload: 4 MiB from the TD through virtio-serial (swiotlb) arrived intact in L1 (sha256 ${sent#* })"
if grep -q '^TDX-EMU-TD: kernel reported WARN/BUG/Oops' "$WORK/realtd.log"; then
    fail "TD kernel: expected no WARN/BUG/Oops in its dmesg, got: $(grep -E 'WARNING:|BUG:|Oops' "$WORK/realtd.log" | head -5 | tr '\n' '|')"
fi
ok "TD kernel: no WARN/BUG/Oops"
expect_line realtd '^TDX-EMU-L1: real-td: qemu rc=0' "Debian's QEMU exits 0 after the TD powers off"
expect_line realtd '^TDX-EMU-L1: done rc=0' "L1 job finished, no WARN/BUG in L1"
expect_td_gone realtd

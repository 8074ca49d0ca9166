#!/bin/bash
# TD benchmark (prints figures; not a test). Uses the QEMU binary, kernel
# and initramfs of ~/.cache/tdx-emu/artifacts.env (build them first).
#  (a) L1 on the emulated TDX platform runs td-payload in "compute" mode in
#      a 1-vCPU TD: the LCG loop timed with RDTSC inside the TD;
#  (b) the same loop (td-payload-stub.bin: the payload's stub build, compute
#      mode and N fixed at build time) as the -bios of a plain TCG guest
#      (-M isapc) with the same QEMU binary: RDTSC under TCG follows host
#      time, so the cycles of the two runs are comparable;
#  (c) L1 runs td-payload in "pingpong" mode (TDG.VP.VMCALL<IO> exits to
#      tdvmm), exits per second.
# Usage: tests/bench/td-bench.sh [--pingpong N] [--vcpus V]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TDX_EMU_CACHE=${TDX_EMU_CACHE:-$HOME/.cache/tdx-emu}
eval "$(cat "$TDX_EMU_CACHE/artifacts.env")"
pingpong_n=20000 pp_vcpus=1 versus='' rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
        --pingpong) pingpong_n=$2; shift 2 ;;
        --vcpus) pp_vcpus=$2; shift 2 ;;
        --versus) versus=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        *) echo "usage: $0 [--pingpong N] [--vcpus V] [--versus QEMU [--rounds R]]" >&2; exit 2 ;;
    esac
done
[ -z "$versus" ] || [ -x "$versus" ] || { echo "td-bench: --versus $versus: no such executable" >&2; exit 2; }
stub="$NATIVE_BUILD/guest/td-payload-stub.bin"
[ -f "$stub" ] || { echo "td-bench: $stub missing (bash scripts/build-native.sh)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# (c): pingpong QEMU LOG -> prints the tdvmm pingpong line
pingpong() {
    local q=()
    [ -z "$1" ] || q=(--qemu "$1")
    bash "$ROOT/scripts/run-l1.sh" --quiet --log "$2" --job td-run --timeout 600 "${q[@]}" \
        --smp "$(( pp_vcpus > 2 ? pp_vcpus : 2 ))" \
        --append "tdx_emu.td_vcpus=$pp_vcpus tdx_emu.td_mode=pingpong:$pingpong_n tdx_emu.td_timeout=500" \
        > "$2.summary" 2>&1 || { cat "$2.summary"; grep -E 'tdvmm|td vcpu' "$2" | tail; exit 1; }
    grep -m1 'TDX-EMU-L1: tdvmm pingpong' "$2" ||
        { echo "td-bench: pingpong run failed"; grep -E 'tdvmm|td vcpu' "$2" | tail; exit 1; }
}
if [ -n "$versus" ]; then
    built=() other=()
    for r in $(seq "$rounds"); do
        line=$(pingpong "$versus" "$work/pp-other-$r.log"); echo "round $r other: $line"
        other+=("${line##*per-second=}")
        line=$(pingpong "" "$work/pp-built-$r.log"); echo "round $r built: $line"
        built+=("${line##*per-second=}")
    done
    printf '%s\n' "${built[@]}" > "$work/built"; printf '%s\n' "${other[@]}" > "$work/other"
    med() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    awk -v b="$(med "$work/built")" -v o="$(med "$work/other")" -v n="$rounds" 'BEGIN {
        printf "pingpong exits/s, median of %d: built %.0f, other %.0f, built/other = %.2f\n", n, b, o, b / o }'
    exit 0
fi

# (b) first: it tells N.
t0=$EPOCHREALTIME
set +e
timeout 300 "$QEMU_BINARY" -M isapc -cpu max -accel tcg -m 16M -display none \
    -monitor none -nic none -serial "file:$work/plain.log" -bios "$stub" \
    -device isa-debug-exit,iobase=0x501,iosize=4 > "$work/plain.out" 2>&1
set -e
plain_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
n=$(sed -n 's/.*td-payload vcpu 0 start .* mode compute n \([0-9]*\).*/\1/p' "$work/plain.log")
plain=$(sed -n 's/.*td-payload vcpu 0 compute cycles \([0-9]*\).*/\1/p' "$work/plain.log")
[ -n "$n" ] && [ -n "$plain" ] || { echo "td-bench: plain TCG run printed no result:"; cat "$work/plain.log" "$work/plain.out"; exit 1; }
echo "plain TCG: compute n=$n cycles=$plain (QEMU process ${plain_s}s)"

# (a)
bash "$ROOT/scripts/run-l1.sh" --quiet --log "$work/td.log" --job td-run --timeout 600 \
    --append "tdx_emu.td_vcpus=1 tdx_emu.td_mode=compute:$n tdx_emu.td_timeout=500" \
    > "$work/td.summary" 2>&1 || { cat "$work/td.summary"; grep -E 'tdvmm|td vcpu' "$work/td.log" | tail; exit 1; }
td=$(sed -n 's/.*td-payload vcpu 0 compute cycles \([0-9]*\).*/\1/p' "$work/td.log")
td_s=$(sed -n 's/^TDX-EMU-L1: tdvmm run seconds=//p' "$work/td.log")
grep -q 'TDX-EMU-L1: tdvmm run ok vcpus=1 mode=compute' "$work/td.log" || { echo "td-bench: TD compute run failed"; grep -E 'tdvmm|td vcpu' "$work/td.log" | tail; exit 1; }
echo "TD: compute n=$n cycles=$td (tdvmm run ${td_s}s, checksum verified)"
awk -v td="$td" -v pl="$plain" 'BEGIN {
    r = td / pl;
    printf "compute loop: TD %.0f cycles, plain TCG %.0f cycles, ratio TD/plain = %.3f (target >= 0.8 speed, i.e. ratio <= 1.25): %s\n",
        td, pl, r, r <= 1.25 ? "met" : "NOT met" }'

# (c)
pingpong "" "$work/pp.log" > "$work/pp.line"
grep -E 'td-payload vcpu [0-9]+ pingpong' "$work/pp.log" | sed 's/^TDX-EMU-L1: td vcpu[0-9]*: /TD: /'
cat "$work/pp.line"

#!/bin/bash
# Boot L1 (the Linux KVM/TDX host kernel) under the tdx-emu QEMU fork with
# TCG, serial console on stdout, and return when L1 powers off.
#
# usage: run-l1.sh [options] [-- extra QEMU arguments]
#   --smp N          L1 vCPUs (default 2)
#   --mem SIZE       L1 memory (default 2G)
#   --job NAME       run guest/jobs/NAME inside L1 (default show-tdx)
#   --append ARGS    extra kernel command line
#   --initrd-overlay FILE  a gzip'd cpio unpacked over L1's initramfs (the
#                    real TD stack of scripts/fetch-real-td.sh)
#   --plain-cpu      keep the tdx-emu object but a plain CPU (no VMX/SEAM):
#                    L1 sees no TDX platform
#   --no-tdx-emu     plain QEMU behaviour: no tdx-emu object, plain CPU
#   --tdx-emu-props P  extra properties of the tdx-emu object, e.g.
#                    "seed=7,hold-window-ns=20000"
#   --hmp-at-exit CMD  when L1 powers off, run HMP command CMD (e.g.
#                    "info tdx") and print its output before QEMU quits;
#                    may be given more than once
#   --timeout SEC    give up after SEC seconds (default 300)
#   --log FILE       also write the console to FILE
#   --quiet          do not echo the console, print only the summary
#   --print-qemu-args  print QEMU's binary and arguments, one per line, and
#                    exit (scripts/campaign runs QEMU itself from them)
#   --kernel FILE    boot this L1 kernel image instead of the built one
#                    (scripts/mutants boots kernel mutants this way)
#   --qemu FILE      run this QEMU binary instead of the built one (firmware
#                    still from the build; tests/bench/td-bench.sh --versus
#                    compares two builds this way)
#
# By default L1 gets the emulated TDX platform: -object tdx-emu,
# -cpu max,tdx-emu=on, and kvm_intel.tdx=1 on its command line.
#
# Exit status: 0 when L1 reached init and its job succeeded; the job's
# status when it failed; 2 when L1 never reached init; 3 when L1 reached init
# but did not finish (hang, crash, timeout).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

smp=2 mem=2G job=show-tdx append='' tdx=1 tdx_cpu=1 timeout_s=300 logfile=''
quiet=0 extra=() hmp_cmds=() tdx_props='' print_args=0 overlay='' kernel='' qemu=''
while [ $# -gt 0 ]; do
    case "$1" in
        --smp) smp=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --job) job=$2; shift 2 ;;
        --append) append=$2; shift 2 ;;
        --initrd-overlay) overlay=$2; shift 2 ;;
        --plain-cpu) tdx_cpu=0; shift ;;
        --no-tdx-emu) tdx=0; tdx_cpu=0; shift ;;
        --hmp-at-exit) hmp_cmds+=("$2"); shift 2 ;;
        --tdx-emu-props) tdx_props=",$2"; shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --log) logfile=$2; shift 2 ;;
        --quiet) quiet=1; shift ;;
        --print-qemu-args) print_args=1; shift ;;
        --kernel) kernel=$2; shift 2 ;;
        --qemu) qemu=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

ART=$TDX_EMU_CACHE/artifacts.env
[ -f "$ART" ] || die "nothing built yet: run scripts/build.sh first"
eval "$(cat "$ART")"
[ -z "$kernel" ] || { [ -f "$kernel" ] || die "--kernel $kernel: no such file"; KERNEL_IMAGE=$kernel; }
[ -z "$qemu" ] || { [ -x "$qemu" ] || die "--qemu $qemu: no such executable"; QEMU_BINARY=$qemu; }
for v in QEMU_BINARY KERNEL_IMAGE INITRAMFS FIRMWARE_DIR; do
    [ -e "${!v:-/nonexistent}" ] || die "$v (${!v:-unset}) is missing: run scripts/build.sh"
done

cpu=max
if [ $tdx_cpu = 1 ]; then
    cpu=max,tdx-emu=on
    append="kvm_intel.tdx=1 $append"
fi
args=(-M q35 -accel tcg,thread=multi -cpu "$cpu" -smp "$smp" -m "$mem"
      -display none -serial stdio -nic none -no-reboot
      -L "$FIRMWARE_DIR" -kernel "$KERNEL_IMAGE" -initrd "$INITRAMFS"
      -append "console=ttyS0 panic=-1 nohibernate tdx_emu.job=$job $append")
[ $tdx = 1 ] && args+=(-object "tdx-emu,id=tdx0$tdx_props")

log_tmp=$(mktemp)
hmp_dir=$(mktemp -d)
trap 'rm -rf "$log_tmp" "$hmp_dir"' EXIT
if [ -n "$overlay" ]; then
    # Concatenated archives: the kernel unpacks both, the second on top.
    # Kept in the cache under a name that changes with either file, so that
    # --print-qemu-args can hand it to a QEMU started later (scripts/campaign).
    [ -f "$overlay" ] || die "--initrd-overlay $overlay: no such file"
    combined=$TDX_EMU_CACHE/build/initrd-overlay-$(stat -c '%n %s %Y' "$INITRAMFS" "$overlay" |
                                                   sha256sum | cut -c1-16).cpio.gz
    if [ ! -f "$combined" ]; then
        rm -f "$TDX_EMU_CACHE"/build/initrd-overlay-*.cpio.gz
        cat "$INITRAMFS" "$overlay" > "$combined.tmp" && mv "$combined.tmp" "$combined"
    fi
    for i in "${!args[@]}"; do
        [ "${args[$i]}" = "$INITRAMFS" ] && args[$i]=$combined
    done
fi
if [ ${#hmp_cmds[@]} -gt 0 ]; then
    # L1's power-off stops the VM instead of ending QEMU; the monitor then
    # answers the commands and quits QEMU (scripts/hmp.py).
    args+=(-no-shutdown -monitor "unix:$hmp_dir/hmp,server=on,wait=off")
else
    args+=(-monitor none)
fi
args+=("${extra[@]}")
if [ $print_args = 1 ]; then
    printf '%s\n' "$QEMU_BINARY" "${args[@]}"
    exit 0
fi

t0=$EPOCHREALTIME
init_at=
set +e
timeout --foreground -k 5 "$timeout_s" "$QEMU_BINARY" "${args[@]}" < /dev/null 2>&1 |
while IFS= read -r line; do
    line=${line%$'\r'}
    printf '%s\n' "$line" >> "$log_tmp"
    [ $quiet = 1 ] || printf '%s\n' "$line"
    if [[ $line == *"virt/tdx: TDX-Module initialized"* ]]; then
        printf 'TDX-EMU-HOST: tdx-module-seconds=%s\n' \
            "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')" >> "$log_tmp"
    fi
    if [ -z "$init_at" ] && [[ $line == "TDX-EMU-L1: init reached"* ]]; then
        init_at=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
        printf 'TDX-EMU-HOST: init-seconds=%s\n' "$init_at" >> "$log_tmp"
    fi
    if [ ${#hmp_cmds[@]} -gt 0 ] && [[ $line == "TDX-EMU-L1: done rc="* ]]; then
        python3 "$TDX_EMU_ROOT/scripts/hmp.py" "$hmp_dir/hmp" "${hmp_cmds[@]}" 2>&1 |
            tee -a "$log_tmp" | { [ $quiet = 1 ] && cat > /dev/null || cat; }
    fi
done
qemu_rc=${PIPESTATUS[0]}
set -e
total=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
[ -n "$logfile" ] && cp "$log_tmp" "$logfile"

echo "---- tdx-emu: L1 summary ----"
grep -E 'virt/tdx|kvm_intel|kvm:|TDX-EMU-L1: (kvm|tdx|vm-types|tainted)' "$log_tmp" | awk '!seen[$0]++' | sed 's/^/  /' || true
init_s=$(sed -n 's/^TDX-EMU-HOST: init-seconds=//p' "$log_tmp")
done_rc=$(sed -n 's/^TDX-EMU-L1: done rc=\([0-9]*\).*/\1/p' "$log_tmp" | tail -n1)
if [ -z "$init_s" ] && [ -n "$done_rc" ]; then
    init_s=?        # the init line was garbled on the console; init ran
fi
last_lines() {   # where L1 stopped: the summary above is filtered
    echo "last console lines:"
    grep -v '^TDX-EMU-HOST: ' "$log_tmp" | tail -n 12 | sed 's/^/  | /'
}
if [ -z "$init_s" ]; then
    last_lines
    echo "L1 did not reach init (QEMU exit $qemu_rc after ${total}s)"
    exit 2
fi
if [ -z "$done_rc" ]; then
    last_lines
    echo "L1 reached init in ${init_s}s but did not finish (QEMU exit $qemu_rc after ${total}s)"
    exit 3
fi
mod_s=$(sed -n 's/^TDX-EMU-HOST: tdx-module-seconds=//p' "$log_tmp" | head -n1)
[ -n "$mod_s" ] && echo "TDX module initialized ${mod_s}s after QEMU started"
echo "L1 reached init in ${init_s}s, job '$job' exited $done_rc, QEMU exited $qemu_rc after ${total}s"
exit "$done_rc"

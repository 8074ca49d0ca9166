#!/bin/bash
# Interrupts into a TD (virtual APIC, posted interrupts): inside L1 (2
# vCPUs), tdvmm runs td-payload mode irq in a TD with 2 vCPUs. Each TD vCPU
# takes N self-IPIs (x2APIC SELF_IPI MSR, virtualized: no exit), N host
# interrupts (tdvmm's KVM_SIGNAL_MSI: KVM posts them; half are sent while
# the vCPU is out, so KVM's self-IPI before VP.ENTER carries the
# notification, half 2 ms later, usually while it runs) and N IPIs from
# the other vCPU (ICR write through TDVMCALL<WRMSR>, posted by KVM), each
# through its IDT with RFLAGS.IF = 1, EOIed through the virtualized EOI
# MSR. Every count must be exact; the module's counters (info tdx) must
# show the notifications processed inside the TD (no exit) and every
# posted vector merged and delivered; no WARN/BUG in L1.
. "$(dirname "$0")/lib.sh"

N=${TD_IRQ_N:-20}
boot run --smp 2 --job td-run --timeout 300 --hmp-at-exit "info tdx" \
    --append "tdx_emu.td_vcpus=2 tdx_emu.td_pages=16 tdx_emu.td_mode=irq:$N"
[ "$rc" = 0 ] || fail "td-irq: expected run-l1 exit 0, got $rc ($(grep -E 'tdvmm|td vcpu|WARN|BUG' "$WORK/run.log" | tail -5 | tr '\n' '|'))"
for v in 0 1; do
    expect_line run "TDX-EMU-L1: td vcpu$v: td-payload vcpu $v irq self $N host $N ipi $N vcpus 2\$" \
        "TD vCPU $v counted $N self-IPIs, $N host interrupts and $N IPIs"
    expect_line run "TDX-EMU-L1: tdvmm irq vcpu $v host-sent=$N deferred=$((N / 2))\$" \
        "tdvmm sent $N MSIs to vCPU $v, $((N / 2)) of them deferred"
done
expect_line run "TDX-EMU-L1: tdvmm run ok vcpus=2 mode=irq" "counts (checksums) verified by tdvmm"
expect_line run '^TDX-EMU-L1: done rc=0' "no WARN/BUG in L1"
expect_td_gone run

line=$(grep -m1 -E '^  virtual APIC: ' "$WORK/run.log") ||
    fail "expected a 'virtual APIC:' line in info tdx, got none"
read -r pi vectors delivered eois selfs bad < <(sed -E 's/^  virtual APIC: ([0-9]+) PI notifications processed in TDs \(no exit\), ([0-9]+) posted vectors, ([0-9]+) delivered, ([0-9]+) EOIs, ([0-9]+) self-IPIs, ([0-9]+) bad PID$/\1 \2 \3 \4 \5 \6/' <<< "$line")
[[ "$pi" =~ ^[0-9]+$ ]] || fail "could not parse the virtual APIC line: $line"
echo "measured: notifications=$pi posted-vectors=$vectors delivered=$delivered eoi=$eois self-ipi=$selfs bad-pid=$bad"
posted=$((4 * N))     # host interrupts + IPIs, both vCPUs
[ "$pi" -ge 1 ] || fail "expected PI notifications processed inside the TD, got $pi ($line)"
[ "$vectors" -ge "$posted" ] || fail "expected >= $posted posted vectors merged (2 vCPUs x $N host + $N IPIs), got $vectors"
[ "$selfs" -eq $((2 * N)) ] || fail "expected $((2 * N)) virtual self-IPIs, got $selfs"
[ "$delivered" -ge $((posted + 2 * N)) ] || fail "expected >= $((posted + 2 * N)) virtual interrupts delivered, got $delivered"
[ "$eois" -eq "$delivered" ] || fail "expected one virtual EOI per delivered interrupt ($delivered), got $eois"
[ "$bad" -eq 0 ] || fail "expected no bad PID address, got $bad"
ok "posted interrupts processed in the TD without exit: $pi notifications, $vectors vectors, $delivered delivered and EOIed"

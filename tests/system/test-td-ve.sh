#!/bin/bash
# #VE and guest leaves in a running TD (td-payload "ve" mode): inside a
# 2-vCPU L1, each vCPU of a 2-vCPU TD executes CPUID 0x40000000, OUT/IN on
# port 0x505, RDMSR/WRMSR of MSR_KVM_POLL_CONTROL, WRMSR of the x2APIC SVR
# and HLT. The module turns
# each into a #VE (vector 20) with VE_INFO; the payload's handler reads it
# with TDG.VP.VEINFO.GET and asks KVM with the GHCI TDVMCALL, as Linux's TD
# guest does (CPUID: KVM's "KVMKVMKVM" signature; IN/OUT: KVM_EXIT_IO to
# tdvmm; MSRs: KVM's in-kernel emulation; HLT: returns because the other
# vCPU kicked it with KVM_HC_KICK_CPU). Then TDG.MR.RTMR.EXTEND, TDG.MR.REPORT (fields
# checked against TDG.VM.RD), TDG.VP.RD. The module's #VE counters (info
# tdx at exit) show every reason.
. "$(dirname "$0")/lib.sh"

boot run --smp 2 --job td-run --timeout 300 --hmp-at-exit "info tdx" \
    --append "tdx_emu.td_vcpus=2 tdx_emu.td_pages=4 tdx_emu.td_mode=ve"
[ "$rc" = 0 ] || fail "td-run ve: expected run-l1 exit 0, got $rc ($(grep -E 'tdvmm|td vcpu|WARN|BUG' "$WORK/run.log" | tail -5 | tr '\n' '|'))"
for v in 0 1; do
    expect_line run "TDX-EMU-L1: td vcpu$v: td-payload vcpu $v ve cpuid 1 io 2 rdmsr 2 wrmsr 3 hlt 1 report ok" \
        "vCPU $v handled each #VE with VEINFO.GET + TDVMCALL and checked REPORT/VM.RD/VP.RD"
    expect_line run "TDX-EMU-L1: tdvmm ve vcpu $v out=1 in=1 value=0x5e5e000$v hlt=1" \
        "vCPU $v's #VE'd OUT/IN reached tdvmm as KVM_EXIT_IO"
done
expect_line run 'TDX-EMU-L1: tdvmm run ok vcpus=2 mode=ve' "checksums (#VE counts by reason) verified by tdvmm"
expect_line run 'TDX-EMU-L1: tdvmm destroyed' "TD destroyed"
expect_line run '^TDX-EMU-L1: done rc=0' "no WARN/BUG in L1"
expect_td_gone run
line=$(grep -m1 -E '^  #VE injected into TDs:' "$WORK/run.log") ||
    fail "expected the module's #VE counters in 'info tdx', got none"
echo "measured:${line#*:}"
for want in cpuid=2 hlt=2 io=4 rdmsr=4 wrmsr=6 df=0; do
    grep -qE "(^| )$want( |$)" <<< "${line#*:}" || fail "#VE counter: expected $want (2 vCPUs), got:${line#*:}"
done
ok "module counted #VE by reason: cpuid, hlt, io, rdmsr, wrmsr (and no #DF)"
for leaf in TDH.VP.ENTER; do
    grep -qE "^    ${leaf//./\\.} " "$WORK/run.log" || fail "expected $leaf in 'info tdx', got none"
done
ok "TD ran through TDH.VP.ENTER"

#!/bin/bash
# L1 on tdx-emu's CPU model (-cpu max,tdx-emu=on + -object tdx-emu): the
# kernel finds VMX (kvm_intel loads, /dev/kvm works), MKTME with the KeyID
# split of the tdx-emu object, a TDX host platform and its SEAM range
# (reserved, all-ones to L1). The vmx-probe job checks the VMX/SEAM
# instructions from user mode and through KVM (VMLAUNCH fails cleanly).
# CPUID 0x15/0x16 give L1 its TSC and APIC-timer rates.
# (test-l1-boot.sh covers the module's initialization and the baselines.)
. "$(dirname "$0")/lib.sh"

no_line() {
    ! grep -qE "$2" "$WORK/$1.log" || fail "$3: unexpected line: $(grep -m1 -E "$2" "$WORK/$1.log")"
    ok "$3"
}

boot tdx --smp 2 --hmp-at-exit "xp /2gx 0x1fffffe000000" --hmp-at-exit "xp /2gx 0x1ffffffffffe0" \
    --hmp-at-exit "info lapic 1" -- -trace tdx_emu_tsc_khz
[ "$rc" = 0 ] || fail "boot with tdx-emu=on: expected run-l1 exit 0, got $rc"
expect_line tdx '^TDX-EMU-L1: init reached' "L1 reached init"
expect_line tdx 'x86/tme: enabled by BIOS' "TME enabled"
expect_line tdx 'x86/mktme: BIOS enabled: x86_phys_bits reduced by 3' "KeyID bits (4 TDX + 1 MKTME KeyIDs)"
expect_line tdx 'virt/tdx: BIOS enabled: private KeyID range \[1, 5\)' "TDX KeyID range"
expect_line tdx 'virt/tdx: TDX-Module initialized' "kernel's TDX line after SEAMCALLs"
# A TDX host's CPU: 52 physical-address bits, the KeyID bits their top
# (52 - 3 = 49 left to the kernel), and not L1TF/Meltdown-vulnerable
# (IA32_ARCH_CAPABILITIES.RDCL_NO), so KVM's MMU reserves no GPA bits and
# KVM's TDX code gets a guest width it accepts (48; 40 was EINVAL).
expect_line tdx '^TDX-EMU-L1: cpu address sizes : 49 bits physical' "L1 CPU: 52 physical-address bits, 3 of them KeyID bits"
expect_line tdx '^TDX-EMU-L1: vulnerability l1tf: Not affected' "L1 CPU not L1TF-vulnerable"
expect_line tdx '^TDX-EMU-L1: vulnerability meltdown: Not affected' "L1 CPU not Meltdown-vulnerable (RDCL_NO)"
expect_line tdx '^TDX-EMU-L1: vulnerability itlb_multihit: Not affected' "L1 CPU: no iTLB multihit (PSCHANGE_MC_NO)"
# SEAM range: 32 MiB below the KeyID bits (52 - 3 = 49 address bits).
expect_line tdx 'BIOS-e820: \[mem 0x0001fffffe000000-0x0001ffffffffffff\] +(device )?reserved' "SEAM range reserved in e820"
expect_line tdx '^0001fffffe000000: 0xffffffffffffffff 0xffffffffffffffff' "SEAM range reads all-ones (start)"
expect_line tdx '^0001ffffffffffe0: 0xffffffffffffffff 0xffffffffffffffff' "SEAM range reads all-ones (end)"
no_line tdx 'TDX not supported by the host platform' "no 'TDX not supported'"
no_line tdx 'VMX not supported|VMX not enabled|VMX not fully enabled|VMX .* disabled by BIOS' "no 'VMX not supported'"
no_line tdx 'VMXON faulted|vmread failed|vmwrite failed|vmclear failed|vmptrld failed' "no VMX instruction failure in KVM"
expect_line tdx '^TDX-EMU-L1: kvm=api-12' "kvm_intel loaded, /dev/kvm"
# TSC and APIC timer rates from CPUID 0x15/0x16, as silicon reports them:
# L1 calibrates neither (on a loaded host a calibration was off by up to
# 30x: KVM then gave TDH.MNG.INIT a TSC_FREQUENCY out of range).
measured=$(sed -n 's/.*L1 TSC measured at \([0-9]*\) kHz.*/\1/p' "$WORK/tdx.log" | head -1)
[ -n "$measured" ] || fail "expected the trace line 'L1 TSC measured at N kHz', got none"
seen=$(sed -n 's/.*tsc: Detected \([0-9]*\)\.\([0-9]*\) MHz TSC.*/\1\2/p' "$WORK/tdx.log" | head -1)
[ -n "$seen" ] || fail "expected L1's 'tsc: Detected N MHz TSC' (a frequency from CPUID 0x15), got none: $(grep -m3 'tsc:' "$WORK/tdx.log" | tr '\n' '|')"
[ $(( (seen > measured ? seen - measured : measured - seen) * 10000 <= measured )) = 1 ] ||
    fail "L1's TSC from CPUID 0x15: expected $measured kHz (within 0.01%), got $seen kHz"
ok "L1's TSC frequency from CPUID 0x15: $seen kHz (measured $measured kHz)"
no_line tdx 'TSC calibration|PIT calibration|Unable to calibrate|HPET reference|Refined TSC' "L1 did not calibrate its TSC"
expect_line tdx 'Calibrating delay loop \(skipped\)' "delay loop from the known TSC rate"
# CPUID 0x15's crystal is the APIC timer's 1 GHz input: HZ=250 is 4 ms =
# 250000 counts divided by 16, exactly (a calibrated value wanders).
expect_line tdx '^Timer.*divide by 16\) initial_count = 250000 ' "APIC timer period from CPUID 0x15, not calibrated"
expect_line tdx '^TDX-EMU-L1: done rc=0' "L1 job finished, no WARN/BUG"

# KeyID split from the object's properties: 8 TDX + 8 MKTME KeyIDs -> 4 bits.
boot keyids --no-tdx-emu -- -cpu max,tdx-emu=on -object tdx-emu,id=t,tdx-keyids=8,mktme-keyids=8
[ "$rc" = 0 ] || fail "boot with 8+8 KeyIDs: expected exit 0, got $rc"
expect_line keyids 'x86/mktme: BIOS enabled: x86_phys_bits reduced by 4' "KeyID bits (8+8)"
expect_line keyids 'virt/tdx: BIOS enabled: private KeyID range \[8, 16\)' "TDX KeyID range (8+8)"

# VMX/SEAM instructions from L1 user mode and through KVM.
boot probe --job vmx-probe
[ "$rc" = 0 ] || fail "vmx-probe: expected exit 0, got $rc ($(grep 'vmx-probe' "$WORK/probe.log" | grep UNEXPECTED | tr '\n' '|'))"
for r in vmxon=sigsegv vmread=sigsegv seamcall=sigsegv tdcall=sigill movdir64b=ok \
         movdir64b-misaligned=sigsegv kvm-run=exit-9-error-7 failures=0; do
    expect_line probe "^TDX-EMU-L1: vmx-probe $r\$" "vmx-probe $r"
done

# Plain CPU (property off, object present): today's baseline lines.
boot plain --smp 2 --plain-cpu
[ "$rc" = 0 ] || fail "boot without tdx-emu=on: expected exit 0, got $rc"
expect_line plain 'virt/tdx: TDX not supported by the host platform' "tdx-emu=off: kernel's TDX line"
expect_line plain 'kvm_intel: VMX not supported by CPU' "tdx-emu=off: kernel's KVM line"
expect_line plain '^TDX-EMU-L1: tdx-vm-type=no' "tdx-emu=off: tdx-status"
no_line plain 'x86/tme|virt/tdx: BIOS enabled' "tdx-emu=off: no TME/KeyIDs"

# The property needs its platform object and TCG.
out=$("$(sed -n 's/^QEMU_BINARY=//p' "$TDX_EMU_CACHE/artifacts.env")" -M q35 -accel tcg \
      -cpu max,tdx-emu=on -display none -nic none -S 2>&1 < /dev/null) && fail "tdx-emu=on without object: QEMU started"
grep -q 'tdx-emu=on needs the platform object' <<< "$out" ||
    fail "tdx-emu=on without object: expected an error naming the object, got: $out"
ok "tdx-emu=on without -object tdx-emu is refused: $out"

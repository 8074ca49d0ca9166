#!/bin/bash
# Ring-0 test of tdx-emu's VMX instructions without L1: a tiny multiboot
# program (tests/system/vmx-bare) in 32-bit protected mode with paging runs
# the malformed uses an L1 kernel never makes (bad/unbacked/unaligned VMCS
# pointers, wrong revisions, unsupported fields, bad INVEPT/INVVPID
# operands, VMLAUNCH/VMRESUME in each launch state, ...) and checks flags,
# VM-instruction errors and faults. QEMU must survive all of them.
. "$(dirname "$0")/lib.sh"
: "${TDX_EMU_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/tdx-emu}"
eval "$(cat "$TDX_EMU_CACHE/artifacts.env")"
src=$ROOT/tests/system/vmx-bare

command -v gcc >/dev/null || { echo "skip: no gcc"; exit 0; }
gcc -m32 -ffreestanding -fno-pic -fno-stack-protector -O1 -Wall -c "$src/vmx-test.c" -o "$WORK/vt.o"
gcc -m32 -c "$src/boot.S" -o "$WORK/boot.o"
ld -m elf_i386 -T "$src/link.ld" -o "$WORK/vmx-test.elf" "$WORK/boot.o" "$WORK/vt.o"

run() {
    rc=0
    timeout 60 "$QEMU_BINARY" -M q35 -accel tcg "$@" -m 128M -display none \
        -monitor none -serial stdio -nic none -no-reboot -L "$FIRMWARE_DIR" \
        -device isa-debug-exit,iobase=0xf4,iosize=1 \
        -kernel "$WORK/vmx-test.elf" < /dev/null > "$WORK/out.log" 2>&1 || rc=$?
}

run -cpu max,tdx-emu=on -object tdx-emu,id=tdx0
grep '^VMXTEST FAIL' "$WORK/out.log" || true
grep -q '^VMXTEST result PASS' "$WORK/out.log" ||
    fail "bare-metal VMX test: expected 'VMXTEST result PASS', got: $(tail -5 "$WORK/out.log" | tr '\n' '|')"
# isa-debug-exit: status (0 << 1) | 1 = 1 means the program finished.
[ "$rc" = 1 ] || fail "bare-metal VMX test: expected QEMU exit 1 (debug-exit 0), got $rc"
ok "bare-metal VMX test: $(grep -c '^VMXTEST ok' "$WORK/out.log") checks passed, QEMU survived"

# Plain CPU: VMX is not enumerated, the first VMX instruction is #UD.
run -cpu max
grep -q '^VMXTEST result PLAIN' "$WORK/out.log" && [ "$rc" = 1 ] ||
    fail "plain CPU: expected VMREAD #UD and 'VMXTEST result PLAIN', got rc $rc: $(head -5 "$WORK/out.log" | tr '\n' '|')"
ok "plain CPU: VMREAD is #UD"

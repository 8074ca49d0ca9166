#!/bin/bash
# scripts/bundle.sh, as the CI workflow and other machines use it: the
# artifacts copied out of the cache into a directory, that directory moved
# elsewhere, made ready there (--install-runtime: run-time packages,
# artifacts.env pointing at its new place), and a campaign scenario run
# from it with nothing built (TDX_EMU_CACHE=the bundle).
. "$(dirname "$0")/lib.sh"

bash "$ROOT/scripts/bundle.sh" "$WORK/built" > "$WORK/bundle.out" 2>&1 ||
    fail "bundle.sh: $(tail -5 "$WORK/bundle.out")"
for f in qemu-system-x86_64 bzImage initramfs.cpio.gz firmware artifacts.env; do
    [ -e "$WORK/built/$f" ] || fail "bundle: expected $f in it, got: $(ls "$WORK/built" | tr '\n' ' ')"
done
ok "bundle: $(tail -1 "$WORK/bundle.out" | sed 's/^\[tdx-emu\] //')"
mv "$WORK/built" "$WORK/moved"
bash "$ROOT/scripts/bundle.sh" --install-runtime "$WORK/moved" > "$WORK/ready.out" 2>&1 ||
    fail "bundle.sh --install-runtime: $(tail -5 "$WORK/ready.out")"
grep -q "^QEMU_BINARY=$WORK/moved/qemu-system-x86_64$" "$WORK/moved/artifacts.env" ||
    fail "artifacts.env after the move: expected paths under $WORK/moved, got: $(tr '\n' ' ' < "$WORK/moved/artifacts.env")"
ok "moved bundle ready: $(tr '\n' ' ' < "$WORK/moved/artifacts.env")"
rc=0
TDX_EMU_CACHE=$WORK/moved python3 "$ROOT/scripts/campaign" --only build --out "$WORK/camp" \
    > "$WORK/camp.out" 2>&1 || rc=$?
[ "$rc" = 0 ] && grep -q '^campaign: PASS (2 of 2 paths as intended)' "$WORK/camp.out" ||
    fail "campaign from the moved bundle: expected exit 0 and PASS 2 of 2, got $rc: $(tail -4 "$WORK/camp.out" | tr '\n' '|')"
ok "campaign scenario 'build' from the moved bundle: $(tail -1 "$WORK/camp.out")"

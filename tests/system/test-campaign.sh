#!/bin/bash
# scripts/campaign, the main job: the default plan reaches every busy path
# of kvm-busy-paths.md with the reaction the kernel intends (W1 as
# "detected"), prints the table and writes report.json; a plan whose path
# is never provoked fails with NOT-REACHED; a malformed plan is refused.
. "$(dirname "$0")/lib.sh"

t0=$EPOCHREALTIME
rc=0
python3 "$ROOT/scripts/campaign" --out "$WORK/default" > "$WORK/default.out" 2>&1 || rc=$?
cat "$WORK/default.out"
[ "$rc" = 0 ] || fail "default campaign: expected exit 0, got $rc"
echo "measured: default campaign $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s wall"
grep -q '^campaign: PASS (15 of 15 paths as intended)' "$WORK/default.out" ||
    fail "expected 'campaign: PASS (15 of 15 paths as intended)', got: $(tail -1 "$WORK/default.out")"
python3 - "$WORK/default/report.json" <<'PY' || fail "report.json does not hold what the table says"
import json, sys
r = json.load(open(sys.argv[1]))
paths = {p["path"]: p for p in r["paths"]}
want = "G1 G2a G2b G3a G3b G3c V1 V2 W1 M1 M2 M3 M4 M5 T1".split()
assert sorted(paths) == sorted(want), f"paths {sorted(paths)}"
plan = json.load(open(r["plan"]))
# A path some scenario expects KVM to report (W1; G3a in zap-twice) shows
# "detected"; the rest "ok".
detected = {pid for sc in plan["scenarios"] for pid, e in sc["expect"].items()
            if e.get("verdict") == "detected"}
assert "W1" in detected, f"the default plan expects W1 detected ({sorted(detected)})"
for pid, p in paths.items():
    exp = "detected" if pid in detected else "ok"
    assert p["verdict"] == exp, f"{pid}: verdict {p['verdict']} ({p['why']}), expected {exp}"
    if pid != "V2":
        assert p["injected"] > 0, f"{pid}: nothing injected"
assert r["result"] == "pass" and r["seed"] == 42
print(f"ok: report.json: 15 paths, {' '.join(sorted(detected))} detected, the rest ok, seed 42")
PY
for p in G2a G2b G3a V2 T1 W1 M1; do
    grep -qE "^$p +" "$WORK/default.out" || fail "table: expected a row for $p"
done
ok "the default campaign reached every path with the intended reaction"

rc=0
python3 "$ROOT/scripts/campaign" --plan "$ROOT/tests/system/plans/unreached.json" \
    --out "$WORK/unreached" > "$WORK/unreached.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "plan with an unprovoked path: expected exit 1, got $rc ($(tail -3 "$WORK/unreached.out" | tr '\n' '|'))"
grep -qE '^G1 .*NOT-REACHED' "$WORK/unreached.out" ||
    fail "expected G1 NOT-REACHED in the table, got: $(grep -E '^G1 ' "$WORK/unreached.out")"
ok "a path that was not provoked fails the campaign: $(grep -E '^G1 ' "$WORK/unreached.out" | sed 's/  */ /g')"

echo '{"scenarios": [{"name": "x", "expect": {"G9": {"reaction": "reenter"}}}]}' > "$WORK/bad.json"
rc=0
python3 "$ROOT/scripts/campaign" --plan "$WORK/bad.json" > "$WORK/bad.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "unknown path id 'G9'" "$WORK/bad.out" ||
    fail "malformed plan: expected exit 2 and \"unknown path id 'G9'\", got $rc: $(cat "$WORK/bad.out")"
ok "a malformed plan is refused: $(cat "$WORK/bad.out")"

# A VM that does not finish in time is a dead VM, and fails the campaign.
# A TD that pings its VMM for hours (4e9 exits at ~20k/s) cannot finish in
# 3 s, however fast the machine (a plain tdvmm build once did).
echo '{"scenarios": [{"name": "slow", "job": "td-run", "append": "tdx_emu.td_vcpus=1 tdx_emu.td_mode=pingpong:4000000000", "timeout": 3, "expect": {"M4": {"reaction": "retry-later"}}}]}' > "$WORK/slow.json"
rc=0
python3 "$ROOT/scripts/campaign" --plan "$WORK/slow.json" --out "$WORK/slow" > "$WORK/slow.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -qE '^M4 .*DEAD-VM' "$WORK/slow.out" ||
    fail "scenario past its timeout: expected exit 1 and M4 DEAD-VM, got $rc: $(grep -E '^M4 |campaign:' "$WORK/slow.out" | tr '\n' '|')"
ok "a scenario that times out is reported as a dead VM: $(grep -E '^  M4:' "$WORK/slow.out")"

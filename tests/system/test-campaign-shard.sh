#!/bin/bash
# scripts/campaign --shard K/N, merge, diff and --junit on a small plan
# (tests/system/plans/shard.json: 2 scenarios x seeds 5,6 = 4 runs, one
# scenario failing on purpose): the shards, run side by side with xargs -P
# as the README documents, merge into a report whose content (times aside)
# is the unsharded run's; the JUnit XML of both validates against
# tests/system/junit.xsd (xmllint) and carries the failure with the
# recognized and expected reaction and L1's log; a merge with a shard
# missing or of another plan is refused.
. "$(dirname "$0")/lib.sh"

CAMPAIGN=$ROOT/scripts/campaign
PLAN=$ROOT/tests/system/plans/shard.json
command -v xmllint >/dev/null || fail "xmllint (libxml2-utils) not installed: scripts/install-deps.sh installs it"

t0=$EPOCHREALTIME
rc=0
python3 "$CAMPAIGN" --plan "$PLAN" --seeds 5,6 --out "$WORK/full" --junit "$WORK/full.xml" \
    > "$WORK/full.out" 2>&1 || rc=$?
t1=$EPOCHREALTIME
[ "$rc" = 1 ] || fail "unsharded run: expected exit 1 (M5 expected wrong on purpose), got $rc: $(tail -5 "$WORK/full.out")"
grep -qE '^G1 .* ok$' "$WORK/full.out" && grep -qE '^M5 .* UNEXPECTED$' "$WORK/full.out" ||
    fail "unsharded table: expected G1 ok and M5 UNEXPECTED, got: $(grep -E '^(G1|M4|M5) ' "$WORK/full.out" | tr '\n' '|')"
ok "unsharded: 4 runs (2 scenarios x seeds 5,6): $(grep -E '^campaign:' "$WORK/full.out" | tail -1)"

# The documented fan-out: one process per shard, as many at once as cores.
rc=0
seq 1 3 | xargs -P "$(nproc)" -I{} sh -c \
    'python3 "$1" --plan "$2" --seeds 5,6 --shard {}/3 --out "$3/shard{}" --quiet > "$3/shard{}.out" 2>&1; echo "shard {} exit $?" >> "$3/shards.rc"' \
    sh "$CAMPAIGN" "$PLAN" "$WORK" || rc=$?
t2=$EPOCHREALTIME
[ "$(wc -l < "$WORK/shards.rc")" = 3 ] || fail "expected 3 shard exits, got: $(cat "$WORK/shards.rc")"
for k in 1 2 3; do
    [ -f "$WORK/shard$k/report.json" ] || fail "shard $k wrote no report.json: $(tail -5 "$WORK/shard$k.out")"
done
ok "3 shards run with xargs -P $(nproc): $(sort "$WORK/shards.rc" | tr '\n' ' ')"
echo "measured: unsharded $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, 3 shards with xargs -P $(nproc) $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }') s wall"

rc=0
python3 "$CAMPAIGN" merge --out "$WORK/merged" --junit "$WORK/merged.xml" \
    "$WORK/shard3" "$WORK/shard1" "$WORK/shard2" > "$WORK/merged.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "merge: expected exit 1 as the unsharded run, got $rc: $(tail -5 "$WORK/merged.out")"
table() {   # the table, its notes and verdict line; not the line with times and paths
    sed -n '/^path /,$p' "$1" | grep -vE '^seeds? .* in [0-9.]+ s; L1 logs'
}
diff <(table "$WORK/full.out") <(table "$WORK/merged.out") > "$WORK/table.diff" ||
    fail "merged table differs from the unsharded one: $(head -20 "$WORK/table.diff" | tr '\n' '|')"
ok "merge exits 1 like the unsharded run and prints the same table"
rc=0
python3 "$CAMPAIGN" diff "$WORK/full/report.json" "$WORK/merged/report.json" > "$WORK/diff.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "merged report.json differs from the unsharded one: $(head -20 "$WORK/diff.out" | tr '\n' '|')"
ok "merged report.json = unsharded report.json, times aside: $(tail -1 "$WORK/diff.out")"

xmllint --noout --schema "$ROOT/tests/system/junit.xsd" "$WORK/full.xml" "$WORK/merged.xml" \
    > "$WORK/xmllint.out" 2>&1 || fail "JUnit XML does not validate: $(head -10 "$WORK/xmllint.out" | tr '\n' '|')"
ok "JUnit XML of both validates against junit.xsd: $(tr '\n' ' ' < "$WORK/xmllint.out")"
python3 - "$WORK/full.xml" "$WORK/merged.xml" <<'PY' || fail "JUnit content"
import re, sys
import xml.etree.ElementTree as ET

def load(path):
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites", root.tag
    return root

full, merged = load(sys.argv[1]), load(sys.argv[2])
suites = full.findall("testsuite")
assert [s.get("name") for s in suites] == ["build seed 5", "vp-init-wrong seed 5",
                                           "build seed 6", "vp-init-wrong seed 6"], \
    [s.get("name") for s in suites]
cases = full.findall("testsuite/testcase")
assert len(cases) == 6 and full.get("tests") == "6", (len(cases), full.get("tests"))
for s in suites:
    got = len(s.findall("testcase/failure")), len(s.findall("testcase"))
    assert (int(s.get("failures")), int(s.get("tests"))) == got, (s.get("name"), got)
fails = full.findall("testsuite/testcase/failure")
assert len(fails) == 2 and full.get("failures") == "2", len(fails)
for f in fails:
    msg, body = f.get("message"), f.text
    assert f.get("type") == "UNEXPECTED", f.get("type")
    assert "recognized unhandled=1; expected local-retry" in msg, msg
    assert "expected reaction: local-retry" in body and "--- L1 log excerpt ---" in body, body
    assert "WARNING: " in body, "no WARN line in the excerpt: " + body
names = sorted(c.get("name") for c in cases)
assert names == sorted(["G1 TDH.MEM.PAGE.ADD", "M4 TDH.MR.FINALIZE"] * 2 +
                       ["M5 TDH.VP.INIT"] * 2), names

def strip(path):
    """Times and the L1 log excerpts aside (each run's own boot: timestamps, PIDs)."""
    text = re.sub(r' time="[0-9.]+"', "", open(path).read())
    return re.sub(r"--- L1 log excerpt ---.*?</failure>", "", text, flags=re.S)

assert strip(sys.argv[1]) == strip(sys.argv[2]), "merged JUnit differs from the unsharded one"
print("ok: JUnit: 4 testsuites (scenario x seed), 6 testcases (one per path id), "
      "2 failures with recognized vs expected and the L1 WARN; merged = unsharded, times "
      "and log excerpts aside")
PY

rc=0
python3 "$CAMPAIGN" merge --out "$WORK/bad" "$WORK/shard1" "$WORK/shard3" > "$WORK/bad.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "a merge needs each of 1..3 once" "$WORK/bad.out" ||
    fail "merge with shard 2 missing: expected exit 2 and 'a merge needs each of 1..3 once', got $rc: $(cat "$WORK/bad.out")"
ok "a merge with a shard missing is refused: $(cat "$WORK/bad.out")"
rc=0
python3 "$CAMPAIGN" merge --out "$WORK/bad2" "$WORK/full" > "$WORK/bad2.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "not the report of a --shard run" "$WORK/bad2.out" ||
    fail "merge of an unsharded report: expected exit 2, got $rc: $(cat "$WORK/bad2.out")"
ok "an unsharded report is not merged: $(cat "$WORK/bad2.out")"

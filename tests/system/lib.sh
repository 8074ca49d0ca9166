# Helpers for system tests. Each test is a bash script that boots L1 through
# scripts/run-l1.sh and asserts on what L1 printed. Output conventions:
#   "ok: ..."        an assertion that held (listed by scripts/test.sh)
#   "measured: ..."  a figure worth reading (boot time, ...)
#   "FAIL: ..."      expected X, got Y; the test exits non-zero
# shellcheck shell=bash
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TDX_EMU_CACHE=${TDX_EMU_CACHE:-$HOME/.cache/tdx-emu}   # as scripts/lib.sh
# TDX_EMU_TEST_WORK=DIR keeps the consoles there for reading afterwards.
# Otherwise a failing test keeps its consoles, summaries and campaign logs
# (not traces) in
# $TDX_EMU_CACHE/failed/TEST-TIME/ (the last 20 such directories), so that
# an intermittent failure can be read after the fact.
keep_failed_consoles() {
    local dir
    dir=$TDX_EMU_CACHE/failed/$(basename "$0" .sh)-$(date +%Y%m%d-%H%M%S)
    mkdir -p "$dir" &&
        (cd "$WORK" && find . -maxdepth 3 -type f \( -name '*.log' -o -name '*.summary' \
            -o -name '*.out' -o -name 'report.json' \) ! -name 'trace*' -size -64M \
            -exec cp --parents {} "$dir/" \;) &&
        echo "consoles of the failed run kept in $dir"
    ls -1dt "$TDX_EMU_CACHE"/failed/*/ 2>/dev/null | tail -n +21 | xargs -r rm -rf
}
if [ -n "${TDX_EMU_TEST_WORK:-}" ]; then
    WORK=$TDX_EMU_TEST_WORK; mkdir -p "$WORK"
else
    WORK=$(mktemp -d)
    trap 'st=$?; [ "$st" = 0 ] || keep_failed_consoles; rm -rf "$WORK"' EXIT
fi

fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

# boot NAME [run-l1 options]: boots L1, console in $WORK/NAME.log, status in $rc
boot() {
    local name=$1; shift
    rc=0
    bash "$ROOT/scripts/run-l1.sh" --quiet --log "$WORK/$name.log" "$@" > "$WORK/$name.summary" 2>&1 || rc=$?
    cat "$WORK/$name.summary"
}

# expect_line NAME REGEX WHAT: the console of boot NAME has a line matching REGEX
expect_line() {
    grep -qE "$2" "$WORK/$1.log" ||
        fail "$3: expected a console line matching /$2/, got none (console: $(grep -cE '' "$WORK/$1.log") lines; kernel TDX/KVM lines: $(grep -E 'tdx|kvm' "$WORK/$1.log" | tr '\n' '|'))"
    ok "$3: $(grep -m1 -E "$2" "$WORK/$1.log" | sed 's/^\[[ 0-9.]*\] //')"
}

# expect_path NAME PATH REACTION: the module's busy-path table (info tdx,
# from --hmp-at-exit) shows PATH with REACTION and nothing unexpected
# (kick-violated, unhandled) unless REACTION is that.
expect_path() {
    local line
    line=$(grep -m1 -E "^    $2 +[0-9]+ +[0-9]+ \|" "$WORK/$1.log") ||
        fail "busy path $2: expected it in the module's table, got none ($(sed -n '/Busy paths/,/Injection rules/p' "$WORK/$1.log" | tr '\n' '|'))"
    grep -qE "(^| )$3=[1-9]" <<< "${line#*|}" ||
        fail "busy path $2: expected reaction $3, got: $line"
    for bad in kick-violated unhandled; do
        [ "$bad" = "$3" ] && continue
        ! grep -qE "(^| )$bad=[1-9]" <<< "${line#*|}" || fail "busy path $2: unexpected $bad: $line"
    done
    ok "busy path $2 recognized as $3: $(sed 's/  */ /g' <<< "$line")"
}

# expect_td_gone NAME: after L1 destroyed its TDs, the module's state (info
# tdx, from --hmp-at-exit) has no TD, every TDX HKID free, and only free
# (PT_NDA) and reserved (PT_RSVD) pages in the PAMT.
expect_td_gone() {
    local pamt leftover
    expect_line "$1" '^  TDs: 0; TDX HKIDs: 0 assigned, 0 flushed, [0-9]+ free' "no TD left, every HKID released"
    pamt=$(grep -m1 '^  PAMT pages by type:' "$WORK/$1.log") || fail "expected the PAMT line of info tdx, got none"
    leftover=$(grep -oE 'PT_(REG|TDR|TDCX|TDVPR|EPT)=[0-9]+' <<< "$pamt" || true)
    [ -z "$leftover" ] || fail "PAMT after destroy: expected only PT_NDA/PT_RSVD, got $leftover ($pamt)"
    ok "every page back to free in the PAMT:${pamt#*:}"
}

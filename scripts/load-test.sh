#!/bin/bash
# Load robustness: run test groups (default: qtest system) REPS times
# (default 10) while every core is kept busy by another process, and count
# failures. A test that only passes on a quiet machine fails here.
#   scripts/load-test.sh [--reps N] [--load N] [--no-load] [GROUP...]
# --load N starts N busy loops (default: one per core, `nproc`) at normal
# priority: stress-ng's cpu stressor when it is installed (Debian package
# stress-ng), else a shell busy loop. Each repetition's output is kept in
# $TDX_EMU_CACHE/load-test/<time>/rep-K.log. Ends with
# "N passed, N failed" over all repetitions x groups; exit 1 if any failed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

reps=10 load=$(nproc) groups=()
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=$2; shift 2 ;;
    --load) load=$2; shift 2 ;;
    --no-load) load=0; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) groups+=("$1"); shift ;;
    esac
done
[ ${#groups[@]} -gt 0 ] || groups=(qtest system)
out=$TDX_EMU_CACHE/load-test/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"

# Build first, unloaded: the load is for the tests, not the compiler.
bash "$TDX_EMU_ROOT/scripts/build.sh" > "$out/build.log" 2>&1 || die "build failed: $out/build.log"

pids=()
stop_load() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    pids=()
}
trap stop_load EXIT
if [ "$load" -gt 0 ]; then
    if command -v stress-ng >/dev/null; then
        stress-ng --cpu "$load" --quiet > "$out/load.log" 2>&1 &
        pids+=($!)
        what="stress-ng --cpu $load"
    else
        for _ in $(seq "$load"); do
            bash -c 'while :; do :; done' &
            pids+=($!)
        done
        what="$load shell busy loops"
    fi
    log "load: $what (pids ${pids[*]})"
fi

passed=0 failed=0 t0=$(now_s)
for rep in $(seq "$reps"); do
    t1=$(now_s)
    bash "$TDX_EMU_ROOT/scripts/test.sh" "${groups[@]}" > "$out/rep-$rep.log" 2>&1
    p=$(grep -oE '^[0-9]+ passed' "$out/rep-$rep.log" | tail -1 | cut -d' ' -f1)
    f=$(sed -n 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/p' "$out/rep-$rep.log" | tail -1)
    [ -n "$p" ] || { p=0; f=${f:-1}; }
    passed=$((passed + p)); failed=$((failed + ${f:-0}))
    echo "rep $rep/$reps: $p passed, ${f:-0} failed in $(elapsed "$t1") s$(grep '^FAIL: ' "$out/rep-$rep.log" | sed 's/^FAIL: /; FAIL /' | tr -d '\n')"
done
stop_load
echo "load test: ${groups[*]} x $reps under ${what:-no load} in $(elapsed "$t0") s; logs in $out"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

#!/bin/bash
# Run every tdx-emu test, building whatever is missing first:
#   unit     native tests of the core (plain, ASan+UBSan, TSan builds)
#   fuzz     libFuzzer targets, bounded runs (FUZZ_SECONDS of a core each,
#            default 60; all targets run at once)
#   qtest    QEMU qtests of the fork (tests/qtest)
#   system   end-to-end tests that boot L1 (tests/system)
# usage: test.sh [unit|fuzz|qtest|system ...]   (default: all)
# Ends with "N passed, N failed, N skipped"; exit status is non-zero if anything failed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(unit fuzz qtest system)
export FUZZ_SECONDS=${FUZZ_SECONDS:-60}

passed=0 failed=0 skipped=0 failures=()
t_all=$EPOCHREALTIME t_test=$EPOCHREALTIME
since() {    # seconds since $1, one decimal
    awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}
result() {   # name rc; the time is since the test's start (t_test)
    local took
    took=$(since "$t_test")
    if [ "$2" = 0 ]; then
        passed=$((passed + 1)); echo "PASS: $1 [${took} s]"
    else
        failed=$((failed + 1)); failures+=("$1"); echo "FAIL: $1 (exit $2) [${took} s]"
    fi
}

bash "$TDX_EMU_ROOT/scripts/build.sh" || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
eval "$(cat "$TDX_EMU_CACHE/artifacts.env")"

meson_suite() {   # label build-dir suite [meson options...]
    local label=$1 dir=$2 suite=$3; shift 3
    t_test=$EPOCHREALTIME
    NATIVE_BUILD=$dir NATIVE_OPTS="$*" bash "$TDX_EMU_ROOT/scripts/build-native.sh" >/dev/null ||
        { result "$label: build" 1; return; }
    if ! meson test -C "$dir" --no-rebuild --suite "$suite" --print-errorlogs > "$dir.$suite.log" 2>&1; then
        grep -E '^ *[0-9]+/[0-9]+ ' "$dir.$suite.log" | grep -v ' OK ' | sed "s/^/  [$label] /"
        sed -n '/Summary of Failures/,$p' "$dir.$suite.log" | head -40
        result "$label" 1
    else
        local n
        n=$(grep -cE '^ *[0-9]+/[0-9]+ .* OK ' "$dir.$suite.log")
        if [ "$n" = 0 ]; then
            # A suite that ran nothing proves nothing: say so, don't pass it.
            skipped=$((skipped + 1)); echo "SKIP: $label (no tests in suite '$suite')"
        else
            result "$label ($n tests)" 0
        fi
    fi
}

B=$TDX_EMU_CACHE/build
for g in "${groups[@]}"; do
    case "$g" in
    unit)
        meson_suite "unit" "$NATIVE_BUILD" unit
        meson_suite "unit-asan-ubsan" "$B/native-asan" unit \
            -Db_sanitize=address,undefined -Dguest_tools=false
        CC=clang meson_suite "unit-tsan" "$B/native-tsan" unit \
            -Db_sanitize=thread -Db_lundef=false -Dguest_tools=false
        ;;
    fuzz)
        # All targets at once, each for FUZZ_SECONDS of a core: with more
        # targets than cores they share them for proportionally longer
        # (3 targets on 2 cores: 90 s together, not 60 + 60 s with one
        # core idle in the second minute).
        nfuzz=$(ls "$TDX_EMU_ROOT"/tests/unit/fuzz/fuzz-*.c | wc -l)
        ncores=$(nproc)
        fuzz_wall=$(( nfuzz > ncores ? (FUZZ_SECONDS * nfuzz + ncores - 1) / ncores : FUZZ_SECONDS ))
        CC=clang FUZZ_SECONDS=$fuzz_wall MESON_TESTTHREADS=$nfuzz \
            meson_suite "fuzz ($nfuzz targets x ${FUZZ_SECONDS} s of a core: ${fuzz_wall} s together)" \
            "$B/native-fuzz" fuzz \
            -Dfuzzing=true -Db_lundef=false -Db_sanitize=address,undefined -Dguest_tools=false
        ;;
    qtest)
        qt=$(cd "$TDX_EMU_ROOT/tests/qtest" && ls tdx-emu*.c | sed 's/\.c$//')
        # L1 for tdx-emu-l1-test (it skips without them).
        export TDX_EMU_L1_KERNEL=$KERNEL_IMAGE TDX_EMU_L1_INITRD=$INITRAMFS \
            TDX_EMU_FIRMWARE=$FIRMWARE_DIR
        if ! ninja -C "$QEMU_BUILD" $(for t in $qt; do echo "tests/qtest/$t"; done) > "$QEMU_BUILD/qtest-build.log" 2>&1; then
            tail -30 "$QEMU_BUILD/qtest-build.log"; result "qtest: build" 1; continue
        fi
        for t in $qt; do
            t_test=$EPOCHREALTIME
            if (cd "$QEMU_BUILD" && QTEST_QEMU_BINARY=./qemu-system-x86_64 \
                    timeout 600 "./tests/qtest/$t" --tap -k) > "$QEMU_BUILD/$t.log" 2>&1; then
                result "qtest: $t ($(grep -c '^ok ' "$QEMU_BUILD/$t.log") cases, $(grep -c '^ok .*# SKIP' "$QEMU_BUILD/$t.log") skipped)" 0
            else
                grep -E '^not ok|^# |ERROR|assert' "$QEMU_BUILD/$t.log" | head -30
                result "qtest: $t" 1
            fi
        done
        ;;
    system)
        for t in "$TDX_EMU_ROOT"/tests/system/test-*.sh; do
            name=$(basename "$t" .sh)
            t_test=$EPOCHREALTIME
            if bash "$t" > "$B/system-$name.log" 2>&1; then
                result "system: $name" 0
                grep -E '^(ok|measured):' "$B/system-$name.log" | sed 's/^/  /'
            else
                tail -40 "$B/system-$name.log"
                result "system: $name" 1
            fi
        done
        ;;
    *) echo "unknown test group $g"; result "$g" 1 ;;
    esac
done

[ $failed = 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "wall time: $(since "$t_all") s (build step included)"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]

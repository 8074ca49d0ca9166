#!/bin/sh
# Bounded libFuzzer run for `meson test --suite fuzz`: FUZZ_SECONDS (default
# 60) of fuzzing from the committed seed corpus, which is copied so the run
# never writes into the repository.
set -eu
fuzzer=$1 corpus=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work/" 2>/dev/null || true
exec "$fuzzer" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 "$work"

#!/bin/bash
# Campaign benchmark (prints figures; not a test): wall time of the default
# fault-injection campaign (scripts/campaign, every busy path) against the
# 5-minute budget of 2 cores, per scenario and in total, plus the machine
# load it ran under. Build first (scripts/build.sh).
# Usage: tests/bench/campaign-bench.sh [campaign options, e.g. --seed 7]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
load0=$(cut -d' ' -f1 /proc/loadavg)
t0=$EPOCHREALTIME
rc=0
python3 "$ROOT/scripts/campaign" --quiet --out "$work" "$@" > "$work/out" || rc=$?
t1=$EPOCHREALTIME
python3 - "$work/report.json" "$t0" "$t1" "$load0" "$(nproc)" "$rc" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
print(f"campaign-bench: {len(r['scenarios'])} scenarios, {len(r['paths'])} paths, "
      f"result {r['result']} (exit {sys.argv[6]}), {sys.argv[5]} CPUs, load before {sys.argv[4]}")
for s in r["scenarios"]:
    print(f"  {s['name']:12} {s['seconds']:6.1f} s  (L1 init {s['init_s']} s)")
print(f"  total wall {wall:.1f} s = {wall / 300:.2f} x the 300 s budget")
PY

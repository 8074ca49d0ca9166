#!/bin/bash
# Entry point of the tdx-emu container (Containerfile). A Linux tree mounted
# at /kernel (or named by KERNEL_SRC) is built as L1 first (incrementally,
# ccache), then:
#   campaign [ARGS]      scripts/campaign ARGS, report in /out (--out) unless
#                        ARGS name one; JUNIT=1 adds /out/junit.xml
#   merge DIR...         scripts/campaign merge --out /out/merged DIR...
#   test [GROUPS]        scripts/test.sh GROUPS
#   shell | CMD...       anything else
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

if [ -z "${KERNEL_SRC:-}" ] && [ -f /kernel/Makefile ]; then
    export KERNEL_SRC=/kernel
fi
cmd=${1:-campaign}
[ $# -gt 0 ] && shift
case "$cmd" in
campaign|test)
    if [ -n "${KERNEL_SRC:-}" ] || [ "$cmd" = test ]; then
        bash scripts/build.sh
    fi
    ;;
esac
case "$cmd" in
campaign)
    args=("$@")
    if ! printf '%s\n' "$@" | grep -qx -- '--out'; then
        mkdir -p /out
        args+=(--out "/out/campaign${SHARD_TAG:-}")
    fi
    if [ "${JUNIT:-0}" = 1 ]; then
        args+=(--junit "/out/junit${SHARD_TAG:-}.xml")
    fi
    exec python3 scripts/campaign "${args[@]}"
    ;;
merge)
    exec python3 scripts/campaign merge --out /out/merged --junit /out/merged/junit.xml "$@" ;;
test)
    exec bash scripts/test.sh "$@" ;;
shell)
    exec bash ;;
*)
    exec "$cmd" "$@" ;;
esac

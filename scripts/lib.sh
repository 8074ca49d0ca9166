# Common helpers for tdx-emu scripts. Source, don't execute.
# shellcheck shell=bash

TDX_EMU_ROOT=${TDX_EMU_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# Downloads and build trees live outside the repository so that a clean clone
# stays clean and reruns are incremental.
TDX_EMU_CACHE=${TDX_EMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tdx-emu}
export TDX_EMU_ROOT TDX_EMU_CACHE

log()  { printf '[tdx-emu] %s\n' "$*" >&2; }
die()  { printf '[tdx-emu] error: %s\n' "$*" >&2; exit 1; }

need_root() {
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || die "$1 needs root (or sudo)"
        SUDO=sudo
    else
        SUDO=
    fi
}

# Wall-clock stamp in seconds, for the timing lines the scripts print.
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

# build_lock NAME: serialize builds that share a cache directory (two
# checkouts, or a test run and a developer's build, on one machine). Held
# until the calling script exits.
build_lock() {
    mkdir -p "$TDX_EMU_CACHE/locks"
    exec 9> "$TDX_EMU_CACHE/locks/$1.lock"
    flock -w 1800 9 || die "waited 30 min for another $1 build to finish"
}

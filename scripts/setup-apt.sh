#!/bin/bash
# Make the Debian suites tdx-emu needs available to apt:
#   bookworm-backports  meson >= 1.5 for QEMU 10.0
#   trixie              QEMU 10.0.x source, firmware packages
#   sid                 linux-source-7.x when trixie(-backports) lacks it
# plus deb-src lines. The mirror URI is taken from the machine's existing apt
# configuration; nothing here names a host. trixie and sid are pinned low so
# that ordinary installs keep coming from bookworm (see baseline.md: unpinned,
# they upgrade libc and glib behind your back).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root "apt set-up"

LIST=/etc/apt/sources.list.d/tdx-emu.sources
PIN=/etc/apt/preferences.d/tdx-emu.pref
STAMP=$TDX_EMU_CACHE/stamps/apt-update

# Find the first configured URI that serves a Debian main archive (a suite
# named after a release, not -security). Accept both deb822 and one-line form.
find_debian_uri() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        # deb822 stanzas: print URI of stanzas whose Suites has a plain release
        awk 'BEGIN { RS=""; FS="\n" }
             {
               uri=""; suites=""; types="";
               for (i = 1; i <= NF; i++) {
                 if ($i ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", $i); uri=$i }
                 if ($i ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", $i); suites=$i }
                 if ($i ~ /^Types:/)  { types=$i }
               }
               if (types ~ /deb/ && suites ~ /(^| )(bookworm|trixie|sid|unstable|stable)( |$)/) {
                 split(uri, u, " "); print u[1]; exit
               }
             }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -e "$f" ] || continue
        awk '$1 == "deb" && $0 !~ /security/ {
               for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit }
             }' "$f"
    done
}

URI=${TDX_EMU_APT_URI:-$(find_debian_uri | head -n1)}
[ -n "$URI" ] || die "no Debian archive URI found in /etc/apt; set TDX_EMU_APT_URI"

want=$(cat <<EOT
# Written by tdx-emu scripts/setup-apt.sh. URI copied from this machine's apt config.
Types: deb deb-src
URIs: $URI
Suites: bookworm-backports trixie trixie-backports sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $URI
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
)
wantpin=$(cat <<'EOT'
# Written by tdx-emu scripts/setup-apt.sh: newer suites only on explicit request.
Package: *
Pin: release n=trixie
Pin-Priority: 100

Package: *
Pin: release n=trixie-backports
Pin-Priority: 100

Package: *
Pin: release n=sid
Pin-Priority: 100

Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100
EOT
)

changed=0
if [ "$(cat "$LIST" 2>/dev/null)" != "$want" ]; then
    printf '%s\n' "$want" | $SUDO tee "$LIST" >/dev/null; changed=1
fi
if [ "$(cat "$PIN" 2>/dev/null)" != "$wantpin" ]; then
    printf '%s\n' "$wantpin" | $SUDO tee "$PIN" >/dev/null; changed=1
fi
mkdir -p "$(dirname "$STAMP")"
# Refresh indexes when we changed the lists or the last update is > 1 day old.
if [ $changed = 1 ] || [ -z "$(find "$STAMP" -mtime -1 2>/dev/null)" ]; then
    log "apt-get update"
    $SUDO apt-get update -q -o Acquire::Retries=3 >&2 || die "apt-get update failed"
    touch "$STAMP"
fi

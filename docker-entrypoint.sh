#!/bin/sh
# Migrations are a start step: every process runs them first (on PostgreSQL they
# take turns on an advisory lock), then becomes the requested command.
set -e
if [ "${ALMANAC_SKIP_MIGRATE:-0}" != "1" ]; then
    almanac migrate
fi
exec almanac "$@"

#!/usr/bin/env bash
# Runs the real-client scenario (scenario.mjs) against storebridge.
#
# Usage: run.sh [scenario.mjs | guard-selftest.mjs]
# The environment variables, the JSON printed on stdout and the exit codes are
# described at the top of each script. stdout carries only that JSON, so npm
# output goes to stderr. Installs the pinned packages with `npm ci` when
# node_modules lacks shipstation-node.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

script="${1:-scenario.mjs}"
case "$script" in
  scenario.mjs | guard-selftest.mjs) ;;
  *)
    echo "run.sh: unknown script '$script': expected scenario.mjs or guard-selftest.mjs" >&2
    exit 2
    ;;
esac

if [[ ! -f node_modules/shipstation-node/package.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# The scenario only talks to loopback. Proxy variables would make axios send
# the requests to a proxy host, which the egress guard rejects, so they are
# removed for this process only (npm above keeps them).
exec env -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u http_proxy -u https_proxy -u all_proxy \
  node --require ./egress-guard.cjs --import ./register.mjs "$script"

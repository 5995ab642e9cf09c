#!/usr/bin/env bash
# Rebuild the web client from web/src and fail unless it is byte-identical to the committed
# build in duelctl/web/ (what pip installs and `duelctl up` serves). Called by .ci/run.
# Also type-checks and checks formatting (prettier). Needs Node >= 20.19 and npm; installs
# exactly package-lock.json (npm ci).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
  echo "web/check-build.sh: npm not found (install Node >= 20.19)" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npx --no-install tsc --noEmit
npx --no-install prettier --check --log-level warn src index.html vite.config.ts
npx --no-install vite build --outDir "$out" --emptyOutDir --logLevel warn
if ! diff -r "$out" ../duelctl/web; then
  echo "duelctl/web/ does not match web/src: run 'cd web && npm ci && npm run build'" \
    "and commit duelctl/web/" >&2
  exit 1
fi
echo "web: the committed build in duelctl/web/ matches web/src"

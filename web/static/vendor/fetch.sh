#!/usr/bin/env bash
# Re-fetch the vendored front-end libraries from the npm registry, at the pinned versions (no build step: each is a
# prebuilt bundle, kept with its licence). Run from anywhere; needs npm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# ReDoc: the human-readable API reference at /api/docs (MIT).
REDOC_VERSION=3.0.1
(cd "$work" && npm pack --silent "redoc@$REDOC_VERSION" >/dev/null && tar xzf "redoc-$REDOC_VERSION.tgz")
mkdir -p "$here/redoc"
cp "$work/package/bundles/redoc.standalone.js" "$work/package/LICENSE" "$here/redoc/"
echo "$REDOC_VERSION" > "$here/redoc/VERSION"

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

# regl-scatterplot: the concept map's WebGL points (MIT), with its dependencies regl (MIT) and pub-sub-es (MIT),
# joined into one ES module by esbuild, so the page imports a single static file. esbuild runs here only.
SCATTERPLOT_VERSION=1.16.0
ESBUILD_VERSION=0.28.2
(cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund \
  "regl-scatterplot@$SCATTERPLOT_VERSION" "esbuild@$ESBUILD_VERSION" >/dev/null)
mkdir -p "$here/regl-scatterplot"
"$work/node_modules/.bin/esbuild" "$work/node_modules/regl-scatterplot/dist/regl-scatterplot.esm.js" --bundle \
  --format=esm --minify --legal-comments=none --log-level=warning --outfile="$here/regl-scatterplot/regl-scatterplot.js"
for package in regl-scatterplot regl pub-sub-es; do
  cp "$work/node_modules/$package/LICENSE" "$here/regl-scatterplot/LICENSE.$package"
done
echo "regl-scatterplot $SCATTERPLOT_VERSION (regl $(node -p "require('$work/node_modules/regl/package.json').version"), \
pub-sub-es $(node -p "require('$work/node_modules/pub-sub-es/package.json').version")), bundled by esbuild \
$ESBUILD_VERSION" > "$here/regl-scatterplot/VERSION"

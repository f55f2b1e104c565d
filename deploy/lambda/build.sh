#!/usr/bin/env bash
# Build the AWS Lambda package of pmproxy for one CPU architecture: a zip holding pmproxy and
# its dependencies (the versions pinned in uv.lock), built for Python 3.11 on Amazon Linux
# (manylinux2014 wheels only, never a build from source), with the handler at
# pmproxy.lambda_handler.handler.
#
#   deploy/lambda/build.sh x86_64 [OUT_DIR]    # or arm64; OUT_DIR defaults to dist/lambda
#
# It is `pip install --platform manylinux2014_<cpu> --only-binary=:all: --python-version 3.11
# --target DIR`, done with uv (already the project's tool, and it reuses its cache). The zip is
# reproducible: entries sorted, timestamps fixed. It prints the zip's path on stdout.
set -euo pipefail

die() {
  echo "lambda/build.sh: $*" >&2
  exit 2
}

arch="${1:-}"
case "$arch" in
  x86_64) platform=x86_64-manylinux2014 ;;
  arm64) platform=aarch64-manylinux2014 ;;
  *) die "usage: deploy/lambda/build.sh x86_64|arm64 [OUT_DIR] (Lambda's architecture names)" ;;
esac
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${2:-$repo/dist/lambda}"
python="${PMT_PYTHON:-python3}"
if [ -n "${UV:-}" ]; then
  uv=("$UV")
elif command -v uv >/dev/null 2>&1; then
  uv=(uv)
else
  uv=("$python" -m uv)
fi
export UV_PYTHON_DOWNLOADS=never

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"${uv[@]}" build --quiet --wheel --out-dir "$work/wheel" "$repo/pmproxy"
"${uv[@]}" export --quiet --frozen --no-hashes --no-header --no-dev --no-emit-workspace \
  --package pmproxy --project "$repo" --output-file "$work/constraints.txt"
wheel="$(find "$work/wheel" -name 'pmproxy-*.whl' -print -quit)"
[ -n "$wheel" ] || die "uv build produced no pmproxy wheel"
"${uv[@]}" pip install --quiet --target "$work/package" \
  --python-platform "$platform" --python-version 3.11 --only-binary :all: \
  --constraint "$work/constraints.txt" "$wheel"

[ -f "$work/package/pmproxy/lambda_handler.py" ] ||
  die "the package has no pmproxy/lambda_handler.py: the handler pmproxy.lambda_handler.handler would not load"
# Console scripts and bytecode are of no use on Lambda (its file system is read-only), and
# the installer's records name this build's temporary paths: drop them, so that two builds of
# one commit give the same zip.
rm -rf "$work/package/bin"
find "$work/package" -name __pycache__ -type d -prune -exec rm -rf {} +
find "$work/package" -path '*.dist-info/*' \( -name RECORD -o -name direct_url.json \
  -o -name uv_cache.json -o -name INSTALLER \) -delete

version="$(basename "$wheel" | cut -d- -f2)"
mkdir -p "$out"
zip_path="$(cd "$out" && pwd)/pmproxy-lambda-$version-$arch.zip"
"$python" - "$work/package" "$zip_path" <<'PY'
import os
import sys
import zipfile

root, target = sys.argv[1], sys.argv[2]
files = sorted(
    os.path.relpath(os.path.join(folder, name), root)
    for folder, _, names in os.walk(root)
    for name in names
)
with zipfile.ZipFile(target + ".tmp", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
    for name in files:
        path = os.path.join(root, name)
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(path, "rb") as handle:
            archive.writestr(info, handle.read())
os.replace(target + ".tmp", target)
PY
echo "lambda/build.sh: $zip_path ($(du -h "$zip_path" | cut -f1), $arch, handler pmproxy.lambda_handler.handler)" >&2
printf '%s\n' "$zip_path"

#!/usr/bin/env bash
# Assemble a CodeDeploy revision: appspec.yml, the hook scripts, the units, the nginx site, the
# env example, the deploy README and the given wheels (plus constraints.txt, the exact versions
# from uv.lock, when given). The release workflows push the result with `aws deploy push`;
# the install test runs scripts/install.sh from it.
#
#   deploy/bundle.sh OUT_DIR WHEEL... [CONSTRAINTS.txt]
set -euo pipefail

die() {
  echo "bundle.sh: $*" >&2
  exit 2
}

[ $# -ge 2 ] || die "usage: deploy/bundle.sh OUT_DIR WHEEL... [constraints.txt]"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$1"
shift
[ ! -e "$out" ] || [ -z "$(ls -A "$out")" ] || die "$out exists and is not empty"

mkdir -p "$out/scripts" "$out/deploy" "$out/dist"
cp "$repo/appspec.yml" "$out/"
for script in install.sh start.sh stop.sh validate.sh deploy-lib.sh; do
  install -m 0755 "$repo/scripts/$script" "$out/scripts/$script"
done
cp -R "$repo/deploy/systemd" "$repo/deploy/nginx" "$repo/deploy/env" "$out/deploy/"
cp "$repo/deploy/README.md" "$out/deploy/README.md"

wheels=0
for file in "$@"; do
  case "$file" in
    *.whl)
      cp "$file" "$out/dist/"
      wheels=$((wheels + 1))
      ;;
    *constraints.txt) cp "$file" "$out/dist/constraints.txt" ;;
    *) die "not a wheel or constraints.txt: $file" ;;
  esac
done
[ "$wheels" -gt 0 ] || die "no wheel given"
echo "bundle.sh: $out holds $wheels wheel(s)" >&2

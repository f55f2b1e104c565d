#!/usr/bin/env bash
# Render deploy/nginx/pmt.conf for one host: fill the __PMT_*__ placeholders from the
# environment and print the result on stdout (or write it to $1, atomically).
#
#   PMT_SERVER_NAME=pmt.example.org deploy/nginx/render.sh /etc/nginx/conf.d/pmt.conf
#
# Every value is checked before use: a value that could smuggle nginx syntax (spaces, ";",
# braces, quotes) is refused rather than escaped.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
template="${PMT_NGINX_TEMPLATE:-$here/pmt.conf}"

die() {
  echo "render.sh: $*" >&2
  exit 2
}

server_name="${PMT_SERVER_NAME:-}"
[ -n "$server_name" ] || die "PMT_SERVER_NAME is not set: give the public DNS name of this host"
[[ "$server_name" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] ||
  die "PMT_SERVER_NAME must be a DNS name (letters, digits, dots, hyphens), got '$server_name'"

tls_cert="${PMT_TLS_CERT:-/etc/letsencrypt/live/$server_name/fullchain.pem}"
tls_key="${PMT_TLS_KEY:-/etc/letsencrypt/live/$server_name/privkey.pem}"
acme_root="${PMT_ACME_ROOT:-/var/www/letsencrypt}"
https_port="${PMT_HTTPS_PORT:-443}"
http_port="${PMT_HTTP_PORT:-80}"
pmproxy_addr="${PMT_PMPROXY_ADDR:-127.0.0.1:8080}"

for pair in "PMT_TLS_CERT=$tls_cert" "PMT_TLS_KEY=$tls_key" "PMT_ACME_ROOT=$acme_root"; do
  name="${pair%%=*}"
  value="${pair#*=}"
  [[ "$value" =~ ^/[A-Za-z0-9._/@+-]+$ ]] ||
    die "$name must be an absolute path without spaces or nginx syntax, got '$value'"
done
for pair in "PMT_HTTPS_PORT=$https_port" "PMT_HTTP_PORT=$http_port"; do
  name="${pair%%=*}"
  value="${pair#*=}"
  if ! [[ "$value" =~ ^[0-9]{1,5}$ ]] || [ "$value" -lt 1 ] || [ "$value" -gt 65535 ]; then
    die "$name must be a port number (1-65535), got '$value'"
  fi
done
[[ "$pmproxy_addr" =~ ^[0-9.]+:[0-9]+$|^localhost:[0-9]+$|^unix:/[A-Za-z0-9._/-]+$ ]] ||
  die "PMT_PMPROXY_ADDR must be HOST:PORT or unix:/path, got '$pmproxy_addr'"
[ -r "$template" ] || die "cannot read the template $template"

rendered="$(sed \
  -e "s|__PMT_SERVER_NAME__|$server_name|g" \
  -e "s|__PMT_TLS_CERT__|$tls_cert|g" \
  -e "s|__PMT_TLS_KEY__|$tls_key|g" \
  -e "s|__PMT_ACME_ROOT__|$acme_root|g" \
  -e "s|__PMT_HTTPS_PORT__|$https_port|g" \
  -e "s|__PMT_HTTP_PORT__|$http_port|g" \
  -e "s|__PMT_PMPROXY_ADDR__|$pmproxy_addr|g" \
  "$template")"
if grep -q '__PMT_[A-Z_]*__' <<<"$rendered"; then
  die "the template has a placeholder this script does not know: $(grep -o '__PMT_[A-Z_]*__' <<<"$rendered" | sort -u | tr '\n' ' ')"
fi

if [ $# -eq 0 ]; then
  printf '%s\n' "$rendered"
else
  out="$1"
  tmp="$(mktemp "$(dirname "$out")/.pmt.conf.XXXXXX")"
  printf '%s\n' "$rendered" >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$out"
fi

#!/usr/bin/env bash
# Install the Debian tools that pmt's tests and benchmarks drive for real:
# nginx (proxy benchmark, site config check), chromium + driver (dashboard browser test), the
# linter shellcheck (deploy scripts), wrk (load generator), tmux (interactive CLI test).
# Only what is missing is installed; without root (and no sudo) it says what to install.
set -euo pipefail

declare -A tool_pkg=(
  [nginx]=nginx
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [shellcheck]=shellcheck
  [wrk]=wrk
  [tmux]=tmux
  [systemd-analyze]=systemd
  [openssl]=openssl
  [curl]=curl
)

missing=()
for tool in "${!tool_pkg[@]}"; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    missing+=("${tool_pkg[$tool]}")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo_cmd=(sudo -n)
  else
    echo "pmt: these Debian packages are needed by some tests: ${missing[*]}" >&2
    echo "pmt: install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 0
  fi
fi
echo "pmt: installing ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

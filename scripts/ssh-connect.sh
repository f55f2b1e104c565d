#!/usr/bin/env bash
# Open a shell (or run a command) on the pmt EC2 host. Nothing about the host lives in the
# repository: its address and the key come from the environment.
#
#   PMT_SSH_HOST=ec2-x-x-x-x.eu-west-1.compute.amazonaws.com PMT_SSH_KEY=~/.ssh/pmt.pem \
#     scripts/ssh-connect.sh [COMMAND...]
#
#   PMT_SSH_HOST     host name or address (required)
#   PMT_SSH_KEY      path to the private key file (required; must not be readable by others)
#   PMT_SSH_USER     login (default ec2-user, Amazon Linux's)
#   PMT_SSH_PORT     port (default 22)
#   PMT_SSH_DRY_RUN  1: print the ssh command instead of running it
set -euo pipefail

die() {
  echo "ssh-connect.sh: $*" >&2
  exit 2
}

host="${PMT_SSH_HOST:-}"
key="${PMT_SSH_KEY:-}"
user="${PMT_SSH_USER:-ec2-user}"
port="${PMT_SSH_PORT:-22}"

[ -n "$host" ] || die "PMT_SSH_HOST is not set: export the host's DNS name or address"
[ -n "$key" ] || die "PMT_SSH_KEY is not set: export the path of the host's private key file"
[[ "$host" =~ ^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$ ]] ||
  die "PMT_SSH_HOST must be a host name or an IP address, got '$host'"
[[ "$user" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "PMT_SSH_USER is not a valid login name: '$user'"
if ! [[ "$port" =~ ^[0-9]{1,5}$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  die "PMT_SSH_PORT must be a port number (1-65535), got '$port'"
fi
[ -f "$key" ] || die "PMT_SSH_KEY=$key: no such file"
[ -r "$key" ] || die "PMT_SSH_KEY=$key: not readable by you"
mode="$(stat -c '%a' "$key")"
if [ $((8#$mode & 8#077)) -ne 0 ]; then
  die "PMT_SSH_KEY=$key is readable by others (mode $mode): chmod 600 '$key'"
fi

command=(ssh -i "$key" -p "$port"
  -o IdentitiesOnly=yes
  -o StrictHostKeyChecking=accept-new
  -o ServerAliveInterval=30
  "$user@$host" "$@")

if [ "${PMT_SSH_DRY_RUN:-0}" = 1 ]; then
  printf '%q ' "${command[@]}"
  printf '\n'
  exit 0
fi
exec "${command[@]}"

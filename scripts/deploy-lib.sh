# shellcheck shell=bash disable=SC2034  # the variables are used by the scripts that source this
# Shared by the CodeDeploy hooks (install.sh, start.sh, stop.sh, validate.sh); sourced, not run.
#
# Layout on a host (every path below moves under $DESTDIR when it is set, for tests and
# packaging; then systemctl is not called, and no user is created and nothing chowned unless
# PMT_MANAGE_USER=yes, which uses DESTDIR's own /etc/passwd):
#
#   /opt/pmt/releases/<service>-<version>-<hash>/   one venv per service and release
#   /opt/pmt/pmproxy, /opt/pmt/pmengine           symlinks to the current releases
#   /etc/systemd/system/pmproxy.service, pmengine.service
#   /etc/pmt/pmengine.env                         root:root 0600, the engine's settings
#   /etc/pmt/nginx.env                            optional: PMT_SERVER_NAME, PMT_TLS_* for nginx
#   /var/lib/pmengine                             pmt:pmt 0750, the engine's journal
#
# A bundle (see deploy/bundle.sh) carries the services whose wheels are in its dist/: a
# pmproxy release touches only pmproxy, a pmengine release only pmengine.

# A failure inside $(...) stops the script too (bash does not pass set -e into substitutions).
shopt -s inherit_errexit

PMT_BUNDLE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DESTDIR="${DESTDIR:-}"
DESTDIR="${DESTDIR%/}"
PMT_OPT="$DESTDIR/opt/pmt"
PMT_ETC="$DESTDIR/etc/pmt"
PMT_UNIT_DIR="$DESTDIR/etc/systemd/system"
PMT_STATE_DIR="$DESTDIR/var/lib/pmengine"
PMT_USER="${PMT_USER:-pmt}"
PMT_SERVICES_ALL=(pmproxy pmengine)

# On a real host (no DESTDIR) systemctl and the pmt user are used; under DESTDIR they are not,
# unless asked for explicitly.
if [ -z "$DESTDIR" ]; then
  PMT_SYSTEMCTL="${PMT_SYSTEMCTL:-yes}"
  PMT_MANAGE_USER="${PMT_MANAGE_USER:-yes}"
else
  PMT_SYSTEMCTL="${PMT_SYSTEMCTL:-no}"
  PMT_MANAGE_USER="${PMT_MANAGE_USER:-no}"
fi

# CodeDeploy runs the hooks with the agent's environment, and /usr/sbin holds useradd,
# runuser and flock.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() {
  printf 'pmt-deploy[%s]: %s\n' "$(basename "$0" .sh)" "$*" >&2
}

die() {
  log "error: $*"
  exit 1
}

# systemctl, or (without systemd) a line saying what would have run.
run_systemctl() {
  if [ "$PMT_SYSTEMCTL" = yes ]; then
    systemctl "$@"
  else
    log "no systemctl (PMT_SYSTEMCTL=no): would run: systemctl $*"
  fi
}

# The services this bundle carries: those with a wheel in dist/.
bundle_services() {
  local service
  for service in "${PMT_SERVICES_ALL[@]}"; do
    if compgen -G "$PMT_BUNDLE/dist/$service-*.whl" >/dev/null; then
      printf '%s\n' "$service"
    fi
  done
}

# The services installed on this host: those whose current-release link exists.
installed_services() {
  local service
  for service in "${PMT_SERVICES_ALL[@]}"; do
    if [ -L "$PMT_OPT/$service" ] && [ -x "$PMT_OPT/$service/bin/$service" ]; then
      printf '%s\n' "$service"
    fi
  done
}

# Settings for the hooks on a host: CodeDeploy passes no environment of ours, so they may live
# in /etc/pmt/deploy.env (KEY=VALUE lines, no shell syntax; read, never sourced). A variable
# already set in the environment wins over the file.
PMT_DEPLOY_SETTINGS=(PMT_INSTALLER PMT_UV PMT_PYTHON PMT_PIP_ARGS PMT_KEEP_RELEASES
  PMT_VALIDATE_TIMEOUT PMT_PMPROXY_URL PMT_REQUIRE_UPSTREAMS)

load_deploy_env() {
  local file="$PMT_ETC/deploy.env" key value
  [ -f "$file" ] || return 0
  while IFS='=' read -r key value || [ -n "$key" ]; do
    case "$key" in
      '' | '#'*) continue ;;
    esac
    case " ${PMT_DEPLOY_SETTINGS[*]} " in
      *" $key "*) ;;
      *) die "$file: unknown setting '$key' (allowed: ${PMT_DEPLOY_SETTINGS[*]})" ;;
    esac
    if [ -z "${!key+set}" ]; then
      printf -v "$key" '%s' "$value"
    fi
  done <"$file"
}

load_deploy_env

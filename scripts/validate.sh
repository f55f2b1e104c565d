#!/usr/bin/env bash
# CodeDeploy ValidateService hook: wait, up to a deadline, until every installed service
# answers. pmproxy: GET /health returns 200 with its JSON. pmengine: `pmengine status --json`
# succeeds on its state directory. A unit that systemd reports as failed fails at once, with the
# end of its journal, so that the deployment (and its automatic rollback) says why.
#
#   sudo scripts/validate.sh            # every installed service
#   sudo scripts/validate.sh pmproxy    # just these
#
# Settings (environment, or /etc/pmt/deploy.env on a host):
#   PMT_VALIDATE_TIMEOUT   seconds to wait in all (default 90)
#   PMT_PMPROXY_URL        where pmproxy listens (default http://127.0.0.1:8080)
#   PMT_REQUIRE_UPSTREAMS  yes: also require every upstream reachable (status "ok", not
#                          "degraded"); default no, so a Polymarket outage cannot block a deploy
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=deploy-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/deploy-lib.sh"

PMT_VALIDATE_TIMEOUT="${PMT_VALIDATE_TIMEOUT:-90}"
PMT_PMPROXY_URL="${PMT_PMPROXY_URL:-http://127.0.0.1:8080}"
PMT_REQUIRE_UPSTREAMS="${PMT_REQUIRE_UPSTREAMS:-no}"
[[ "$PMT_VALIDATE_TIMEOUT" =~ ^[0-9]+$ ]] ||
  die "PMT_VALIDATE_TIMEOUT must be a number of seconds, got '$PMT_VALIDATE_TIMEOUT'"
deadline=$((SECONDS + PMT_VALIDATE_TIMEOUT))

# Fail fast when systemd has given up on the unit (start limit hit, or it exited).
check_unit() {
  local service="$1"
  if [ "$PMT_SYSTEMCTL" = yes ] && systemctl is-failed --quiet "$service.service"; then
    journalctl -u "$service.service" -n 40 --no-pager >&2 || true
    die "$service.service has failed (its journal is above)"
  fi
}

# pmproxy /health: 200 and a JSON body whose status is "ok" (or "degraded", if allowed).
probe_pmproxy() {
  local body status
  body="$(curl -fsS --max-time 5 "$PMT_PMPROXY_URL/health" 2>/dev/null)" || return 1
  status="$(printf '%s' "$body" | "$PMT_OPT/pmproxy/bin/python" -c \
    'import json, sys; print(json.load(sys.stdin).get("status", ""))' 2>/dev/null)" || return 1
  case "$status" in
    ok) return 0 ;;
    degraded)
      if [ "$PMT_REQUIRE_UPSTREAMS" = yes ]; then
        return 1
      fi
      printf 'up, but some upstream is unreachable from this host: %s\n' "$body"
      return 0
      ;;
    *) return 1 ;;
  esac
}

# `pmengine status` as the pmt user: as root it could leave root-owned SQLite files (-wal,
# -shm) in the state directory that the engine then cannot open.
probe_pmengine() {
  local command=("$PMT_OPT/pmengine/bin/pmengine" status --state-dir "$PMT_STATE_DIR" --json)
  if [ -z "$DESTDIR" ] && [ "$PMT_MANAGE_USER" = yes ] && [ "$(id -u)" -eq 0 ]; then
    command=(runuser -u "$PMT_USER" -- "${command[@]}")
  fi
  "${command[@]}" | "$PMT_OPT/pmengine/bin/python" -c 'import json, sys; json.load(sys.stdin)' >/dev/null
}

wait_for() {
  local service="$1" note
  while true; do
    check_unit "$service"
    if note="$("probe_$service" 2>/dev/null)"; then
      log "$service answers${note:+: $note}"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      "probe_$service" >&2 || true
      die "$service did not answer within ${PMT_VALIDATE_TIMEOUT}s"
    fi
    sleep 1
  done
}

main() {
  local services=() service
  if [ $# -gt 0 ]; then
    services=("$@")
  else
    mapfile -t services < <(installed_services)
  fi
  [ "${#services[@]}" -gt 0 ] || die "no pmt service is installed under ${DESTDIR:-/}opt/pmt"
  for service in "${services[@]}"; do
    case "$service" in
      pmproxy | pmengine) wait_for "$service" ;;
      *) die "unknown service '$service' (pmproxy or pmengine)" ;;
    esac
  done
}

main "$@"

#!/usr/bin/env bash
# CodeDeploy ApplicationStop hook: stop the services this bundle carries. CodeDeploy runs this
# hook from the revision that is already on the host, so a pmproxy release stops pmproxy and a
# pmengine release stops pmengine; the other service keeps running.
#
# pmengine stops on SIGTERM: it halts its strategies, cancels its open orders and flushes the
# journal (the unit allows 20 s before SIGKILL).
#
#   sudo scripts/stop.sh                # as the hook does
#   sudo scripts/stop.sh pmproxy        # just these services
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=deploy-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/deploy-lib.sh"

main() {
  local services=() service
  if [ $# -gt 0 ]; then
    services=("$@")
  else
    mapfile -t services < <(bundle_services)
  fi
  for service in "${services[@]}"; do
    case "$service" in
      pmproxy | pmengine) ;;
      *) die "unknown service '$service' (pmproxy or pmengine)" ;;
    esac
    if [ -f "$PMT_UNIT_DIR/$service.service" ]; then
      log "stopping $service"
      run_systemctl stop "$service.service"
    else
      log "$service is not installed; nothing to stop"
    fi
  done
}

main "$@"

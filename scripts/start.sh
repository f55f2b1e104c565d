#!/usr/bin/env bash
# CodeDeploy ApplicationStart hook: restart the services this bundle carries (so they run the
# release install.sh just switched to) and start any other installed service that is down.
#
#   sudo scripts/start.sh               # as the hook does
#   sudo scripts/start.sh pmengine      # just these services (restart)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=deploy-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/deploy-lib.sh"

main() {
  local restart=() installed=() service
  if [ $# -gt 0 ]; then
    restart=("$@")
  else
    mapfile -t restart < <(bundle_services)
  fi
  mapfile -t installed < <(installed_services)
  for service in "${restart[@]}"; do
    case " ${installed[*]} " in
      *" $service "*) ;;
      *) die "$service is not installed on this host (run install.sh first)" ;;
    esac
  done
  for service in "${installed[@]}"; do
    case " ${restart[*]} " in
      *" $service "*)
        log "restarting $service"
        run_systemctl restart "$service.service"
        ;;
      *)
        # Starting an active unit is a no-op; this only brings back one that is down.
        run_systemctl start "$service.service"
        ;;
    esac
  done
}

main "$@"

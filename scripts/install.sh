#!/usr/bin/env bash
# CodeDeploy AfterInstall hook (also run by hand, or into a temporary root for tests):
# install the services this bundle carries. Idempotent: running it twice changes nothing.
#
#   sudo scripts/install.sh                       # on the host, from an unpacked bundle
#   DESTDIR=/tmp/root scripts/install.sh          # into a temporary root: no user, no systemctl
#   scripts/install.sh --plan                     # print the wheels and releases; change nothing
#
# For each service with a wheel in dist/ (pmproxy; pmengine with pmtrader and pmstrat):
# a fresh venv in /opt/pmt/releases/<service>-<version>-<hash> (reused when the same wheels
# were installed before), checked with `<service> --version`, then /opt/pmt/<service> is
# switched to it in one rename. Running services keep their old release until start.sh
# restarts them; the last PMT_KEEP_RELEASES releases stay for a rollback.
# Then: the pmt system user, /var/lib/pmengine, /etc/pmt/pmengine.env (root, 0600, created from
# the example only when missing), the units, nginx's site when /etc/pmt/nginx.env exists, and
# systemctl daemon-reload + enable.
#
# Settings (environment, or /etc/pmt/deploy.env on a host, since CodeDeploy passes none):
#   DESTDIR            install under this root instead of / (environment only)
#   PMT_PYTHON         interpreter for the venvs (default: python3.11, else python3 >= 3.11)
#   PMT_INSTALLER      pip (default) or uv (faster; uses PMT_UV, default `uv` on PATH)
#   PMT_PIP_ARGS       extra arguments for the installer (e.g. --no-index --find-links DIR)
#   PMT_KEEP_RELEASES  releases kept per service (default 3)
#   PMT_SYSTEMCTL      yes/no: call systemctl (default yes, no under DESTDIR)
#   PMT_MANAGE_USER    yes/no: create the pmt user and chown (default yes, no under DESTDIR;
#                      yes under DESTDIR creates the user in DESTDIR/etc/passwd)
set -euo pipefail
umask 022

# shellcheck source-path=SCRIPTDIR source=deploy-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/deploy-lib.sh"

PMT_INSTALLER="${PMT_INSTALLER:-pip}"
PMT_UV="${PMT_UV:-uv}"
PMT_KEEP_RELEASES="${PMT_KEEP_RELEASES:-3}"
read -r -a PIP_ARGS <<<"${PMT_PIP_ARGS:-}"

case "$PMT_INSTALLER" in
  pip | uv) ;;
  *) die "PMT_INSTALLER must be pip or uv, got '$PMT_INSTALLER'" ;;
esac
[[ "$PMT_KEEP_RELEASES" =~ ^[1-9][0-9]*$ ]] ||
  die "PMT_KEEP_RELEASES must be a positive number, got '$PMT_KEEP_RELEASES'"
if [ "$PMT_MANAGE_USER" = yes ] && [ "$(id -u)" -ne 0 ] && [ "${1:-}" != --plan ]; then
  die "run as root (sudo), or set DESTDIR to install into a temporary root"
fi

find_python() {
  local candidate
  if [ -n "${PMT_PYTHON:-}" ]; then
    candidate="$PMT_PYTHON"
    "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
      die "PMT_PYTHON=$candidate is not a Python 3.11 or newer"
    printf '%s\n' "$candidate"
    return
  fi
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return
    fi
  done
  die "no Python 3.11+ found: install one (Amazon Linux 2023: dnf install -y python3.11) or set PMT_PYTHON"
}

PYTHON="$(find_python)"
PY_TAG="$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
ARCH="$(uname -m)"

# The wheel of package $1 for this host: a platform wheel for this CPU and Python if the bundle
# has one (pmengine's mypyc build), else the pure-Python one. Exactly one must match.
pick_wheel() {
  local name="$1" file base rest plat py
  local specific=() generic=()
  for file in "$PMT_BUNDLE"/dist/"$name"-*.whl; do
    [ -e "$file" ] || continue
    base="${file##*/}"
    base="${base%.whl}"
    plat="${base##*-}"
    rest="${base%-*}"
    rest="${rest%-*}"
    py="${rest##*-}"
    if [ "$plat" = any ]; then
      generic+=("$file")
    elif [[ "$plat" == *"_$ARCH"* ]] && [[ ".$py." == *".$PY_TAG."* ]]; then
      specific+=("$file")
    fi
  done
  if [ "${#specific[@]}" -eq 1 ]; then
    printf '%s\n' "${specific[0]}"
  elif [ "${#specific[@]}" -eq 0 ] && [ "${#generic[@]}" -eq 1 ]; then
    printf '%s\n' "${generic[0]}"
  else
    die "dist/ must hold exactly one $name wheel for $ARCH/$PY_TAG (found: ${specific[*]:-} ${generic[*]:-})"
  fi
}

wheel_version() {
  local base="${1##*/}"
  base="${base#*-}"
  printf '%s\n' "${base%%-*}"
}

make_venv() {
  local dir="$1"
  if [ "$PMT_INSTALLER" = uv ]; then
    "$PMT_UV" venv --quiet --python "$PYTHON" "$dir"
  else
    "$PYTHON" -m venv "$dir"
  fi
}

install_wheels() {
  local dir="$1"
  shift
  local constraints=()
  if [ -f "$PMT_BUNDLE/dist/constraints.txt" ]; then
    constraints=(--constraint "$PMT_BUNDLE/dist/constraints.txt")
  fi
  # The wheels are given as files, so a same-named package on an index can never replace them.
  if [ "$PMT_INSTALLER" = uv ]; then
    "$PMT_UV" pip install --quiet --compile-bytecode --python "$dir/bin/python" \
      "${constraints[@]}" "${PIP_ARGS[@]}" "$@"
  else
    "$dir/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
      "${constraints[@]}" "${PIP_ARGS[@]}" "$@"
  fi
}

prune_releases() {
  local service="$1" current="$2" kept=0 path
  while IFS= read -r path; do
    [ -n "$path" ] || continue
    if [ "${path##*/}" = "$current" ]; then
      continue
    fi
    kept=$((kept + 1))
    if [ "$kept" -ge "$PMT_KEEP_RELEASES" ]; then
      log "removing old release ${path##*/}"
      rm -rf -- "$path"
    fi
  done < <(find "$PMT_OPT/releases" -mindepth 1 -maxdepth 1 -type d -name "$service-*" \
    -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
}

# Choose the wheels for service $1 and name its release: sets WHEELS and RELEASE.
plan_service() {
  local service="$1" digest engine sdk strat
  # One plain assignment per pick: in an array assignment only the last substitution's
  # failure would stop the script.
  case "$service" in
    pmproxy)
      engine="$(pick_wheel pmproxy)"
      WHEELS=("$engine")
      ;;
    pmengine)
      engine="$(pick_wheel pmengine)"
      sdk="$(pick_wheel pmtrader)"
      strat="$(pick_wheel pmstrat)"
      WHEELS=("$engine" "$sdk" "$strat")
      ;;
    *) die "unknown service $service" ;;
  esac
  digest="$(
    {
      sha256sum "${WHEELS[@]}" | cut -d' ' -f1
      if [ -f "$PMT_BUNDLE/dist/constraints.txt" ]; then
        sha256sum "$PMT_BUNDLE/dist/constraints.txt" | cut -d' ' -f1
      fi
      printf '%s %s %s\n' "$PY_TAG" "$ARCH" "$PMT_INSTALLER"
    } | sha256sum | cut -c1-12
  )"
  RELEASE="$service-$(wheel_version "${WHEELS[0]}")-$digest"
}

install_service() {
  local service="$1" wheels=() release dir
  plan_service "$service"
  wheels=("${WHEELS[@]}")
  release="$RELEASE"
  dir="$PMT_OPT/releases/$release"
  if [ -f "$dir/.pmt-complete" ]; then
    log "$service: release $release is already installed; reusing it"
  else
    log "$service: installing release $release ($PMT_INSTALLER, $("$PYTHON" --version))"
    rm -rf -- "$dir"
    make_venv "$dir"
    install_wheels "$dir" "${wheels[@]}"
    "$dir/bin/$service" --version >/dev/null ||
      die "$service: the new release does not run ($dir/bin/$service --version failed)"
    touch "$dir/.pmt-complete"
  fi
  # One rename switches the service to the new release; a reader never sees a missing link.
  ln -sfn "releases/$release" "$PMT_OPT/.$service.new"
  mv -Tf "$PMT_OPT/.$service.new" "$PMT_OPT/$service"
  log "$service: /opt/pmt/$service -> releases/$release"
  prune_releases "$service" "$release"
}

# The pmt system user. Under DESTDIR (packaging, tests) it goes into DESTDIR's own
# /etc/passwd (useradd --prefix), and ownership is then set by number from that file.
ensure_user() {
  if [ "$PMT_MANAGE_USER" != yes ]; then
    return
  fi
  local prefix=()
  if [ -n "$DESTDIR" ]; then
    [ -f "$DESTDIR/etc/passwd" ] || die "PMT_MANAGE_USER=yes under DESTDIR needs $DESTDIR/etc/passwd"
    prefix=(--prefix "$DESTDIR")
  fi
  if [ -z "$(user_ids)" ]; then
    log "creating the system user $PMT_USER"
    useradd "${prefix[@]}" --system --user-group --home-dir /var/lib/pmengine \
      --no-create-home --shell /usr/sbin/nologin --comment "pmt services" "$PMT_USER"
  fi
}

# uid:gid of the pmt user, or nothing when it does not exist.
user_ids() {
  if [ -n "$DESTDIR" ]; then
    awk -F: -v name="$PMT_USER" '$1 == name { print $3 ":" $4 }' "$DESTDIR/etc/passwd"
  else
    getent passwd "$PMT_USER" | awk -F: '{ print $3 ":" $4 }'
  fi
}

ensure_dirs() {
  install -d -m 0755 "$PMT_OPT" "$PMT_OPT/releases" "$PMT_OPT/share" "$PMT_UNIT_DIR"
  install -d -m 0755 "$PMT_ETC"
  install -d -m 0750 "$PMT_STATE_DIR"
  if [ "$PMT_MANAGE_USER" = yes ]; then
    chown 0:0 "$PMT_OPT" "$PMT_ETC"
    chown "$(user_ids)" "$PMT_STATE_DIR"
  fi
}

# The engine's settings may name where its key lives (or, discouraged, hold it): never
# readable by anyone but root. systemd reads it before dropping to the pmt user.
ensure_engine_env() {
  local env_file="$PMT_ETC/pmengine.env"
  if [ ! -e "$env_file" ]; then
    log "creating $env_file from the example (dry-run settings; edit it, then restart)"
    install -m 0600 "$PMT_BUNDLE/deploy/env/pmengine.env.example" "$env_file"
  fi
  chmod 0600 "$env_file"
  if [ "$PMT_MANAGE_USER" = yes ]; then
    chown 0:0 "$env_file"
  fi
}

install_units() {
  local service
  for service in "$@"; do
    install -m 0644 "$PMT_BUNDLE/deploy/systemd/$service.service" "$PMT_UNIT_DIR/$service.service"
  done
  install -d -m 0755 "$PMT_OPT/share/examples/pmengine.service.d"
  install -m 0644 "$PMT_BUNDLE"/deploy/systemd/pmengine.service.d/*.conf \
    "$PMT_OPT/share/examples/pmengine.service.d/"
  install -m 0644 "$PMT_BUNDLE/deploy/README.md" "$PMT_OPT/README-deploy.md"
}

# nginx's site, when the operator has described the public name in /etc/pmt/nginx.env.
configure_nginx() {
  local env_file="$PMT_ETC/nginx.env" site="$DESTDIR/etc/nginx/conf.d/pmt.conf"
  local key value backup=""
  local settings=()
  if [ ! -f "$env_file" ]; then
    log "no $env_file: the nginx site is left as it is (deploy/README.md, section 3)"
    return
  fi
  while IFS='=' read -r key value || [ -n "$key" ]; do
    case "$key" in
      '' | '#'*) ;;
      PMT_SERVER_NAME | PMT_TLS_CERT | PMT_TLS_KEY | PMT_HTTPS_PORT | PMT_HTTP_PORT | PMT_PMPROXY_ADDR | PMT_ACME_ROOT)
        settings+=("$key=$value")
        ;;
      *) die "$env_file: unknown setting '$key' (allowed: PMT_SERVER_NAME, PMT_TLS_CERT, PMT_TLS_KEY, PMT_HTTPS_PORT, PMT_HTTP_PORT, PMT_PMPROXY_ADDR, PMT_ACME_ROOT)" ;;
    esac
  done <"$env_file"
  if [ "$PMT_SYSTEMCTL" = yes ] && ! command -v nginx >/dev/null 2>&1; then
    die "$env_file asks for the nginx site, but nginx is not installed (dnf install -y nginx)"
  fi
  install -d -m 0755 "$(dirname "$site")"
  if [ -f "$site" ]; then
    # Not *.conf, so nginx never loads the copy.
    backup="$(mktemp "$site.previous.XXXXXX")"
    cp -p "$site" "$backup"
  fi
  if ! env "${settings[@]}" "$PMT_BUNDLE/deploy/nginx/render.sh" "$site"; then
    rm -f "$backup"
    die "$env_file: the nginx site could not be rendered (the message above says why)"
  fi
  if [ "$PMT_SYSTEMCTL" = yes ]; then
    if ! nginx -t -q; then
      if [ -n "$backup" ]; then
        mv -f "$backup" "$site"
      else
        rm -f "$site"
      fi
      die "nginx -t rejected the new site; the previous one is back in place"
    fi
    systemctl enable --quiet nginx
    systemctl reload-or-restart nginx
  fi
  if [ -n "$backup" ]; then
    rm -f "$backup"
  fi
  log "nginx site written to $site"
}

main() {
  local carried=() service
  mapfile -t carried < <(bundle_services)
  [ "${#carried[@]}" -gt 0 ] || die "no pmproxy or pmengine wheel in $PMT_BUNDLE/dist: not a pmt bundle"
  if [ "${1:-}" = --plan ]; then
    # Say what would be installed for this host's CPU and Python, and change nothing.
    for service in "${carried[@]}"; do
      plan_service "$service"
      printf '%s %s %s\n' "$service" "$RELEASE" "${WHEELS[*]##*/}"
    done
    return
  fi

  ensure_user
  ensure_dirs
  exec 9>"$PMT_OPT/.install.lock"
  flock -n 9 || die "another install is running (lock $PMT_OPT/.install.lock)"

  for service in "${carried[@]}"; do
    install_service "$service"
  done
  ensure_engine_env

  local installed=()
  mapfile -t installed < <(installed_services)
  install_units "${installed[@]}"
  configure_nginx
  run_systemctl daemon-reload
  run_systemctl enable --quiet "${installed[@]/%/.service}"
  log "installed: ${carried[*]} (on this host: ${installed[*]})"
}

main "$@"

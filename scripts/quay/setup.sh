#!/usr/bin/env bash
# Installs what the real-Quay tests need, from ../shared/quay beside the
# project: Debian packages (PostgreSQL, Redis, build headers), Quay's source
# and a Python venv with its pinned requirements, in a cache shared by every
# clone on this machine. Idempotent: a second run installs nothing.
#   QUAYSIDE_QUAY_DIST  the folder holding quay-v3.18.0-trim.tgz (default ../shared/quay)
#   QUAYSIDE_QUAY_HOME  where source and venv go (default ~/.cache/quayside/quay-3.18.0)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dist=${QUAYSIDE_QUAY_DIST:-$root/../shared/quay}
home=${QUAYSIDE_QUAY_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/quayside/quay-3.18.0}
src=$home/src venv=$home/venv
if [ ! -f "$dist/quay-v3.18.0-trim.tgz" ]; then
  echo "quay: no Quay source at $dist (quay-v3.18.0-trim.tgz); the real-Quay tests will not run" >&2
  exit 3
fi

pkgs=(redis-server postgresql libpq-dev libldap2-dev libsasl2-dev libxml2-dev libxslt1-dev libjpeg-dev
      zlib1g-dev libffi-dev libssl-dev libmagic1 libfreetype-dev build-essential pkg-config python3-venv)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "quay: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -f "$src/app.py" ]; then
  echo "quay: unpacking the source into $src"
  rm -rf "$src"; mkdir -p "$src/.gitdeps"
  tar xzf "$dist/quay-v3.18.0-trim.tgz" -C "$src"
  tar xzf "$dist/quay-gitdeps.tgz" -C "$src/.gitdeps"
fi
if [ ! -x "$venv/bin/gunicorn" ] || [ ! -f "$venv/.complete" ]; then
  echo "quay: making the Python venv in $venv (about 2 minutes on a new machine)"
  # Three requirements are git URLs; point them at the copies in the gitdeps tarball.
  sed -e "s#^aniso8601 @ .*#aniso8601 @ file://$src/.gitdeps/aniso8601#" \
      -e "s#^py-bitbucket @ .*#py-bitbucket @ file://$src/.gitdeps/py-bitbucket#" \
      -e "s#^supervisor-stdout @ .*#supervisor-stdout @ file://$src/.gitdeps/supervisor-stdout#" \
      "$src/requirements.txt" > "$src/.requirements-local.txt"
  rm -rf "$venv"
  "${QUAY_PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/pip" install -q $(grep -e '^pip=' -e '^wheel=' -e '^setuptools=' "$src/requirements.txt")
  "$venv/bin/pip" install -q -r "$src/.requirements-local.txt"
  touch "$venv/.complete"
fi
echo "quay: ready (source $src, venv $venv)"

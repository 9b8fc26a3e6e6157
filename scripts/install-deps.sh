#!/usr/bin/env bash
# Installs the Debian packages Aria builds and runs with (only the missing ones).
set -euo pipefail
packages=(libnats-dev nats-server libpq-dev postgresql libcurl4-openssl-dev pkg-config util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
# Debian starts a system Postgres cluster on install; Aria runs its own on free ports, so it is not needed.
command -v swift >/dev/null || { echo "swift 6.2+ is required on PATH" >&2; exit 1; }

#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian bookworm machine: system packages, the .venv, kubeprov itself.
# Re-running does nothing that is already done (apt runs only for missing packages, pip only when
# pyproject.toml changed since the last successful install).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
EXTRAS=${KUBEPROV_EXTRAS:-cloud,install,dev}

# Packages the lifecycle tool, the tests and the local machines need on the host.
APT_PACKAGES=(
  etcd-server etcd-client runc containernetworking-plugins openssh-client openssh-server openssl
  debootstrap systemd-container iproute2 iptables nftables haproxy skopeo umoci
  busybox-static jq curl python3-venv make docker-registry bind9-dnsutils
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: run as root (or install them with: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # policy-rc.d keeps Debian from starting etcd/haproxy as host services during install.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created_policy=1
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.kubeprov-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $EXTRAS"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! .venv/bin/python -c 'import kubeprov' 2>/dev/null; then
  echo "setup: installing kubeprov[$EXTRAS] into .venv (first run downloads the cloud SDKs)"
  .venv/bin/python -m pip install -q --upgrade pip setuptools wheel
  .venv/bin/python -m pip install -q -e ".[$EXTRAS]"
  echo "$want" > "$stamp"
fi
.venv/bin/python -m kubeprov.apiserver.protobuf.extract
echo "setup: ready ($ROOT/.venv/bin/kubeprov)"

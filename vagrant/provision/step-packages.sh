#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Both nodes: the packages, bacula-ha itself, and no service that Pacemaker owns left to systemd.
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"
src=$(cd "$(dirname "$0")/../.." && pwd)   # this bacula-ha checkout

# No catalog made by dbconfig-common in the local PostgreSQL: the catalog lives
# on the replicated file system (drbd) or on its own server (git).
debconf-set-selections <<'SEL'
bacula-director-pgsql bacula-director-pgsql/dbconfig-install boolean false
bacula-director-pgsql bacula-director-pgsql/dbconfig-upgrade boolean false
SEL
packages=(pacemaker corosync crmsh resource-agents fence-agents bacula-director bacula-director-pgsql
          bacula-console python3-click libpq5 python3-psycopg python3-lxml make rsync)
if [[ $ARCH == drbd ]]; then
    packages+=(drbd-utils postgresql)
else
    packages+=(git postgresql-client)
fi
case $FENCING in
    ipmilan) packages+=(ipmitool) ;;
    sbd) packages+=(sbd) ;;
esac
# Only what is missing: a node (or a Vagrant box) that has every package runs no apt.
missing=()
for pkg in "${packages[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null) == ii* ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
make -C "$src" install
crm ra info ocf:bacula:bacula-director >/dev/null

# Pacemaker starts and stops these; systemd must never start them at boot.
units=(bacula-director)
if [[ $ARCH == drbd ]]; then
    units+=(postgresql drbd)
fi
for unit in "${units[@]}"; do
    if systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl is-active --quiet "$unit"; then
        systemctl disable --now "$unit"
    fi
done

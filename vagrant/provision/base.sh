#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every VM: secrets into /etc/bacula-ha, name resolution, the tools of these scripts (apt only if missing).
set -euo pipefail
# Vagrant runs a copy of this script from /tmp: the library comes from the synced folder.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${BHA_LIB:-/bacula-ha/vagrant/provision/lib.sh}"
require_settings

install -d -m 0700 "$BHA_ETC"
# Uploaded by the Vagrantfile's file provisioners (made once on the host).
if [[ -f /tmp/bha-secrets.env ]]; then
    install -m 0600 /tmp/bha-secrets.env "$BHA_ETC/secrets.env"
    install -m 0400 /tmp/bha-authkey "$BHA_ETC/corosync-authkey"
    rm -f /tmp/bha-secrets.env /tmp/bha-authkey
fi
if [[ -f /tmp/bha-fence-key ]]; then
    install -m 0600 /tmp/bha-fence-key "$BHA_ETC/fence_key"
    rm -f /tmp/bha-fence-key
fi
load_secrets
# The settings of this `vagrant up`, for running the scripts again by hand.
for name in "${!BHA_@}"; do
    declare -p "$name"
done | sed 's/^declare -x /declare -gx /; s/^declare -- /declare -g /' | write_file "$BHA_ETC/settings.env" 0600 root:root

log "settings: arch=$BHA_ARCH fencing=$BHA_FENCING vip=$BHA_VIP nodes=$BHA_NODES"

# Cluster names resolve without DNS (corosync, DRBD and the fence agents use them).
sed -i '/# bacula-ha$/d' /etc/hosts
for entry in $BHA_NODES; do
    printf '%s %s # bacula-ha\n' "${entry#*=}" "${entry%%=*}" >>/etc/hosts
done
# Vagrant maps the hostname to a 127.0.X.1 address: corosync and DRBD must resolve
# the node names to the private network instead.
sed -i -E "/^127\.0\.[1-9][0-9]*\.1[[:space:]].*\b$(hostname)\b/d" /etc/hosts

# No package configuration dialogs, no catalog made by dbconfig-common: the
# catalog is made by these scripts, on the DRBD filesystem or on gitcat.
debconf-set-selections <<'SEL'
bacula-director-pgsql bacula-director-pgsql/dbconfig-install boolean false
bacula-director-pgsql bacula-director-pgsql/dbconfig-upgrade boolean false
SEL
apt_install ca-certificates make git gnupg rsync procps psmisc iproute2 iputils-ping kmod

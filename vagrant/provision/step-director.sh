#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Both nodes, first where the replicated file system is mounted: the Director's configuration
# and working directory move onto it; the local /etc/bacula/bacula-dir.conf only includes the
# replicated one, so bacula-dir -t, bconsole and package upgrades find it where they expect.
# The Director listens on all addresses (no DirAddress): it starts before the VIP, and the
# agent's checks reach it on 127.0.0.1. bconsole on the nodes talks to the VIP.
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"
shared=$MOUNT_POINT/etc/bacula-dir.conf
working=$MOUNT_POINT/working
local_conf=/etc/bacula/bacula-dir.conf

if mountpoint -q "$MOUNT_POINT"; then
    install -d -m 0750 -o root -g bacula "$MOUNT_POINT/etc"
    install -d -m 0750 -o bacula -g bacula "$working"
    if [[ ! -e $shared ]]; then
        if grep -qx "@$shared" "$local_conf"; then
            cp -p "$local_conf.pre-bacula-ha" "$shared"   # this node ran the step unmounted before
        else
            cp -p "$local_conf" "$shared"
        fi
        rsync -a /var/lib/bacula/ "$working/"
        sed -i -e "s|\"/var/lib/bacula\"|\"$working\"|" -e "s|\"/var/lib/bacula/|\"$working/|" \
            -e '/^[[:space:]]*DirAddress[[:space:]]*=/Id' "$shared"
    fi
    if grep -n '^[[:space:]]*@' "$shared"; then
        echo "$shared includes the files above: each must exist on both nodes" >&2
    fi
    pg_ctlcluster "$PG_VERSION" main status >/dev/null 2>&1 || pg_ctlcluster "$PG_VERSION" main start
    bacula-dir -t -u bacula -g bacula -c "$shared"      # parses it and opens the catalog
fi
if [[ ! -L $local_conf ]] && ! grep -qx "@$shared" "$local_conf"; then
    cp -p "$local_conf" "$local_conf.pre-bacula-ha"
    printf '# bacula-ha: the Director configuration is on the replicated file system\n@%s\n' \
        "$shared" >"$local_conf"
fi
sed -i "s|^\([[:space:]]*address[[:space:]]*=\).*|\1 $VIP|I" /etc/bacula/bconsole.conf
grep -i -A4 '^Director' /etc/bacula/bconsole.conf | grep -iv password

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Both nodes: the DRBD resource with "fencing resource-and-stonith", its metadata, and up.
# DRBD 9 module: crm-snippets/drbd-fencing.res with this site's values. Debian 12's own
# kernel ships DRBD 8.4, which has the fencing policy in "disk" and no unfence-peer handler.
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"
src=$(cd "$(dirname "$0")/../.." && pwd)   # this bacula-ha checkout
res=/etc/drbd.d/$DRBD_RESOURCE.res

modprobe drbd
echo drbd >/etc/modules-load.d/drbd.conf
version=$(modinfo -F version drbd)
if [[ $version == 9.* ]]; then
    sed -e "s|^resource r0 {|resource $DRBD_RESOURCE {|" \
        -e "s|/dev/drbd0;|$DRBD_DEVICE;|" -e "s|/dev/vg0/bacula-catalog;|$DRBD_DISK;|" \
        -e "s|on node1 {|on $NODE1 {|" -e "s|on node2 {|on $NODE2 {|" \
        -e "s|198.51.100.1:7789|$NODE1_ADDR:7789|" -e "s|198.51.100.2:7789|$NODE2_ADDR:7789|" \
        "$src/crm-snippets/drbd-fencing.res" >"$res.new"
else
    cat >"$res.new" <<RES
# DRBD $version (8.4 syntax): the fencing policy of crm-snippets/drbd-fencing.res
resource $DRBD_RESOURCE {
    net {
        protocol C;
    }
    disk {
        fencing resource-and-stonith;
    }
    handlers {
        fence-peer "/usr/lib/drbd/crm-fence-peer.9.sh";
        after-resync-target "/usr/lib/drbd/crm-unfence-peer.9.sh";
    }
    device $DRBD_DEVICE;
    disk $DRBD_DISK;
    meta-disk internal;
    on $NODE1 {
        address $NODE1_ADDR:7789;
    }
    on $NODE2 {
        address $NODE2_ADDR:7789;
    }
}
RES
fi
mv -f "$res.new" "$res"
drbdadm dump "$DRBD_RESOURCE" >/dev/null      # syntax and this node's name

if ! drbdadm role "$DRBD_RESOURCE" >/dev/null 2>&1; then        # not up yet
    if ! drbdadm dump-md "$DRBD_RESOURCE" >/dev/null 2>&1; then  # no metadata yet
        if blkid -p "$DRBD_DISK" >/dev/null 2>&1; then
            echo "$DRBD_DISK holds data (blkid -p $DRBD_DISK): refusing to create DRBD metadata on it" >&2
            exit 1
        fi
        drbdadm -- --force create-md "$DRBD_RESOURCE"
    fi
    drbdadm up "$DRBD_RESOURCE"
fi
drbdadm status "$DRBD_RESOURCE" 2>/dev/null || cat /proc/drbd

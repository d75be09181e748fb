#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One node (the first; both must have run step-drbd.sh): make it the sync source,
# make the file system and mount it here. The resync to the peer runs in the background;
# step-handover.sh waits for it.
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"

for _ in $(seq 150); do                         # up to 5 minutes for the peer
    [[ $(drbdadm cstate "$DRBD_RESOURCE") =~ ^(Connected|SyncSource|SyncTarget)$ ]] && break
    sleep 2
done
[[ $(drbdadm cstate "$DRBD_RESOURCE") =~ ^(Connected|SyncSource|SyncTarget)$ ]] \
    || { echo "DRBD $DRBD_RESOURCE: not connected to the peer" >&2; exit 1; }

if [[ $(drbdadm dstate "$DRBD_RESOURCE") == Inconsistent/Inconsistent ]]; then
    drbdadm primary --force "$DRBD_RESOURCE"    # the initial sync: this node's data wins
else
    drbdadm primary "$DRBD_RESOURCE"
fi
if ! blkid -p "$DRBD_DEVICE" >/dev/null 2>&1; then
    mkfs.ext4 -q "$DRBD_DEVICE"
fi
install -d -m 0755 "$MOUNT_POINT"
mountpoint -q "$MOUNT_POINT" || mount "$DRBD_DEVICE" "$MOUNT_POINT"
drbdadm status "$DRBD_RESOURCE" 2>/dev/null || cat /proc/drbd

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The node where the replicated file system is mounted, once both nodes ran the steps before:
# stop what the setup started, wait for the initial sync to finish, and leave DRBD Secondary,
# so Pacemaker starts everything from a clean state.
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"

if pg_ctlcluster "$PG_VERSION" main status >/dev/null 2>&1; then
    pg_ctlcluster "$PG_VERSION" main stop
fi
if mountpoint -q "$MOUNT_POINT"; then
    umount "$MOUNT_POINT"
fi
echo "waiting for the DRBD resync (drbdadm status $DRBD_RESOURCE shows its progress)"
until [[ $(drbdadm dstate "$DRBD_RESOURCE") == UpToDate/UpToDate ]]; do
    sleep 10
done
drbdadm secondary "$DRBD_RESOURCE"
drbdadm status "$DRBD_RESOURCE" 2>/dev/null || cat /proc/drbd

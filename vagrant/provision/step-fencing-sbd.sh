#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Both nodes, before corosync starts: sbd, the shared-disk poison pill, with a watchdog
# that resets the node when sbd stops feeding it.
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"

echo "$WATCHDOG_MODULE" >/etc/modules-load.d/watchdog.conf
modprobe "$WATCHDOG_MODULE"
test -c /dev/watchdog

# The header is written once, by the first node to get here: watchdog timeout 10 s,
# msgwait 20 s (so the cluster's stonith-timeout must be above 20 s; step-cib.sh sets 40 s).
if ! sbd -d "$SBD_DEVICE" dump >/dev/null 2>&1; then
    sbd -d "$SBD_DEVICE" -1 10 -4 20 create
fi
cat >/etc/default/sbd <<CONF
SBD_DEVICE="$SBD_DEVICE"
SBD_PACEMAKER=yes
SBD_STARTMODE=always
SBD_DELAY_START=no
SBD_WATCHDOG_DEV=/dev/watchdog
CONF
systemctl enable sbd
sbd -d "$SBD_DEVICE" list

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One node, after fencing worked both ways: release the Director stack, wait until the
# Director answers a console on the VIP, and check the live configuration.
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"

if [[ $ARCH == drbd ]]; then
    crm resource start ms_drbd
fi
crm resource start g_bacula
for _ in $(seq 60); do
    [[ $(crm_resource --locate --resource p_vip 2>/dev/null) == *"running on"* ]] && break
    sleep 5
done
crm_mon -1r
echo version | bconsole | grep -F "Version:"
bacula-ha check

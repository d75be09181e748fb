#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Each node in turn, after step-cib.sh: fence the other node through Pacemaker and wait until
# it is back in the cluster. Run it on NODE1 (NODE2 reboots), then on NODE2 (NODE1 reboots).
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"
peer=$NODE2
[[ $(uname -n) == "$NODE2" ]] && peer=$NODE1
member() { [[ " $(crm_node --partition) " == *" $peer "* ]]; }

stonith_admin --reboot "$peer"
echo "$peer fenced; waiting (up to 15 minutes) for it to rejoin"
for _ in $(seq 180); do
    member && break
    sleep 5
done
stonith_admin --history "$peer"
member || { echo "$peer did not rejoin the cluster" >&2; exit 1; }

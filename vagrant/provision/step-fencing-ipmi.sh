#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Both nodes, before anything runs on the cluster: each node reaches both BMCs.
# The BMC password lives in a root-only script that prints it (IPMI_PASSWORD_SCRIPT),
# so it is in no command line, no CIB and no log.
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"

owner_mode=$(stat -c '%U %a' "$IPMI_PASSWORD_SCRIPT")
if [[ $owner_mode != "root 700" ]]; then
    echo "$IPMI_PASSWORD_SCRIPT must be owned by root, mode 0700 (is: $owner_mode)" >&2
    exit 1
fi
for bmc in "$IPMI_ADDR1" "$IPMI_ADDR2"; do
    echo "BMC $bmc:"
    fence_ipmilan --ip="$bmc" --username="$IPMI_USER" --password-script="$IPMI_PASSWORD_SCRIPT" \
        --lanplus --action=status
done

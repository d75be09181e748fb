#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Once, on dir2 after both Director nodes ran director.sh: the rest of the production guide's
# steps (docs/production.md): DRBD initial sync, PostgreSQL's data and the catalog, the
# Director's configuration and working directory on DRBD, hand-over to Pacemaker; then the
# CIB (bacula-ha render, checked, loaded with the stack held), a fencing test (dir1 is
# rebooted through Pacemaker), the start, and ocf-tester on every agent.
set -euo pipefail
# Vagrant runs a copy of this script from /tmp: the library comes from the synced folder.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${BHA_LIB:-/bacula-ha/vagrant/provision/lib.sh}"
require_settings
load_secrets

steps=$BHA_SRC/vagrant/provision
both_nodes_online() {
    [[ $(crm_node -p 2>/dev/null | wc -w) -eq 2 ]] && crmadmin -D >/dev/null 2>&1
}
log "waiting for dir1 and dir2 in one partition with a DC"
wait_for 300 "both nodes in the cluster" both_nodes_online

if [[ $BHA_ARCH == drbd ]]; then
    if ! crm_resource --resource g_bacula --query-xml >/dev/null 2>&1; then   # not yet handed over
        for step in step-drbd-initial-sync.sh step-postgresql.sh step-catalog.sh step-director.sh \
                    step-handover.sh; do
            log "$step"
            "$steps/$step"
        done
    fi
fi

first_load=yes
if crm_resource --resource g_bacula --query-xml >/dev/null 2>&1; then
    first_load=no
fi
log "step-cib.sh ($BHA_ARCH; site values in $BHA_ETC/site.env and $BHA_ETC/site.conf)"
"$steps/step-cib.sh"
if [[ $first_load == yes ]]; then
    log "step-fencing-test.sh: dir1 is rebooted through Pacemaker"
    "$steps/step-fencing-test.sh"
    log "step-start.sh"
    "$steps/step-start.sh"
fi

# --- ocf-tester on every agent ------------------------------------------------------------
if has_node gitcat; then
    "$steps/ocf-tester.sh"
else   # its test instances use gitcat's catalog and repository
    log "ocf-tester skipped: BHA_GITCAT=no (its test instances use gitcat's catalog and repository)"
fi
log "cluster ready: Director on $BHA_VIP ($BHA_ARCH architecture, $BHA_FENCING fencing)"

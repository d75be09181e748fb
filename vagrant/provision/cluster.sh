#!/bin/bash
# Once, on dir2 after both Director nodes run corosync and pacemaker:
# DRBD initial sync, the file system and the catalog cluster on DRBD, the CIB
# (bacula-ha render of the chosen architecture + this cluster's fencing), and
# ocf-tester on every agent.
set -euo pipefail
# Vagrant runs a copy of this script from /tmp: the library comes from the synced folder.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${BHA_LIB:-/bacula-ha/vagrant/provision/lib.sh}"
require_settings
load_secrets

res=$BHA_DRBD_RESOURCE
gitcat_ip=$(node_ip gitcat)

both_nodes_online() {
    [[ $(crm_node -p 2>/dev/null | wc -w) -eq 2 ]] && crmadmin -D >/dev/null 2>&1
}
log "waiting for dir1 and dir2 in one partition with a DC"
wait_for 300 "both nodes in the cluster" both_nodes_online

# --- DRBD initial sync, file system, catalog -----------------------------------------
if [[ ! -e $BHA_ETC/drbd-initialised ]]; then
    wait_for 300 "DRBD $res connected to dir1" bash -c "[[ \$(drbdadm cstate $res) == Connected ]]"
    log "DRBD $res: initial sync from dir2, ext4, catalog cluster"
    drbdadm primary --force "$res"
    mkfs.ext4 -q -F "$BHA_DRBD_DEVICE"
    install -d -m 0755 "$BHA_DATA"
    mount "$BHA_DRBD_DEVICE" "$BHA_DATA"
    install -d -m 0700 -o postgres -g postgres "$BHA_PGDATA"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$BHA_PGDATA" -E UTF8 --locale=C.UTF-8 \
        -A peer --auth-host=scram-sha-256 >/dev/null
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$BHA_PGDATA" -o "-c config_file=$BHA_PGCONF/postgresql.conf" \
        -l /var/log/postgresql/bacula-ha-init.log -w -t 60 start >/dev/null
    make_catalog /var/run/postgresql 5432
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$BHA_PGDATA" -m fast -w -t 60 stop >/dev/null
    umount "$BHA_DATA"
    drbdadm secondary "$res"
    touch "$BHA_ETC/drbd-initialised"
fi
log "waiting (up to 15 min) for the DRBD resync"
wait_for 900 "DRBD $res UpToDate on both nodes" bash -c "[[ \$(drbdadm dstate $res) == UpToDate/UpToDate ]]"

# --- the CIB ---------------------------------------------------------------------------------
values=$(mktemp)
trap 'rm -f "$values"' EXIT
render_values >"$values"
cp "$values" "$BHA_ETC/render-values.conf"
cib=$BHA_ETC/cib-$BHA_ARCH.crm
log "rendering the $BHA_ARCH architecture (values in $BHA_ETC/render-values.conf)"
/usr/local/sbin/bacula-ha render "$BHA_ARCH" --values "$values" --output "$cib"
log "loading $cib"
crm configure load update "$cib"
if [[ $BHA_FENCING == sbd ]]; then
    # SBD's msgwait is 20 s (director.sh): a fencing operation must be given longer.
    crm configure property stonith-timeout=40s
fi
crm_verify -L

log "waiting for the Director on $BHA_VIP"
director_on_vip() {
    [[ $(crm_resource --locate -r p_director 2>/dev/null) == *"running on"* ]] && ping -c1 -W1 "$BHA_VIP"
}
wait_for 300 "the Director group running" director_on_vip
crm_mon -1r

# --- ocf-tester on every agent ------------------------------------------------------------
"$(dirname "${BHA_LIB:-/bacula-ha/vagrant/provision/lib.sh}")/ocf-tester.sh"
log "cluster ready: Director on $BHA_VIP ($BHA_ARCH architecture, $BHA_FENCING fencing)"

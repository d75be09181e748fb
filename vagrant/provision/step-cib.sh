#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One node, once the steps before ran on both: the Pacemaker configuration, rendered with
# bacula-ha render from site.env (--set) and /etc/bacula-ha/site.conf (the other render keys),
# checked offline with crm_verify and bacula-ha check, and loaded in one transaction.
# The first load holds the Director stack stopped (target-role=Stopped) so that fencing can
# be tested before anything depends on it (step-fencing-test.sh, then step-start.sh).
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"
cib=/etc/bacula-ha/cib-$ARCH.crm

set=(--set "nodes=$NODE1,$NODE2" --set "vip=$VIP" --set "fencing=$FENCING"
     --set catalog_passfile=/etc/bacula-ha/catalog.pgpass)
case $FENCING in
    ipmilan) set+=(--set "ipmi_address.$NODE1=$IPMI_ADDR1" --set "ipmi_address.$NODE2=$IPMI_ADDR2"
                   --set "ipmi_user=$IPMI_USER" --set "ipmi_password_script=$IPMI_PASSWORD_SCRIPT") ;;
    sbd) set+=(--set "sbd_devices=$SBD_DEVICE") ;;
esac
if [[ $ARCH == drbd ]]; then
    set+=(--set "drbd_resource=$DRBD_RESOURCE" --set "drbd_device=$DRBD_DEVICE"
          --set "mount_point=$MOUNT_POINT" --set "pgdata=$MOUNT_POINT/postgresql/$PG_VERSION/main"
          --set "pg_bindir=/usr/lib/postgresql/$PG_VERSION/bin"
          --set "pg_config=/etc/postgresql/$PG_VERSION/main/postgresql.conf"
          --set "director_config=$MOUNT_POINT/etc/bacula-dir.conf")
else
    set+=(--set "git_repository=$GIT_REPOSITORY" --set "git_branch=$GIT_BRANCH" --set "config_dir=$CONFIG_DIR"
          --set "catalog_host=$CATALOG_HOST" --set "catalog_sslmode=$CATALOG_SSLMODE"
          --set "ssh_key=${SSH_KEY:-}" --set "known_hosts=${KNOWN_HOSTS:-}"
          --set "allowed_signers=${ALLOWED_SIGNERS:-}")
fi
bacula-ha render "$ARCH" --values /etc/bacula-ha/site.conf "${set[@]}" --output "$cib"

first_load=yes
if crm_resource --resource g_bacula --query-xml >/dev/null 2>&1; then
    first_load=no                                   # a running cluster: update in place
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cibadmin --query >"$work/cib.xml"
export CIB_file=$work/cib.xml                       # from here on: the copy
crm configure load update "$cib"
if [[ $FENCING == sbd ]]; then
    crm configure property stonith-timeout=40s      # above sbd's msgwait (20 s)
fi
if [[ $first_load == yes ]]; then
    held=(g_bacula)                                 # hold the stack until fencing is tested
    [[ $ARCH == drbd ]] && held+=(ms_drbd)
    for rsc in "${held[@]}"; do
        crm_resource --resource "$rsc" --meta --set-parameter target-role --parameter-value Stopped
    done
fi
crm_verify --xml-file "$work/cib.xml"
bacula-ha check --cib "$work/cib.xml"
unset CIB_file
crm configure load xml update "$work/cib.xml"
crm_mon -1r

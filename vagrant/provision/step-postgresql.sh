#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Both nodes, first where the replicated file system is mounted (step-drbd-initial-sync.sh):
# the cluster $PG_VERSION/main keeps its configuration in /etc/postgresql (identical local files on
# both nodes) and gets its data directory on the replicated file system. Where the file system
# is mounted and the data is not there yet, the packaged cluster's data (with its catalog, if
# this node ran Bacula before) is copied there. Nothing is deleted.
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"
pgdata=$MOUNT_POINT/postgresql/$PG_VERSION/main
conf=/etc/postgresql/$PG_VERSION/main

old=$(pg_conftool -s "$PG_VERSION" main show data_directory)
if [[ $old == "$pgdata" ]]; then
    old=/var/lib/postgresql/$PG_VERSION/main        # ran here before: the packaged location
elif pg_ctlcluster "$PG_VERSION" main status >/dev/null 2>&1; then
    pg_ctlcluster "$PG_VERSION" main stop
fi
if mountpoint -q "$MOUNT_POINT" && [[ ! -e $pgdata/PG_VERSION ]]; then
    install -d -m 0700 -o postgres -g postgres "$pgdata"
    rsync -a "$old/" "$pgdata/"
fi
pg_conftool "$PG_VERSION" main set data_directory "$pgdata"
# Pacemaker (ocf:heartbeat:pgsql) starts it; never systemd at boot.
echo manual >"$conf/start.conf"
# The catalog check connects as the catalog user over the socket while running as root:
# a password (libpq password file) instead of peer authentication, for this user only.
if ! grep -q '^local[[:space:]]\+bacula[[:space:]]\+bacula[[:space:]]\+scram-sha-256' "$conf/pg_hba.conf"; then
    sed -i '0,/^local/s//local   bacula          bacula                                  scram-sha-256\n&/' \
        "$conf/pg_hba.conf"
fi
grep -v '^#' "$conf/pg_hba.conf" | grep -v '^$'

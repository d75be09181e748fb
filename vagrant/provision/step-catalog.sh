#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The node where the replicated file system is mounted: the Bacula catalog, made by
# Debian's own scripts unless it exists (a migrated Bacula brings its own), and the libpq
# password file bacula-catalog-check reads. The password is the one in the Director's
# Catalog resource; a fresh Debian configuration gets a new one. No password on a command line.
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"
dirconf=/etc/bacula/bacula-dir.conf
passfile=/etc/bacula-ha/catalog.pgpass

mountpoint -q "$MOUNT_POINT" || { echo "$MOUNT_POINT is not mounted here" >&2; exit 1; }
install -d -m 0711 /etc/bacula-ha
if [[ -s $passfile ]]; then
    IFS=: read -r _ _ _ _ password <"$passfile"
elif grep -q XXX_DBPASSWORD_XXX "$dirconf"; then       # fresh install: dbconfig made no catalog
    password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')   # 128 random bits, 32 hex digits
else
    password=$(sed -n 's/.*dbpassword *= *"\([^"]*\)".*/\1/Ip' "$dirconf")
    password=${password%%$'\n'*}                       # the first Catalog's
fi
[[ -n $password ]] || { echo "no catalog password found in $dirconf" >&2; exit 1; }
(umask 077; printf '*:*:bacula:bacula:%s\n' "$password" >"$passfile")
if grep -q XXX_DBPASSWORD_XXX "$dirconf"; then
    text=$(<"$dirconf")
    text=${text//dbname = \"XXX_DBNAME_XXX\";/dbname = \"bacula\"; DB Address = \"localhost\";}
    text=${text//XXX_DBNAME_XXX/bacula}                 # the catalog dump's file name
    text=${text//XXX_DBUSER_XXX/bacula}
    text=${text//XXX_DBPASSWORD_XXX/$password}
    printf '%s\n' "$text" >"$dirconf"
fi

pg_ctlcluster "$PG_VERSION" main status >/dev/null 2>&1 || pg_ctlcluster "$PG_VERSION" main start
if [[ -z $(runuser -u postgres -- psql -XAtc "SELECT 1 FROM pg_database WHERE datname = 'bacula'") ]]; then
    for script in create_postgresql_database make_postgresql_tables grant_postgresql_privileges; do
        db_name=bacula db_user=bacula db_password=$password \
            runuser -u postgres -- "/usr/share/bacula-director/$script"
    done
fi
runuser -u postgres -- psql -XAtc "SELECT 'catalog VersionId ' || versionid FROM version" bacula

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Both nodes, Git + external catalog architecture (ARCH=git), before step-cib.sh: what the
# agents will need is in place and reachable from this node. The configuration in Git holds no
# secret; the Director's passwords and Catalog resource are in a node-local file it includes.
set -euo pipefail
# shellcheck source=/dev/null
. "${BHA_SITE:-/etc/bacula-ha/site.env}"
secrets=/etc/bacula-ha/director/secrets.conf
passfile=/etc/bacula-ha/catalog.pgpass

for file in "$secrets" "$passfile" ${SSH_KEY:+"$SSH_KEY"} ${KNOWN_HOSTS:+"$KNOWN_HOSTS"} \
            ${ALLOWED_SIGNERS:+"$ALLOWED_SIGNERS"}; do
    [[ -r $file ]] || { echo "$file is missing" >&2; exit 1; }
done
[[ $(stat -c %a "$passfile") == 600 ]] || { echo "$passfile must be mode 0600" >&2; exit 1; }
[[ $(stat -c %G "$secrets") == bacula && $(stat -c %a "$secrets") == 640 ]] \
    || { echo "$secrets must be root:bacula 0640" >&2; exit 1; }

# The external catalog, as bacula-catalog-check (mode=external) will connect.
PGPASSFILE=$passfile PGCONNECT_TIMEOUT=5 psql -XAt \
    "host=$CATALOG_HOST dbname=bacula user=bacula sslmode=$CATALOG_SSLMODE" \
    -c "SELECT 'catalog VersionId ' || versionid || ', in recovery: ' || pg_is_in_recovery() FROM version"
# The repository, as bacula-config-pull will fetch it.
if [[ -n ${SSH_KEY:-} ]]; then
    export GIT_SSH_COMMAND="ssh -i $SSH_KEY -o UserKnownHostsFile=$KNOWN_HOSTS -o StrictHostKeyChecking=yes -o BatchMode=yes"
fi
[[ -n $(git ls-remote "$GIT_REPOSITORY" "refs/heads/$GIT_BRANCH") ]] \
    || { echo "$GIT_REPOSITORY has no branch $GIT_BRANCH" >&2; exit 1; }
echo "catalog and repository reachable from $(uname -n)"

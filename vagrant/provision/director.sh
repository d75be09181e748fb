#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dir1 / dir2: the production guide's own steps (docs/production.md, step-*.sh) with the
# Vagrant cluster's site facts: packages and bacula-ha, fencing (sbd + watchdog or
# fence_virsh), corosync, and for the drbd architecture DRBD r0 on the second disk and the
# node-local halves of PostgreSQL's and the Director's move onto it. What is Vagrant's own:
# the secrets come from the host (vagrant/.state), the Director configuration is the lab's
# (lib.sh director_conf), the disks are found by their serials. The catalog on DRBD and the
# CIB are made once, by cluster.sh on dir2.
set -euo pipefail
# Vagrant runs a copy of this script from /tmp: the library comes from the synced folder.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${BHA_LIB:-/bacula-ha/vagrant/provision/lib.sh}"
require_settings
load_secrets

steps=$BHA_SRC/vagrant/provision
me=$(hostname)
gitcat_ip=
if has_node gitcat; then   # BHA_GITCAT=no: dir1 and dir2 only (drbd architecture)
    gitcat_ip=$(node_ip gitcat)
fi

# --- what the steps do not install: tools of these scripts ------------------------------------
apt_install libxml2-utils e2fsprogs openssh-client util-linux

# --- this cluster's disks: found by serial (libvirt) or size (VirtualBox) ----------------------
# SBD disk: libvirt sets its serial; VirtualBox: the small (16 MiB) shared VDI,
# named by its stable by-id link (the same medium, so the same name on both nodes).
find_sbd_disk() {
    if [[ -e $BHA_SBD_LINK ]]; then
        printf '%s\n' "$BHA_SBD_LINK"
        return
    fi
    local disk size link
    while read -r disk size; do
        if ((size > 0 && size <= 64 * 1024 * 1024)); then
            for link in /dev/disk/by-id/*; do
                if [[ $(readlink -f "$link") == "$disk" ]]; then
                    printf '%s\n' "$link"
                    return
                fi
            done
            printf '%s\n' "$disk"
            return
        fi
    done < <(lsblk -dbnpo NAME,SIZE,TYPE | awk '$3 == "disk" { print $1, $2 }')
    die "no SBD disk found (BHA_FENCING=sbd attaches one to both Director nodes)"
}
find_drbd_disk() {
    if [[ -n ${BHA_DRBD_DISK:-} ]]; then
        printf '%s\n' "$BHA_DRBD_DISK"
        return
    fi
    if [[ -e $BHA_DRBD_LINK ]]; then   # libvirt: disk serial set by the Vagrantfile
        readlink -f "$BHA_DRBD_LINK"
        return
    fi
    local root_disk disk
    root_disk=$(lsblk -npo PKNAME "$(findmnt -no SOURCE /)" | head -n1)
    while read -r disk; do
        [[ $disk == "$root_disk" ]] && continue
        # the whole disk, unpartitioned, unmounted, larger than the SBD disk (VirtualBox)
        if [[ $(lsblk -npo NAME "$disk" | wc -l) -eq 1 ]] && ! findmnt -S "$disk" >/dev/null \
            && (($(lsblk -dbno SIZE "$disk") > 64 * 1024 * 1024)); then
            printf '%s\n' "$disk"
            return
        fi
    done < <(lsblk -dnpo NAME,TYPE | awk '$2 == "disk" { print $1 }')
    die "no free second disk for DRBD (set BHA_DRBD_DISK)"
}
if [[ $BHA_FENCING == sbd ]]; then
    BHA_SBD_DEVICE=$(find_sbd_disk)
    # libvirt gives the VM an i6300esb watchdog (Vagrantfile); VirtualBox has none: softdog.
    BHA_WATCHDOG_MODULE=softdog
    for dev in /sys/bus/pci/devices/*; do
        if [[ $(cat "$dev/vendor" 2>/dev/null) == 0x8086 && $(cat "$dev/device" 2>/dev/null) == 0x25ab ]]; then
            BHA_WATCHDOG_MODULE=i6300esb   # Intel 6300ESB watchdog, PCI 8086:25ab
        fi
    done
    printf '%s\n' "$BHA_SBD_DEVICE" | write_file "$BHA_ETC/sbd-device" 0644 root:root
else
    [[ -r $BHA_ETC/fence_key ]] || die "BHA_FENCING=virsh but $BHA_ETC/fence_key was not uploaded"
fi
if [[ $BHA_ARCH == drbd ]]; then
    BHA_DRBD_DISK=$(find_drbd_disk)
fi

# --- the site files the steps read ----------------------------------------------------------
chmod 0711 "$BHA_ETC"
site_env | write_file "$BHA_ETC/site.env" 0644 root:root
site_conf | write_file "$BHA_ETC/site.conf" 0644 root:root
# Made on the host once (Vagrantfile), so step-corosync.sh finds it on both nodes.
install -D -m 0400 -o root -g root "$BHA_ETC/corosync-authkey" /etc/corosync/authkey

# --- step: packages and this project ---------------------------------------------------------
log "step-packages.sh (bacula-ha from $BHA_SRC)"
"$steps/step-packages.sh"

# --- the Director's configuration (the lab's, secrets node-local) -----------------------------
install -d -m 0750 -o root -g bacula "$BHA_ETC/director"
if [[ $BHA_ARCH == drbd ]]; then
    catalog_host=127.0.0.1   # PostgreSQL runs in the same group, on the DRBD filesystem
else
    catalog_host=$gitcat_ip  # external catalog on gitcat
fi
write_director_secrets "$BHA_ETC/director/secrets.conf" "$catalog_host" 5432
if ! grep -q '^# bacula-ha:' /etc/bacula/bacula-dir.conf; then
    # drbd: step-director.sh moves it onto DRBD; git: unused (config-pull deploys the Git
    # tree into $BHA_CONFIG_DIR, a symlink it swaps).
    director_conf 9101 /var/lib/bacula /run/bacula /var/log/bacula/bacula.log \
        "$BHA_ETC/director/secrets.conf" | write_file /etc/bacula/bacula-dir.conf 0640 root:bacula
fi
write_console_conf "$BHA_ETC/bconsole.conf" 127.0.0.1 9101      # the agents' deep monitor
write_console_conf /etc/bacula/bconsole.conf "$BHA_VIP" 9101    # bconsole, through the VIP
{
    pgpass_line localhost 5432   # libpq's name for Unix-socket connections
    pgpass_line 127.0.0.1 5432
    if [[ -n $gitcat_ip ]]; then
        pgpass_line "$gitcat_ip" 5432
    fi
} | write_file "$BHA_ETC/catalog.pgpass" 0600 root:root
printf 'd /run/bacula 0755 bacula bacula -\n' | write_file /etc/tmpfiles.d/bacula-ha.conf 0644 root:root
systemd-tmpfiles --create /etc/tmpfiles.d/bacula-ha.conf

# --- steps: fencing, corosync ---------------------------------------------------------------
if [[ $BHA_FENCING == sbd ]]; then
    log "step-fencing-sbd.sh ($BHA_SBD_DEVICE, watchdog $BHA_WATCHDOG_MODULE)"
    "$steps/step-fencing-sbd.sh"
fi
log "step-corosync.sh"
"$steps/step-corosync.sh"

# --- steps: DRBD, and the node-local halves of the PostgreSQL and Director moves ------------------
if [[ $BHA_ARCH == drbd ]]; then
    log "step-drbd.sh (backing disk $BHA_DRBD_DISK)"
    "$steps/step-drbd.sh"
    install -d -m 0755 "$BHA_DATA"
    if ! mountpoint -q "$BHA_DATA"; then   # cluster.sh runs them again where DRBD is mounted
        "$steps/step-postgresql.sh"
        "$steps/step-director.sh"
    fi
else
    log "step-git.sh"
    "$steps/step-git.sh"
fi
log "$me ready: corosync + pacemaker running"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `make vagrant-failover` (as root): this directory's Vagrant cluster on this machine, offline,
# from the local box (bacula_ha.lab.vm.box, `make vagrant-box`), then a failover with fencing:
# the node running the Director is crashed, sbd fences it, the group runs on the other node
# and bconsole answers through the VIP. Then `vagrant destroy -f`, and nothing is left behind
# (domains, volumes, libvirt networks and pools it made, the box, the daemons it started).
# Two VMs (BHA_GITCAT=no, drbd architecture, sbd fencing), QEMU without KVM (driver qemu):
# see README.md for the settings and the measured times. It boots VMs: the Makefile runs it
# under the machine's VM lock.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
python=${PYTHON:-/usr/bin/python3}
work=${BHA_VAGRANT_WORK:-/var/cache/bacula-ha-lab/vagrant}   # not under a private home: libvirt's
                                                            # QEMU user reads the box's kernel
say() { printf '[vagrant-failover %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { say "FAILED: $*" >&2; exit 1; }
elapsed() { printf '%d' $((SECONDS - $1)); }

[[ $(id -u) -eq 0 ]] || die "run as root (libvirt's system connection)"
for tool in vagrant virsh libvirtd virtlogd rsync qemu-system-x86_64 ssh; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install vagrant vagrant-libvirt libvirt-daemon-system libvirt-clients)"
done
[[ ! -e $work ]] || die "$work exists: a run is going on, or an earlier one was interrupted (remove it)"

export VAGRANT_HOME=$work/home VAGRANT_DOTFILE_PATH=$work/machines VAGRANT_CWD=$here
export VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_NO_COLOR=1 VAGRANT_DEFAULT_PROVIDER=libvirt
export BHA_BOX=bacula-ha/bookworm-lab BHA_STATE_DIR=$work/state BHA_GITCAT=no BHA_ARCH=drbd
export BHA_FENCING=sbd BHA_SUBNET=198.51.100 BHA_LIBVIRT_MGMT_NET=203.0.113.0/24
export BHA_LIBVIRT_FORWARD=none BHA_DRBD_GB=${BHA_DRBD_GB:-1} BHA_MEMORY=${BHA_MEMORY:-1024}
export BHA_CPUS=${BHA_CPUS:-1} BHA_DOMAIN_PREFIX=bacula-ha-vt-
uri=qemu:///system
export LIBVIRT_DEFAULT_URI=$uri

started=$SECONDS
say "box (cached after the first build)"
box=$(PYTHONPATH=$src/lib "$python" -m bacula_ha.lab.vm.box | tail -n1)
[[ -f $box ]] || die "no box built"
say "box: $box ($(elapsed "$started") s)"

# --- libvirt: the daemons (started here if not running), and what exists before ------------------
own_daemons=()
if ! virsh version >/dev/null 2>&1; then
    for daemon in virtlogd libvirtd; do
        if ! pgrep -x "$daemon" >/dev/null; then
            "$daemon" -d
            own_daemons+=("$daemon")
        fi
    done
    for _ in $(seq 30); do
        virsh version >/dev/null 2>&1 && break
        sleep 1
    done
    virsh version >/dev/null 2>&1 || die "libvirtd does not answer on $uri"
fi
mapfile -t pools_before < <(virsh pool-list --all --name | sed '/^$/d')
# libvirt's network driver adds its top-level firewall chains (empty once its networks are gone)
storage_conf_before=no   # libvirt's pool configuration directory, made with the first pool
[[ -d /etc/libvirt/storage ]] && storage_conf_before=yes
chains_before=$( { iptables -S; ip6tables -S; } 2>/dev/null | grep -c LIBVIRT_ || true)
mapfile -t nets_before < <(virsh net-list --all --name | sed '/^$/d')

# The chains libvirt made for this run's networks, and the rules that jump to them.
remove_libvirt_chains() {
    local tool table rule chain
    for tool in iptables ip6tables; do
        for table in filter nat mangle; do
            "$tool" -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ -j LIBVIRT_[A-Z]+$' | while read -r rule; do
                read -ra rule <<<"${rule/-A/-D}"
                "$tool" -t "$table" "${rule[@]}"
            done
            "$tool" -t "$table" -S 2>/dev/null | sed -n 's/^-N \(LIBVIRT_[A-Z]*\)$/\1/p' | while read -r chain; do
                "$tool" -t "$table" -F "$chain" && "$tool" -t "$table" -X "$chain"
            done
        done
    done
}

cleanup() {
    local rc=$? name pool vol
    set +e
    trap - EXIT
    say "cleanup: vagrant destroy -f"
    timeout 600 vagrant destroy -f >/dev/null 2>&1
    for name in $(virsh list --all --name | grep "^$BHA_DOMAIN_PREFIX"); do
        virsh destroy "$name" >/dev/null 2>&1
        virsh undefine "$name" --remove-all-storage >/dev/null 2>&1
    done
    for pool in $(virsh pool-list --name); do
        for vol in $(virsh vol-list "$pool" | awk 'NR > 2 && $1 { print $1 }'); do
            case $vol in
                "$BHA_DOMAIN_PREFIX"*|bacula-ha-VAGRANTSLASH-*) virsh vol-delete --pool "$pool" "$vol" >/dev/null ;;
            esac
        done
    done
    for name in $(virsh net-list --all --name); do
        if [[ " ${nets_before[*]} " != *" $name "* ]]; then
            virsh net-destroy "$name" >/dev/null 2>&1
            virsh net-undefine "$name" >/dev/null
        fi
    done
    for name in $(virsh pool-list --all --name); do
        if [[ " ${pools_before[*]} " != *" $name "* ]]; then
            virsh pool-destroy "$name" >/dev/null 2>&1
            virsh pool-undefine "$name" >/dev/null
        fi
    done
    if [[ $storage_conf_before == no ]]; then
        rmdir /etc/libvirt/storage/autostart /etc/libvirt/storage 2>/dev/null
    fi
    vagrant box remove --force --all "$BHA_BOX" >/dev/null 2>&1
    if ((chains_before == 0)); then
        remove_libvirt_chains
    fi
    for name in "${own_daemons[@]}"; do   # started above: stop them (by their pid files)
        [[ -s /run/$name.pid ]] && kill "$(cat "/run/$name.pid")"
    done
    rm -rf "$work"
    say "cleanup done (exit $rc)"
    exit "$rc"
}
trap cleanup EXIT
install -d -m 0755 "$work"

step=$SECONDS
vagrant box add --force --name "$BHA_BOX" "$box" >/dev/null
say "vagrant box add: $(elapsed "$step") s"

step=$SECONDS
say "vagrant up --no-parallel (dir1, dir2; provisioning: docs/production.md's steps)"
if ! vagrant up --no-parallel --provider=libvirt 2>&1 | sed -u 's/^/  | /'; then
    die "vagrant up (after $(elapsed "$step") s)"
fi
up_time=$(elapsed "$step")
say "vagrant up: $up_time s"

vagrant ssh-config >"$work/ssh_config"
on() { local node=$1; shift; ssh -F "$work/ssh_config" -o ConnectTimeout=30 "$node" "$@"; }
where() { on "$1" sudo crm_resource --locate --resource g_bacula 2>/dev/null | sed -n 's/.*running on: *//p'; }
fenced() { on "$1" sudo stonith_admin --history "$2" 2>/dev/null | grep -c successful || true; }

victim=$(where dir1)
case $victim in
    dir1) survivor=dir2 ;;
    dir2) survivor=dir1 ;;
    *) die "the group g_bacula runs nowhere: $(on dir1 sudo crm_mon -1r)" ;;
esac
on "$survivor" sudo crm_mon -1r | sed 's/^/  | /'
before=$(fenced "$survivor" "$victim")
crash=$SECONDS
if [[ ${BHA_CRASH:-power} == panic ]]; then
    # A kernel panic: the VM's watchdog resets it, and under emulation it can be back in the
    # cluster before the survivor has promoted DRBD (README.md, "the crash").
    say "crash of $victim (runs the Director): echo c > /proc/sysrq-trigger"
    timeout 15 ssh -F "$work/ssh_config" -o ConnectTimeout=10 "$victim" \
        'sudo sh -c "echo 1 >/proc/sys/kernel/sysrq; echo c >/proc/sysrq-trigger"' >/dev/null 2>&1 || true
else
    # A power cut, as the VM lab's crash: the node stays down, as a dead server would.
    say "crash of $victim (runs the Director): power cut (virsh destroy $BHA_DOMAIN_PREFIX$victim)"
    virsh destroy "$BHA_DOMAIN_PREFIX$victim" >/dev/null
fi

fence_time='' failover_time=''
while ((SECONDS - crash < 600)); do     # up to 10 minutes (each round also waits for ssh)
    if [[ -z $fence_time ]] && (($(fenced "$survivor" "$victim") > before)); then
        fence_time=$(elapsed "$crash")
        say "$victim fenced (sbd) after $fence_time s"
    fi
    if [[ -n $fence_time ]] && [[ $(where "$survivor") == "$survivor" ]] \
        && on "$survivor" 'echo version | sudo bconsole' 2>/dev/null | grep -q 'Version:'; then
        failover_time=$(elapsed "$crash")
        break
    fi
    sleep 5
done
on "$survivor" sudo crm_mon -1r | sed 's/^/  | /'
on "$survivor" sudo stonith_admin --history "$victim" | sed 's/^/  | /'
[[ -n $fence_time ]] || die "$victim was not fenced within 10 minutes"
[[ -n $failover_time ]] || die "the Director did not answer through the VIP on $survivor within 10 minutes (g_bacula: $(where "$survivor"))"
on "$survivor" 'echo version | sudo bconsole' | sed 's/^/  | /'
say "failover: $victim crashed, fenced after $fence_time s, Director on $survivor answering bconsole through the VIP ($BHA_SUBNET.100) after $failover_time s"
say "times: vagrant up $up_time s, fencing $fence_time s, failover $failover_time s, total $(elapsed "$started") s"

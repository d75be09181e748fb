# SPDX-License-Identifier: GPL-2.0-or-later
# bacula-ha: make install DESTDIR=... PREFIX=... OCF_ROOT=... for packagers;
# make deps / test / demo for a Debian 12 machine (as root).
PYTHON   ?= /usr/bin/python3
PREFIX   ?= /usr/local
OCF_ROOT ?= /usr/lib/ocf
DESTDIR  ?=
# WITH_LAB=1 also installs the lab cluster (a test rig); `make test` and `make demo` need it.
WITH_LAB ?=

DEB_PACKAGES = pacemaker corosync crmsh pcs resource-agents fence-agents postgresql \
	bacula-director bacula-director-pgsql bacula-console bacula-fd bacula-sd git \
	python3-click python3-psycopg libpq5 python3-lxml python3-pytest python3-pytest-timeout python3-hypothesis \
	libxml2-utils drbd-utils kmod iproute2 util-linux e2fsprogs procps psmisc openssh-client gnupg openssl \
	hyperfine shellcheck vagrant vagrant-libvirt dpkg-dev debhelper groff-base man-db \
	python3-pip python3-setuptools python3-wheel resource-agents-paf patroni etcd-server haproxy \
	qemu-system-x86 qemu-utils debootstrap

# `make vagrant-failover` only (not CI): libvirt for vagrant/ on this machine
VAGRANT_DEB_PACKAGES = vagrant vagrant-libvirt libvirt-daemon-system libvirt-clients dnsmasq-base rsync \
	qemu-system-x86 qemu-utils debootstrap

.PHONY: all deps install install-lab uninstall deb test test-quick test-vm vm-image demo demo-vm bench clean \
	vagrant-box vagrant-failover

all:
	@echo "targets: deps install uninstall deb test demo bench"

deps:
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEB_PACKAGES) \
	  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEB_PACKAGES); }

install:
	PYTHONPATH=lib $(PYTHON) -B -m bacula_ha.admin.install install --destdir "$(DESTDIR)" --prefix "$(PREFIX)" --ocf-root "$(OCF_ROOT)" $(if $(WITH_LAB),--with-lab)

install-lab:
	$(MAKE) install WITH_LAB=1

uninstall:
	PYTHONPATH=lib $(PYTHON) -B -m bacula_ha.admin.install uninstall --destdir "$(DESTDIR)" --prefix "$(PREFIX)" --ocf-root "$(OCF_ROOT)"

# Debian packages bacula-ha and bacula-ha-lab, built in a temporary copy of the tree.
DEB_OUT ?= dist
deb:
	sh .ci/build-deb "$(DEB_OUT)"

# The README's test command: everything with real daemons, the VM fault suite (marker vm, two
# QEMU VMs with real DRBD) included. Leave it out with: make test PYTEST_ARGS='-m "not vm"'
PYTEST_ARGS ?=
test: deps install-lab
	$(PYTHON) -m pytest -p no:cacheprovider $(PYTEST_ARGS) tests

# The VM lab's image (cached in /var/cache/bacula-ha-lab/vm; .ci/run builds it in the background
# while the other tests run; a VM lab that needs it meanwhile waits for that build).
vm-image:
	PYTHONPATH=lib $(PYTHON) -B -m bacula_ha.lab.vm.image

# Only the VM fault suite (two QEMU VMs, real DRBD; the image is cached in /var/cache/bacula-ha-lab/vm).
test-vm: deps
	$(PYTHON) -m pytest -p no:cacheprovider -m vm tests

# The VM demo: two QEMU VMs with real DRBD, crash of the Primary, failover, the node back.
demo-vm: deps install-lab
	$(PREFIX)/sbin/bacula-ha lab demo --machines vm

# The local Vagrant box of vagrant/ (libvirt, QEMU without KVM) from the VM lab's package tree,
# cached in /var/cache/bacula-ha-lab/vm (vagrant/README.md).
vagrant-box:
	PYTHONPATH=lib $(PYTHON) -m bacula_ha.lab.vm.box

# vagrant up of vagrant/ from that box (two VMs), a failover with fencing, vagrant destroy -f;
# about half an hour under software emulation, so not part of `make test` (vagrant/README.md).
# It takes the machine's VM lock itself (not inherited by the libvirt daemons it may start):
# do not run it under another flock of that file.
vagrant-failover:
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(VAGRANT_DEB_PACKAGES)
	flock --close /tmp/bacula-ha-vm.lock vagrant/failover-test.sh

demo: deps install-lab
	$(PREFIX)/sbin/bacula-ha lab demo

bench: deps install-lab
	$(PYTHON) bench/run

clean:
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

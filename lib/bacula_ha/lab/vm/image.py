# SPDX-License-Identifier: GPL-2.0-or-later
"""The VM lab's Debian 12 disk image, built offline from the Debian mirror and cached.

Why build it here: no Vagrant box or cloud image can be downloaded on the
machines this runs on, and packages cannot be installed inside the guests
(apt under software emulation takes many minutes).  So every package the
nodes need goes into the image at build time, at native speed:

1. base tree (cached by package list): `debootstrap --variant=minbase`, then
   `apt-get install` of the cluster packages in a chroot (no service starts,
   no dbconfig), services the cluster owns disabled, slow boot units masked,
   systemd-networkd with one static address per node (matched by MAC);
2. image (cached by base + the project's code): a copy of the tree plus our
   agents (`bacula_ha.install`) and the lab fence agent, `mkfs.ext4 -d` and
   `qemu-img convert` to qcow2; kernel and initrd copied next to it, since
   QEMU boots them directly (no boot loader).

Each VM runs on its own qcow2 overlay of the cached image, so the image is
never written to.  Everything lives under CACHE (never in the checkout).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional

from ..layout import LIBDIR
from ..sh import LabError, run

CACHE = Path("/var/cache/bacula-ha-lab/vm")
SUITE = "bookworm"
#: debootstrap's first stage: a bootable minimal system
BASE_PACKAGES = ("linux-image-amd64", "systemd", "systemd-sysv", "udev", "kmod", "iproute2", "procps",
                 "netbase", "openssh-server", "e2fsprogs", "ca-certificates")
#: installed with apt in the chroot (dependencies resolved by apt, recommends left out)
NODE_PACKAGES = ("pacemaker", "corosync", "crmsh", "resource-agents", "fence-agents", "drbd-utils",
                 "postgresql", "bacula-director", "bacula-director-pgsql", "bacula-console", "bacula-fd",
                 "bacula-sd", "python3", "python3-click", "python3-psycopg", "python3-lxml", "psmisc",
                 "iputils-ping", "less")
#: units the cluster starts (or nobody needs): never started by systemd in the guest
DISABLED_UNITS = ("postgresql.service", "bacula-director.service", "bacula-fd.service", "bacula-sd.service",
                  "corosync.service", "pacemaker.service", "drbd.service", "ssh.socket",
                  "apt-daily.timer", "apt-daily-upgrade.timer", "man-db.timer", "fstrim.timer",
                  "e2scrub_all.timer", "logrotate.timer")
#: slow under emulation and useless in a throwaway VM
MASKED_UNITS = ("e2scrub_reap.service", "systemd-networkd-wait-online.service",
                "systemd-timesyncd.service", "getty@tty1.service", "serial-getty@ttyS0.service",
                "systemd-journal-flush.service", "systemd-random-seed.service")
#: masked in the image stage (cheap to change: no package tree rebuild); each costs seconds
#: of emulated CPU at every boot and nothing in the lab needs it
BOOT_TRIMMED_UNITS = ("exim4.service", "exim4-base.timer", "logd.service", "dpkg-db-backup.timer",
                      "systemd-tmpfiles-clean.timer", "systemd-binfmt.service",
                      "proc-sys-fs-binfmt_misc.automount", "cron.service", "postfix.service",
                      "systemd-update-utmp-runlevel.service", "remote-fs.target",
                      "systemd-logind.service")
IMAGE_SIZE_MB = 3072
#: bump when the build steps change (part of the base tree's cache key)
RECIPE = "4"
#: bump when the image stage changes (part of the image's cache key)
IMAGE_RECIPE = "2"

#: the two NICs of a node: management (QEMU user networking, ssh and PDU) and the
#: cluster/replication link (corosync, DRBD, the VIP), matched by MAC in the image
MGMT_MAC = "52:54:00:98:00:{:02x}"
LINK_MAC = "52:54:00:99:00:{:02x}"


def mirror() -> str:
    """The Debian mirror apt on this machine is configured with (deb822 or one-line form)."""
    texts: List[str] = []
    for path in [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*")):
        try:
            texts.append(path.read_text())
        except OSError:
            continue
    for text in texts:
        for block in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", block, re.M)
            suites = re.search(r"^Suites:\s*(.*)$", block, re.M)
            if uris and suites and SUITE in suites.group(1).split() and "security" not in uris.group(1):
                return uris.group(1)
        for line in text.splitlines():
            words = [w for w in line.split() if not w.startswith("[")]   # drop "[signed-by=...]"
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE and "security" not in words[1]:
                return words[1]
    return "http://deb.debian.org/debian"


def digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def base_key() -> str:
    return digest([RECIPE.encode(), " ".join(BASE_PACKAGES).encode(), " ".join(NODE_PACKAGES).encode(),
                    " ".join(DISABLED_UNITS + MASKED_UNITS).encode()])


def image_key() -> str:
    """The bootable image: the package tree plus what the image stage writes (not our code:
    a changed checkout is pushed into the guests by `lab up`, see :func:`stage_agents`)."""
    return digest([base_key().encode(), IMAGE_RECIPE.encode(), POSTGRES_CONF.encode(),
                    " ".join(BOOT_TRIMMED_UNITS).encode(), json.dumps(NETWORK_UNITS).encode()])


def code_key() -> str:
    """Hash of what the image carries from this checkout: the library and the agents."""
    lib = Path(LIBDIR) / "bacula_ha"
    files = sorted(p for p in lib.rglob("*.py") if "__pycache__" not in p.parts)
    agents = Path(LIBDIR).parent / "agents"
    files += sorted(p for p in agents.glob("*") if p.is_file()) if agents.is_dir() else []
    return digest([str(p.relative_to(p.parents[1])).encode() + p.read_bytes() for p in files])


class Image:
    """A built image: the qcow2, its kernel and initrd, and the ssh key that opens its root account."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.qcow2 = directory / "disk.qcow2"
        self.kernel = directory / "vmlinuz"
        self.initrd = directory / "initrd.img"
        self.key = CACHE / "id_ed25519"

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.qcow2, self.kernel, self.initrd, self.dir / "done"))

    def agents_current(self) -> bool:
        """Do the agents installed in the image come from this checkout's code?"""
        try:
            return (self.dir / "code-key").read_text().strip() == code_key()
        except OSError:
            return False


def chroot_script(tree: Path, script: str, timeout: float, env: Optional[Dict[str, str]] = None) -> None:
    """Run a shell script chrooted in tree with /proc, /sys and /dev, all in a private mount
    namespace: nothing stays mounted when it ends, whatever happens.  env: extra variables
    (values the script reads rather than text pasted into it)."""
    outer = (f"set -e; mount -t proc proc {tree}/proc; mount -t sysfs sys {tree}/sys; "
             f"mount --rbind /dev {tree}/dev; cp /etc/resolv.conf {tree}/etc/resolv.conf; "
             f"exec chroot {tree} /bin/sh -ec \"$LAB_SCRIPT\"")
    full_env = dict(os.environ, **(env or {}), LAB_SCRIPT=script, DEBIAN_FRONTEND="noninteractive",
                    LC_ALL="C.UTF-8", PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    try:
        result = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-ec", outer],
                                capture_output=True, text=True, timeout=timeout, env=full_env)
    except subprocess.TimeoutExpired:
        raise LabError(f"image build: chroot step timed out after {timeout:g}s")
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-8:]
        raise LabError("image build: chroot step failed: " + " | ".join(tail))


NETWORK_UNITS = {
    # management NIC: QEMU's user network hands out 10.0.2.15 by DHCP
    "10-mgmt.network": "[Match]\nMACAddress={mgmt}\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\n",
    # cluster/replication link: static TEST-NET-2 address per node
    "20-link-node{n}.network": ("[Match]\nMACAddress={link}\n[Network]\nAddress=198.51.100.1{n}/24\n"
                                "LinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n"),
}


def _put(path: Path, text: str) -> None:
    """Replace a file of the image's tree (a new inode: the tree is a hard-linked copy of the
    cached package tree, which must not change)."""
    path.unlink(missing_ok=True)
    path.write_text(text)


def _configure_tree(tree: Path, nodes: int) -> None:
    """Files written straight into the tree (no chroot needed)."""
    etc = tree / "etc"
    netdir = etc / "systemd" / "network"
    netdir.mkdir(parents=True, exist_ok=True)
    for n in range(1, nodes + 1):
        _put(netdir / f"10-mgmt-node{n}.network", 
            NETWORK_UNITS["10-mgmt.network"].format(mgmt=MGMT_MAC.format(n)))
        _put(netdir / f"20-link-node{n}.network", 
            NETWORK_UNITS["20-link-node{n}.network"].format(link=LINK_MAC.format(n), n=n))
    hosts = "127.0.0.1 localhost\n" + "".join(f"198.51.100.1{n} node{n}\n" for n in range(1, nodes + 1))
    _put(etc / "hosts", hosts)
    _put(etc / "hostname", "node\n")
    _put(etc / "fstab", "# root is mounted rw by the kernel (root=/dev/vda rw)\n")
    (etc / "modules-load.d").mkdir(exist_ok=True)
    _put(etc / "modules-load.d" / "drbd.conf", "drbd\n")
    sshd = etc / "ssh" / "sshd_config.d"
    sshd.mkdir(parents=True, exist_ok=True)
    # no PAM: every login would otherwise start a logind session and root's systemd --user
    # instance, seconds of emulated CPU per ssh command
    _put(sshd / "bacula-ha-lab.conf", "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                                             "UseDNS no\nUsePAM no\n")
    journald = etc / "systemd" / "journald.conf.d"
    journald.mkdir(parents=True, exist_ok=True)
    _put(journald / "lab.conf", "[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n")


def _ensure_key() -> Path:
    key = CACHE / "id_ed25519"
    if not key.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bacula-ha-lab", "-f", str(key)])
    return key


def build_base(say: Callable[[str], None], nodes: int = 2) -> Path:
    """The package tree (debootstrap + apt in a chroot), cached by its package list."""
    tree = CACHE / f"base-{base_key()}"
    if (tree / ".done").exists():
        return tree
    for old in CACHE.glob("base-*"):
        shutil.rmtree(old, ignore_errors=True)
    tmp = CACHE / f"base-{base_key()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    src = mirror()
    started = time.monotonic()
    say(f"image: debootstrap {SUITE} from {src} (real packages, a few minutes)")
    run(["debootstrap", "--variant=minbase", "--include=" + ",".join(BASE_PACKAGES), SUITE, str(tmp), src],
        timeout=1800)
    (tmp / "etc/apt/sources.list").write_text(f"deb {src} {SUITE} main\n")
    policy = tmp / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")   # no service starts inside the chroot
    policy.chmod(0o755)
    say(f"image: apt-get install {' '.join(NODE_PACKAGES)} (in the chroot)")
    pkgs = " ".join(NODE_PACKAGES)
    chroot_script(tmp, f"""
echo 'bacula-director-pgsql bacula-director-pgsql/dbconfig-install boolean false' | debconf-set-selections
echo 'bacula-director-pgsql bacula-director-pgsql/dbconfig-upgrade boolean false' | debconf-set-selections
apt-get -q update
apt-get -q -y --no-install-recommends -o Dpkg::Options::=--force-confold install {pkgs}
apt-get clean
rm -rf /var/lib/apt/lists/*
systemctl disable {' '.join(DISABLED_UNITS)} || true
systemctl mask {' '.join(MASKED_UNITS)}
systemctl enable systemd-networkd ssh.service
pg_dropcluster 15 main || true
""", timeout=2400)
    policy.unlink()
    (tmp / ".done").write_text(f"{time.monotonic() - started:.0f}\n")
    tmp.rename(tree)
    say(f"image: package tree ready in {time.monotonic() - started:.0f} s")
    return tree


POSTGRES_CONF = """
# bacula-ha VM lab: the catalog's data directory lives on DRBD (/dev/drbd0 on /srv/bacula)
data_directory = '/srv/bacula/postgresql/15/main'
listen_addresses = 'localhost'
unix_socket_directories = '/var/run/postgresql'
hba_file = '/etc/postgresql/15/main/pg_hba.conf'
shared_buffers = 32MB
max_connections = 40
"""


#: the VM lab's fence_bhlab executable (see stage_agents)
FENCE_FRONT = r"""#!/bin/sh
# @NAME@ for the bacula-ha VM lab (generated): meta-data from a file, the rest in Python
meta=/usr/share/bacula-ha-lab/@NAME@.xml
agent='import sys; sys.path.insert(0, "/usr/lib/ocf/lib/bacula"); from bacula_ha.lab.fence import main; sys.exit(main())'
if [ $# -eq 0 ]; then
    input=$(cat)
    case "$input" in *action=metadata*|*option=metadata*) exec cat "$meta";; esac
    printf '%s\n' "$input" | /usr/bin/python3 -S -c "$agent"
    exit $?
fi
case " $* " in *" -o metadata "*|*" --action=metadata "*) exec cat "$meta";; esac
exec /usr/bin/python3 -S -c "$agent" "$@"
"""


def stage_agents(root: Path) -> None:
    """Our agents and library (`make install WITH_LAB=1` layout) and the lab fence agent under root."""
    from ...admin.install import install
    from ..fence import write_executable
    install(destdir=str(root), ocf_root="/usr/lib/ocf", prefix="/usr/local", with_lab=True)
    sbin = root / "usr/sbin"
    sbin.mkdir(parents=True, exist_ok=True)
    from ..fence import METADATA, NAME
    # A shell front: pacemaker-fenced gives a fence agent's meta-data call 5 s, and Python does
    # not start that fast on an emulated CPU of a busy host; every other action runs the Python
    # agent that the namespace lab uses.
    share = root / "usr/share/bacula-ha-lab"
    share.mkdir(parents=True, exist_ok=True)
    (share / f"{NAME}.xml").write_text(METADATA)
    front = sbin / NAME
    front.write_text(FENCE_FRONT.replace("@NAME@", NAME))
    front.chmod(0o755)


def build(say: Callable[[str], None] = print) -> Image:
    """The bootable image for this checkout, built or taken from the cache.  One builder at a
    time (CI builds it in the background while other tests run; a lab that wants it meanwhile
    waits here and then takes it from the cache)."""
    import fcntl
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".build.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("image: another process is building it; waiting for that build")
            fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(say)


def _build(say: Callable[[str], None]) -> Image:
    image = Image(CACHE / f"image-{image_key()}")
    if image.complete():
        say(f"image: cached {image.qcow2}")
        return image
    key = _ensure_key()
    base = build_base(say)
    started = time.monotonic()
    work = CACHE / (image.dir.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tree = work / "root"
    # a hard-linked copy: the few files changed below are replaced, never written in place
    run(["cp", "-al", str(base), str(tree)], timeout=300)
    (tree / ".done").unlink()
    for path in (tree / "usr/lib/ocf/lib/bacula", tree / "usr/lib/ocf/resource.d/bacula"):
        shutil.rmtree(path, ignore_errors=True)
    stage_agents(tree)
    _configure_tree(tree, 2)
    (work / "code-key").write_text(code_key() + "\n")
    ssh_dir = tree / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    auth = ssh_dir / "authorized_keys"
    auth.unlink(missing_ok=True)
    auth.write_text(Path(str(key) + ".pub").read_text())
    auth.chmod(0o600)
    trim_boot(tree)
    pgconf_dir = tree / "etc/postgresql/15/main"
    pgconf_dir.mkdir(parents=True, exist_ok=True)
    for name in ("postgresql.conf", "pg_hba.conf"):
        (pgconf_dir / name).unlink(missing_ok=True)
    (pgconf_dir / "postgresql.conf").write_text(POSTGRES_CONF)
    (pgconf_dir / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    run(["chown", "-R", "--reference", str(tree / "var/lib/postgresql"), str(pgconf_dir)])
    version = copy_kernel(tree, work, "image build")
    tree_to_qcow2(tree, work / "disk.qcow2", "bhlab-root")
    shutil.rmtree(tree)
    (work / "kernel-version").write_text(version + "\n")
    (work / "done").write_text(f"{time.monotonic() - started:.1f}\n")
    publish(work, image.dir, "image-")
    say(f"image: {image.qcow2} built in {time.monotonic() - started:.1f} s (kernel {version})")
    return image


def trim_boot(tree: Path) -> None:
    """Mask BOOT_TRIMMED_UNITS in the tree (what `systemctl mask` does): every boot skips them."""
    units = tree / "etc/systemd/system"
    for unit in BOOT_TRIMMED_UNITS:
        link = units / unit
        if not link.exists() and not link.is_symlink():
            link.symlink_to("/dev/null")


def copy_kernel(tree: Path, target: Path, what: str) -> str:
    """The tree's newest kernel and its initrd copied to target/vmlinuz and target/initrd.img
    (QEMU boots them directly); the kernel version."""
    boot = sorted((tree / "boot").glob("vmlinuz-*"))
    if not boot:
        raise LabError(f"{what}: no kernel in the tree")
    version = boot[-1].name[len("vmlinuz-"):]
    shutil.copyfile(boot[-1], target / "vmlinuz")
    shutil.copyfile(tree / "boot" / f"initrd.img-{version}", target / "initrd.img")
    return version


def tree_to_qcow2(tree: Path, qcow2: Path, label: str, compress: bool = False,
                  convert_timeout: float = 600) -> None:
    """An ext4 file system of IMAGE_SIZE_MB holding the tree (`mkfs.ext4 -d`), as qcow2."""
    raw = qcow2.with_suffix(".raw")
    run(["truncate", "-s", f"{IMAGE_SIZE_MB}M", str(raw)])
    run(["mkfs.ext4", "-q", "-F", "-L", label, "-d", str(tree), str(raw)], timeout=600)
    run(["qemu-img", "convert"] + (["-c"] if compress else []) + ["-O", "qcow2", str(raw), str(qcow2)],
        timeout=convert_timeout)
    raw.unlink()


def publish(work: Path, final: Path, prefix: str) -> None:
    """Put a finished build in place: older cache entries named prefix* (not builds in progress,
    *.tmp) go, then work becomes final."""
    for old in CACHE.glob(prefix + "*"):
        if old != final and not old.name.endswith(".tmp"):
            shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)


def main() -> int:
    build(lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

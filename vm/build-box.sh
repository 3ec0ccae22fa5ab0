#!/bin/sh
# Builds a Debian 12 box for vagrant-libvirt from Debian's packages alone: debootstrap into an
# ext4 on a raw disk with an MBR and extlinux, the vagrant user with Vagrant's well-known
# insecure key, and what sandbox needs already installed, so that provisioning a VM (which may
# run under software emulation) installs nothing. Run as root:
#
#   sh vm/build-box.sh sandbox-debian12.box
#   vagrant box add --name sandbox/debian12 sandbox-debian12.box
#   SANDBOX_VM_BOX=sandbox/debian12 vagrant up --provider=libvirt
#
# Environment: SANDBOX_BOX_MIRROR (default http://deb.debian.org/debian), SANDBOX_BOX_DISK_GB
# (default 20; the disk grows as it is written), SANDBOX_BOX_CAS (a directory of extra CA
# certificates the box trusts, default /usr/local/share/ca-certificates: a network that
# inspects TLS needs its CA in the VM too; empty for none), SANDBOX_BOX_KEY (the public key
# the vagrant user accepts, default Vagrant's insecure key).
set -eu

say() { echo "build-box: $*"; }
die() { echo "build-box: $*" >&2; exit 1; }

[ $# = 1 ] || die "usage: build-box.sh OUTPUT.box"
out=$1
[ "$(id -u)" = 0 ] || die "run as root (it makes and mounts a disk image)"
case $(uname -m) in x86_64) ;; *) die "builds amd64 boxes only, on x86_64 (this is $(uname -m))" ;; esac
for tool in debootstrap sfdisk losetup mkfs.ext4 blkid extlinux qemu-img tar chroot; do
    command -v "$tool" >/dev/null 2>&1 || die "needs $tool (apt-get install debootstrap fdisk mount e2fsprogs extlinux qemu-utils)"
done
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$mbr" ] || die "needs $mbr (apt-get install syslinux-common)"
mirror=${SANDBOX_BOX_MIRROR:-http://deb.debian.org/debian}
disk_gb=${SANDBOX_BOX_DISK_GB:-20}
case $disk_gb in ''|*[!0-9]*) die "SANDBOX_BOX_DISK_GB must be a number of GiB, not '$disk_gb'" ;; esac
cas=${SANDBOX_BOX_CAS-/usr/local/share/ca-certificates}
key=${SANDBOX_BOX_KEY:-}
if [ -z "$key" ]; then
    for k in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub; do
        [ -f "$k" ] && key=$k
    done
fi
[ -n "$key" ] && [ -f "$key" ] || die "no public key for the vagrant user: install vagrant, or set SANDBOX_BOX_KEY"
[ -d "$(dirname "$out")" ] || die "no directory '$(dirname "$out")' for the box"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

work=$(mktemp -d "${TMPDIR:-/var/tmp}/sandbox-box.XXXXXX")
root=$work/root
loop=""
cleanup() {
    for m in dev/pts dev sys proc; do
        mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
    done
    mountpoint -q "$root" 2>/dev/null && umount "$root"
    [ -z "$loop" ] || losetup -d "$loop" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. A sparse raw disk: one bootable partition from 1 MiB. Without udev, a loop device gets no
# partition devices, so the partition is attached by its offset.
say "making a ${disk_gb} GiB disk"
truncate -s "${disk_gb}G" "$work/disk.raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$work/disk.raw"
loop=$(losetup --find --show --offset $((2048 * 512)) "$work/disk.raw")
# extlinux reads ext4 without the 64bit feature; a disk this size does not need it.
mkfs.ext4 -q -L root -O ^64bit "$loop"
uuid=$(blkid -s UUID -o value "$loop")
mkdir -p "$root"
mount "$loop" "$root"

# 2. Debian 12 with a kernel, systemd, sshd, sudo and rsync for Vagrant, and sandbox's tools.
packages=linux-image-amd64,initramfs-tools,systemd-sysv,systemd-resolved,udev,dbus,kmod,openssh-server,sudo
packages=$packages,rsync,ca-certificates,iproute2,less,git,make,gcc,libc6-dev,openjdk-17-jdk-headless,maven
packages=$packages,passt,slirp4netns,btrfs-progs,uidmap,procps,util-linux
say "debootstrap bookworm from $mirror (a few minutes)"
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
}

# 3. The system: root by UUID, DHCP on any wired interface, its own machine id at first boot.
say "configuring"
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" > "$root/etc/fstab"
echo sandbox-box > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tsandbox-box\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://security.debian.org/debian-security bookworm-security main
EOF
cat > "$root/etc/systemd/network/50-wired.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=yes
EOF
ln -sf /run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# Host keys are made at first boot, so that no two VMs share them: ed25519 and ecdsa only,
# since an RSA key takes most of a minute under software emulation.
rm -f "$root"/etc/ssh/ssh_host_*
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\nUseDNS no\n' \
    > "$root/etc/ssh/sshd_config.d/sandbox-box.conf"
cat > "$root/etc/systemd/system/ssh-host-keys.service" <<'EOF'
[Unit]
Description=Make the SSH host keys this machine lacks
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'for t in ed25519 ecdsa; do [ -f /etc/ssh/ssh_host_$${t}_key ] || ssh-keygen -q -t $$t -N "" -f /etc/ssh/ssh_host_$${t}_key; done'

[Install]
WantedBy=ssh.service
EOF

# The vagrant user: Vagrant's key, and sudo without a password.
chroot "$root" useradd --create-home --shell /bin/bash vagrant
install -d -m 0700 "$root/home/vagrant/.ssh"
install -m 0600 "$key" "$root/home/vagrant/.ssh/authorized_keys"
chown -R "$(chroot "$root" id -u vagrant):$(chroot "$root" id -g vagrant)" "$root/home/vagrant/.ssh"
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > "$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"

mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
chroot "$root" systemctl enable -q systemd-networkd systemd-resolved ssh-host-keys.service
if [ -n "$cas" ] && [ -d "$cas" ] && [ -n "$(ls -A "$cas")" ]; then
    say "trusting the CA certificates in $cas"
    cp -r "$cas/." "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates > /dev/null 2>&1 || die "update-ca-certificates failed in the box"
fi
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/tmp/*
for m in dev sys proc; do umount -l "$root/$m"; done

# 4. The bootloader: extlinux in the partition's boot sector, syslinux's MBR in front of it.
mkdir -p "$root/boot/extlinux"
cat > "$root/boot/extlinux/extlinux.conf" <<EOF
DEFAULT debian
TIMEOUT 1
LABEL debian
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND root=UUID=$uuid ro console=tty0 console=ttyS0,115200 net.ifnames=0
EOF
extlinux --install "$root/boot/extlinux" > /dev/null 2>&1 || die "extlinux could not install to the disk"
dd if="$mbr" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
fstrim "$root" 2>/dev/null || true
umount "$root"
losetup -d "$loop"
loop=""

# 5. The box: a qcow2 image and vagrant-libvirt's metadata, in a tar.
say "packaging $out"
qemu-img convert -O qcow2 "$work/disk.raw" "$work/box.img"
rm -f "$work/disk.raw"
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %s}\n' "$disk_gb" > "$work/metadata.json"
tar -cf "$out" -C "$work" metadata.json box.img
say "done: $out ($(du -h "$out" | cut -f1))"

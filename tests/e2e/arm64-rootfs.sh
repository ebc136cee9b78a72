#!/bin/bash
# Build (once) and cache what tests/e2e/arm64.sh boots in qemu-system-aarch64:
# Debian bookworm's arm64 kernel and a Debian bookworm arm64 root filesystem
# with systemd, packed as an initramfs (the whole system runs from RAM: every
# virtio driver of Debian's arm64 kernel is a module, so a disk root would need
# an initramfs anyway).
#
# Usage: tests/e2e/arm64-rootfs.sh          # prints "KERNEL INITRD"
#        TTN_E2E_REBUILD=1 tests/e2e/arm64-rootfs.sh
#
# How: debootstrap --foreign unpacks the arm64 packages on the host; their
# maintainer scripts are arm64 code, and qemu-user (7.2, and 10.0 from
# bookworm-backports) hangs at the first thread spawn on the kernels of these
# CI machines, so the second stage runs inside qemu-system-aarch64 (TCG, a
# full arm64 machine; about 10 minutes on 2 cores) and writes the finished tree
# as a tar stream onto a scratch virtio disk. Cached in
# ${TTN_E2E_CACHE:-/var/cache/ttn-exporter-e2e} (arm64-*), about 60 MB.
# The Debian mirror is read from the host's apt configuration.
# Needs root, debootstrap, qemu-system-arm, cpio, zstd, and the arm64 dpkg
# architecture for the kernel download (added here when missing).
set -euo pipefail

CACHE=${TTN_E2E_CACHE:-/var/cache/ttn-exporter-e2e}
SUITE=bookworm
KERNEL="$CACHE/arm64-vmlinuz"
INITRD="$CACHE/arm64-rootfs-$SUITE.cpio.zst"
PACKAGES=systemd,systemd-sysv,udev,dbus,curl,ca-certificates,kmod
# Bump when the package list or the preparation below changes.
RECIPE="v2 minbase $PACKAGES +hosts +networkd-static +virtio-modules"

log() { printf 'arm64-rootfs: %s\n' "$*" >&2; }

if [[ -z ${TTN_E2E_REBUILD:-} && -s $INITRD && -s $KERNEL && -s $INITRD.recipe ]] &&
	[[ "$(cat "$INITRD.recipe")" == "$RECIPE" ]]; then
	echo "$KERNEL $INITRD"
	exit 0
fi

[[ $(id -u) == 0 ]] || { log "must run as root (debootstrap)"; exit 1; }
for t in debootstrap qemu-system-aarch64 cpio zstd tar dpkg-deb apt-get; do
	command -v "$t" >/dev/null ||
		{ log "missing tool: $t (apt-get install debootstrap qemu-system-arm cpio zstd)"; exit 1; }
done

# The host's configured Debian mirror (same rule as tests/e2e/rootfs.sh).
host_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -e $f ]] || continue
		awk '
			/^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri=""; ok=0; next }
			/^URIs:/   { uri=$2 }
			/^Suites:/ { for (i=2;i<=NF;i++) if ($i !~ /-security$/) ok=1 }
			END { if (uri != "" && ok) print uri }
		' "$f" | head -n1
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -e $f ]] || continue
		awk '$1=="deb" && $0 !~ /security/ {
			for (i=2;i<=NF;i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit } }' "$f"
	done
}
MIRROR=${TTN_E2E_MIRROR:-$(host_mirror | head -n1)}
[[ -n $MIRROR ]] || { log "could not find a Debian mirror in /etc/apt/sources.list*"; exit 1; }

mkdir -p "$CACHE"
[[ -e $CACHE/CACHEDIR.TAG ]] || printf 'Signature: 8a477f597d28d172789f06886806bc55\n# ttn-exporter e2e root filesystem cache\n' > "$CACHE/CACHEDIR.TAG"
WORK=$(mktemp -d "$CACHE/arm64-build.XXXXXX")
cleanup() { rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT
ROOT="$WORK/root"

# ---- kernel: Debian's current arm64 kernel package, downloaded, not installed
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	log "adding the arm64 dpkg architecture (for apt-get download of the arm64 kernel)"
	dpkg --add-architecture arm64
	apt-get update -qq
fi
kpkg=$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[[ -n $kpkg ]] || { apt-get update -qq; kpkg=$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'); }
[[ -n $kpkg ]] || { log "apt knows no linux-image-arm64:arm64"; exit 1; }
log "downloading $kpkg"
mkdir -p "$WORK/k"
chmod 0777 "$WORK"   # apt-get download drops privileges to _apt
(cd "$WORK" && apt-get download -q "$kpkg" >/dev/null 2>&1) || { log "apt-get download $kpkg failed"; exit 1; }
dpkg-deb -x "$WORK"/linux-image-*.deb "$WORK/k"
kver=$(basename "$(ls -d "$WORK"/k/lib/modules/*)")

# ---- first stage on the host
log "debootstrap --foreign --arch arm64 $SUITE from $MIRROR"
debootstrap --foreign --arch=arm64 --variant=minbase --include="$PACKAGES" \
	"$SUITE" "$ROOT" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 || {
	tail -n 30 "$WORK/debootstrap.log" >&2; log "debootstrap failed"; exit 1; }

# The virtio drivers (block, network, entropy) for the guest; depmod runs in
# the guest once kmod is configured.
for m in drivers/virtio/virtio_mmio.ko drivers/block/virtio_blk.ko drivers/net/virtio_net.ko \
	drivers/net/net_failover.ko net/core/failover.ko drivers/char/hw_random/virtio-rng.ko; do
	install -D -m 0644 "$WORK/k/lib/modules/$kver/kernel/$m" "$ROOT/lib/modules/$kver/kernel/$m"
done
cp "$WORK/k/lib/modules/$kver"/modules.{builtin,builtin.modinfo,order} "$ROOT/lib/modules/$kver/" 2>/dev/null || true

# The guest's first init: finish debootstrap, then write / as tar onto /dev/vda.
cat > "$ROOT/stage2" <<EOF_STAGE2
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "stage2: debootstrap --second-stage (arm64 code: \$(uname -m))"
if /debootstrap/debootstrap --second-stage; then
	depmod $kver
	insmod /lib/modules/$kver/kernel/drivers/virtio/virtio_mmio.ko
	insmod /lib/modules/$kver/kernel/drivers/block/virtio_blk.ko
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 1; done
	rm -f /stage2
	tar --numeric-owner --one-file-system -C / -cf /dev/vda . && sync && echo "stage2: done"
else
	echo "stage2: debootstrap --second-stage failed"
	tail -n 40 /debootstrap/debootstrap.log
fi
echo o > /proc/sysrq-trigger
EOF_STAGE2
chmod 0755 "$ROOT/stage2"

log "packing the first-stage tree as an initramfs"
(cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet) | zstd -q -T0 -3 -o "$WORK/stage1.cpio.zst"
rm -rf --one-file-system "$ROOT"
truncate -s 2G "$WORK/out.tar"

log "second stage in qemu-system-aarch64 (TCG; about 10 minutes, log: $WORK/stage2.log)"
timeout 3600 qemu-system-aarch64 -M virt -cpu max -smp 2 -m 2048 -nographic -no-reboot -nic none \
	-kernel "$WORK/k/boot/vmlinuz-$kver" -initrd "$WORK/stage1.cpio.zst" \
	-append "console=ttyAMA0 rdinit=/stage2 panic=-1 loglevel=4" \
	-drive file="$WORK/out.tar",format=raw,if=none,id=out -device virtio-blk-device,drive=out \
	< /dev/null > "$WORK/stage2.log" 2>&1 || true
grep -q 'stage2: done' "$WORK/stage2.log" || {
	tail -n 60 "$WORK/stage2.log" | tr -d '\r' >&2; log "the second stage did not finish"; exit 1; }

mkdir "$ROOT"
tar --numeric-owner -C "$ROOT" -xf "$WORK/out.tar"
rm -f "$WORK/out.tar"

# Same preparation as tests/e2e/rootfs.sh, plus a static network on qemu's
# user-mode network (the host is 10.0.2.2 there).
: > "$ROOT/etc/machine-id"
cat > "$ROOT/etc/hosts" <<'EOF_HOSTS'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF_HOSTS
echo ttn-arm64 > "$ROOT/etc/hostname"
cat > "$ROOT/etc/systemd/network/80-qemu.network" <<'EOF_NET'
[Match]
Type=ether

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
DNS=10.0.2.3
EOF_NET
mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sf /lib/systemd/system/systemd-networkd.service "$ROOT/etc/systemd/system/multi-user.target.wants/"
rm -f "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/cache/apt/*.bin
rm -rf "$ROOT"/var/lib/apt/lists/*_Packages "$ROOT"/var/log/*.log "$ROOT/debootstrap"
echo 'Acquire::Languages "none";' > "$ROOT/etc/apt/apt.conf.d/99e2e"

log "packing $INITRD"
(cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet) | zstd -q -T0 -6 -o "$WORK/rootfs.cpio.zst"
cp "$WORK/k/boot/vmlinuz-$kver" "$WORK/vmlinuz"
mv -f "$WORK/vmlinuz" "$KERNEL"
mv -f "$WORK/rootfs.cpio.zst" "$INITRD"
echo "$RECIPE" > "$INITRD.recipe"
log "done (kernel $kver, $(du -h "$INITRD" | cut -f1))"
echo "$KERNEL $INITRD"

#!/bin/bash
# Build (once) and cache a minimal Debian root filesystem with systemd, used by
# tests/e2e/run.sh to boot a real systemd in a systemd-nspawn container. The
# release is TTN_E2E_SUITE: bookworm (default, systemd 252) or trixie (systemd
# 257); bookworm's debootstrap and debian-archive-keyring verify trixie too.
#
# Usage: tests/e2e/rootfs.sh            # prints the path of the cached tarball
#        tests/e2e/rootfs.sh --tree     # also keeps it unpacked; prints that directory
#        TTN_E2E_REBUILD=1 tests/e2e/rootfs.sh   # force a rebuild
#
# The tarball lives outside git, in ${TTN_E2E_CACHE:-/var/cache/ttn-exporter-e2e}.
# The unpacked tree (--tree) is what run.sh boots, always with
# systemd-nspawn --volatile=overlay so that it is never written to; unpacking
# takes seconds on slow disks, so it is kept next to the tarball.
# The Debian mirror is read from the host's apt configuration, never hard-coded.
# Needs root, debootstrap and zstd.
set -euo pipefail

CACHE=${TTN_E2E_CACHE:-/var/cache/ttn-exporter-e2e}
SUITE=${TTN_E2E_SUITE:-bookworm}
TARBALL="$CACHE/rootfs-$SUITE.tar.zst"
# Bump when the package list or the preparation below changes.
RECIPE="v2 minbase systemd,systemd-sysv,dbus,curl,ca-certificates +hosts"

TREE="$CACHE/root-$SUITE"
WANT_TREE=
[[ ${1:-} == --tree ]] && WANT_TREE=1

log() { printf 'rootfs: %s\n' "$*" >&2; }

# Unpack the tarball into $TREE unless it already holds this very tarball.
tree() {
	local stamp
	stamp="$RECIPE $(stat -c '%s %Y' "$TARBALL")"
	if [[ -d $TREE && -f $TREE.stamp && "$(cat "$TREE.stamp")" == "$stamp" ]]; then
		echo "$TREE"
		return 0
	fi
	log "unpacking $TARBALL into $TREE"
	local tmp
	tmp=$(mktemp -d "$CACHE/tree.XXXXXX")
	zstd -dc "$TARBALL" | tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$tmp" -xf - ||
		{ rm -rf --one-file-system "$tmp"; log "unpacking failed"; return 1; }
	chmod 0755 "$tmp"
	rm -f "$TREE.stamp"
	rm -rf --one-file-system "$TREE"
	mv "$tmp" "$TREE"
	echo "$stamp" > "$TREE.stamp"
	echo "$TREE"
}

if [[ -z ${TTN_E2E_REBUILD:-} && -s $TARBALL && -s $TARBALL.recipe ]] &&
   [[ "$(cat "$TARBALL.recipe")" == "$RECIPE" ]]; then
	if [[ -n $WANT_TREE ]]; then tree; else echo "$TARBALL"; fi
	exit
fi

[[ $(id -u) == 0 ]] || { log "must run as root (debootstrap)"; exit 1; }
for t in debootstrap zstd tar; do
	command -v "$t" >/dev/null || { log "missing tool: $t (apt-get install debootstrap zstd)"; exit 1; }
done

# The host's configured Debian mirror: deb822 sources first, then one-line format.
host_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -e $f ]] || continue
		# first stanza whose Suites mention a plain release (not -security)
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

WORK=$(mktemp -d "$CACHE/build.XXXXXX")
cleanup() { rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT
ROOT="$WORK/root"

log "debootstrap $SUITE from $MIRROR (about a minute)"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,ca-certificates \
	"$SUITE" "$ROOT" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 || {
	tail -n 30 "$WORK/debootstrap.log" >&2; log "debootstrap failed"; exit 1; }

# Fresh machine id on every boot; keep the image small.
: > "$ROOT/etc/machine-id"
# debootstrap writes no /etc/hosts (the Debian installer does): without it
# "localhost" does not resolve. Same content as a fresh Debian install.
cat > "$ROOT/etc/hosts" <<'EOF_HOSTS'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF_HOSTS
rm -f "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/cache/apt/*.bin
rm -rf "$ROOT"/var/lib/apt/lists/*_Packages "$ROOT"/var/log/*.log
# apt inside the container only ever installs local .deb files whose
# dependencies are already present; no network index needed.
echo 'Acquire::Languages "none";' > "$ROOT/etc/apt/apt.conf.d/99e2e"

log "packing $TARBALL"
tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$ROOT" -cf - . |
	zstd -q -T0 -3 -o "$WORK/rootfs.tar.zst"
mv -f "$WORK/rootfs.tar.zst" "$TARBALL"
echo "$RECIPE" > "$TARBALL.recipe"
log "done ($(du -h "$TARBALL" | cut -f1))"
if [[ -n $WANT_TREE ]]; then tree; else echo "$TARBALL"; fi

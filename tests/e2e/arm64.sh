#!/bin/bash
# Run the arm64 package on an emulated arm64 machine (issue 22):
#
#   FAKE_TTS_BIN=/path/to/fake-tts tests/e2e/arm64.sh ttn-exporter_X_arm64.deb
#
# Boots Debian bookworm's arm64 kernel in qemu-system-aarch64 (TCG: every
# instruction of the guest, the exporter included, is arm64 code translated by
# qemu; there is no binfmt or user-mode emulation in the guest) with systemd as
# PID 1 on the root filesystem of tests/e2e/arm64-rootfs.sh. qemu-user is not
# used: it hangs at the first thread spawn on the kernels of these machines.
# The fake TTS runs on the host's 127.0.0.1; the guest reaches it as 10.0.2.2
# through qemu's user-mode network. In the guest (tests/e2e/arm64-guest.sh):
#   apt install ./the.deb; key and env file -> the fake; ttn-exporter check;
#   the first scrape of :9715/metrics starts ttn.service through ttn.socket;
#   systemctl stop ttn.service ttn.socket.
# The guest writes what it saw as a tar onto a scratch disk and powers off;
# this script then checks it on the host: arm64 kernel and dpkg, ELF machine
# of the installed binary, install, check, the scraped values against the
# fake's, `promtool check metrics` on the scraped text, a clean stop.
# About 1 minute on 2 cores (52-75 s measured on a loaded machine) once the
# root filesystem is cached (its first build: 15 minutes measured on a
# loaded machine).
#
# Environment:
#   FAKE_TTS_BIN        the fake-tts binary (host architecture); required
#   TTN_E2E_CACHE       cache of the kernel and root filesystem
#   TTN_E2E_GATEWAYS    number of fake gateways (default 6)
#   TTN_E2E_KEEP=1      keep the work directory (console log, results)
#   TTN_ARM64_TIMEOUT   seconds the guest may take (default 900)
# Needs root (for the first root filesystem build), qemu-system-arm, cpio,
# zstd, promtool (prometheus).
set -uo pipefail

HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
GATEWAYS=${TTN_E2E_GATEWAYS:-6}
LIMIT=${TTN_ARM64_TIMEOUT:-900}
T_START=$SECONDS

say()  { printf '%s\n' "$*"; }
step() { printf '\n==> step %s [%ss]\n' "$*" $((SECONDS - T_START)); }
ok()   { printf '    ok: %s\n' "$*"; }
info() { printf '    .. %s\n' "$*"; }
fail() {
	printf '    FAIL: %s\n' "$*" >&2
	if [[ -f $WORK/console.log ]]; then
		say "---- guest console (last 40 lines)" >&2
		tail -n 40 "$WORK/console.log" | tr -d '\r' | sed 's/^/    /' >&2
	fi
	[[ -f $WORK/out/journal.txt ]] && { say "---- journalctl -u ttn.service -u ttn.socket" >&2; tail -n 30 "$WORK/out/journal.txt" | sed 's/^/    /' >&2; }
	exit 1
}

[[ $# == 1 ]] || { say "usage: FAKE_TTS_BIN=path $0 ttn-exporter_X_arm64.deb" >&2; exit 2; }
DEB=$(readlink -f "$1")
[[ -f $DEB ]] || { say "no such .deb: $1" >&2; exit 2; }
[[ -n ${FAKE_TTS_BIN:-} && -x ${FAKE_TTS_BIN:-} ]] ||
	{ say "FAKE_TTS_BIN must name the fake-tts binary (cargo build -p fake-tts)" >&2; exit 2; }
for t in qemu-system-aarch64 cpio zstd tar promtool curl dpkg-deb timeout od; do
	command -v $t >/dev/null || { say "missing tool: $t (apt-get install qemu-system-arm cpio zstd prometheus curl)" >&2; exit 2; }
done

WORK=$(mktemp -d /var/tmp/ttn-arm64.XXXXXX)
QEMU_PID='' FAKE_PID=''
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [[ -n $QEMU_PID ]] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill "$QEMU_PID" 2>/dev/null; wait "$QEMU_PID" 2>/dev/null
	fi
	if [[ -n $FAKE_PID ]]; then kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; fi
	if [[ -n ${TTN_E2E_KEEP:-} || $rc != 0 ]]; then
		say "logs kept in $WORK" >&2
	else
		rm -rf --one-file-system "$WORK"
	fi
	if [[ $rc == 0 ]]; then
		say ""; say "arm64 e2e: all steps passed in $((SECONDS - T_START)) s"
	else
		say "arm64 e2e: FAILED (exit $rc) after $((SECONDS - T_START)) s" >&2
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# value of the first series NAME whose labels contain every given substring
mval() {
	local file=$1 name=$2; shift 2
	awk -v n="$name" -v subs="$*" '
		BEGIN { k = split(subs, want, " ") }
		/^#/ { next }
		{
			series = substr($0, 1, length($0) - length($NF) - 1)
			if (series != n && index(series, n "{") != 1) next
			for (i = 1; i <= k; i++) if (index(series, want[i]) == 0) next
			print $NF; exit
		}' "$file"
}
expect_metric() { # file name expected [label substrings...]
	local file=$1 name=$2 want=$3 got; shift 3
	got=$(mval "$file" "$name" "$@")
	awk -v a="$got" -v b="$want" 'BEGIN { exit !(a != "" && a + 0 == b + 0) }' ||
		fail "metric $name{$*}: expected $want, got '${got:-<missing>}'"
}

# ================================================================ run =======
say "ttn-exporter arm64 e2e: $(basename "$DEB"), $GATEWAYS fake gateways"
[[ $(dpkg-deb -f "$DEB" Package) == ttn-exporter ]] || fail "$DEB is not the ttn-exporter package"
[[ $(dpkg-deb -f "$DEB" Architecture) == arm64 ]] || fail "$DEB is not an arm64 package"

step "0: kernel and root filesystem, fake TTS server"
read -r KERNEL INITRD < <("$HERE/arm64-rootfs.sh") && [[ -s $KERNEL && -s $INITRD ]] ||
	fail "could not build the arm64 kernel and root filesystem (tests/e2e/arm64-rootfs.sh)"
ok "kernel $KERNEL, root filesystem $INITRD ($(du -h "$INITRD" | cut -f1))"
KEY="NNSXS.E2E-FAKE-KEY-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n').NOT-A-SECRET"
"$FAKE_TTS_BIN" --listen 127.0.0.1:0 --gateways "$GATEWAYS" --key "$KEY" > "$WORK/fake.log" 2>&1 &
FAKE_PID=$!
deadline=$((SECONDS + 20))
until FAKE_URL=$(grep -soE 'listening on http://[0-9.:]+' "$WORK/fake.log" | head -n1 | sed 's/^listening on //') && [[ -n $FAKE_URL ]]; do
	kill -0 $FAKE_PID 2>/dev/null || { cat "$WORK/fake.log" >&2; fail "fake-tts exited"; }
	(( SECONDS < deadline )) || fail "fake-tts did not print 'listening on http://ADDR'"
	sleep 0.1
done
FAKE_PORT=${FAKE_URL##*:}
ok "fake-tts at $FAKE_URL with $GATEWAYS gateways (the guest's http://10.0.2.2:$FAKE_PORT)"

# The test's files, as one more initramfs archive after the cached one.
mkdir -p "$WORK/extra/root/e2e" "$WORK/extra/etc/systemd/system/multi-user.target.wants"
cp "$DEB" "$WORK/extra/root/e2e/"
install -m 0755 "$HERE/arm64-guest.sh" "$WORK/extra/root/e2e/guest.sh"
printf 'API_URL=http://10.0.2.2:%s\nKEY=%s\n' "$FAKE_PORT" "$KEY" > "$WORK/extra/root/e2e/params"
cat > "$WORK/extra/etc/systemd/system/ttn-arm64-e2e.service" <<'EOF_UNIT'
[Unit]
Description=ttn-exporter arm64 e2e (tests/e2e/arm64-guest.sh)
After=systemd-networkd.service

[Service]
Type=oneshot
ExecStart=/root/e2e/guest.sh
StandardOutput=journal+console
StandardError=journal+console
EOF_UNIT
# The virtio drivers, loaded early by systemd-modules-load (udev would load
# them too, later).
mkdir -p "$WORK/extra/etc/modules-load.d"
printf '%s\n' virtio_mmio virtio_net virtio_blk virtio-rng > "$WORK/extra/etc/modules-load.d/ttn-e2e-virtio.conf"
ln -s ../ttn-arm64-e2e.service "$WORK/extra/etc/systemd/system/multi-user.target.wants/ttn-arm64-e2e.service"
(cd "$WORK/extra" && find . -print0 | cpio --null -o -H newc --quiet -R 0:0) | zstd -q -3 -o "$WORK/extra.cpio.zst"
cat "$INITRD" "$WORK/extra.cpio.zst" > "$WORK/initrd.cpio.zst"   # zstd frames concatenate
rm -rf --one-file-system "$WORK/extra" "$WORK/extra.cpio.zst"
truncate -s 64M "$WORK/results.tar"

step "1: boot the arm64 guest (qemu-system-aarch64, TCG) and run the guest's steps"
timeout "$LIMIT" qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 2048 -nographic -no-reboot \
	-kernel "$KERNEL" -initrd "$WORK/initrd.cpio.zst" \
	-append "console=ttyAMA0 rdinit=/sbin/init panic=-1 loglevel=4 systemd.show_status=error" \
	-netdev user,id=n0 -device virtio-net-device,netdev=n0 \
	-device virtio-rng-device \
	-drive file="$WORK/results.tar",format=raw,if=none,id=out -device virtio-blk-device,drive=out \
	< /dev/null > "$WORK/console.log" 2>&1 &
QEMU_PID=$!
wait "$QEMU_PID"
qrc=$?
QEMU_PID=
(( qrc == 124 )) && fail "the guest did not power off within $LIMIT s"
(( qrc == 0 )) || fail "qemu-system-aarch64 exited with $qrc"
mkdir -p "$WORK/out"
tar -C "$WORK/out" -xf "$WORK/results.tar" 2>/dev/null && [[ -f $WORK/out/done ]] ||
	fail "the guest wrote no results (it did not get to the end of tests/e2e/arm64-guest.sh)"
ok "guest ran and powered off ($((SECONDS - T_START)) s so far)"
sed 's/^/    | /' "$WORK/out/steps.txt"
o=$WORK/out

step "2: it is an arm64 machine running the arm64 package"
[[ $(cat "$o/uname-m") == aarch64 ]] || fail "guest uname -m is '$(cat "$o/uname-m")', want aarch64"
[[ $(cat "$o/dpkg-arch") == arm64 ]] || fail "guest dpkg architecture is '$(cat "$o/dpkg-arch")', want arm64"
# ELF e_machine (offset 18, little endian): 0xb7 = EM_AARCH64
[[ $(od -An -j18 -N2 -tx1 "$o/ttn-exporter.head" | tr -d ' \n') == b700 ]] ||
	fail "the installed /usr/bin/ttn-exporter is not an aarch64 ELF"
ok "guest kernel $(cat "$o/uname-r"), uname -m aarch64, dpkg arm64, /usr/bin/ttn-exporter is an aarch64 ELF"

step "3: apt install, ttn-exporter --version, ttn-exporter check"
[[ $(cat "$o/apt.rc") == 0 ]] || { sed 's/^/    /' "$o/apt.log"; fail "apt install ./$(basename "$DEB") failed in the guest"; }
grep -q "^install ok installed $(dpkg-deb -f "$DEB" Version)\$" "$o/dpkg-status" || fail "dpkg in the guest does not report it installed: $(cat "$o/dpkg-status")"
ok "apt install ./$(basename "$DEB")"
[[ $(cat "$o/version.rc") == 0 ]] || fail "ttn-exporter --version failed: $(cat "$o/version.txt")"
ok "ttn-exporter --version: $(head -n1 "$o/version.txt")"
[[ $(cat "$o/check.rc") == 0 ]] || { sed 's/^/    /' "$o/check.txt"; fail "ttn-exporter check failed (exit $(cat "$o/check.rc"))"; }
# the fake's gateways i with i % 4 in {0, 1} are connected
want_conn=$(( (GATEWAYS / 4) * 2 + (GATEWAYS % 4 > 2 ? 2 : GATEWAYS % 4) ))
grep -qx "$GATEWAYS gateways, $want_conn connected" "$o/check.txt" ||
	{ sed 's/^/    /' "$o/check.txt"; fail "ttn-exporter check does not say '$GATEWAYS gateways, $want_conn connected'"; }
grep -q '^key accepted' "$o/check.txt" || { sed 's/^/    /' "$o/check.txt"; fail "ttn-exporter check does not say 'key accepted'"; }
ok "ttn-exporter check: exit 0; key accepted; $GATEWAYS gateways, $want_conn connected"

step "4: the first scrape starts ttn.service through ttn.socket"
[[ $(cat "$o/socket-before") == active ]] || fail "ttn.socket was '$(cat "$o/socket-before")' after install, want active"
[[ $(cat "$o/curl.rc") == 0 ]] || fail "curl http://127.0.0.1:9715/metrics in the guest failed (exit $(cat "$o/curl.rc"))"
[[ $(cat "$o/service-after") == active ]] || fail "ttn.service is '$(cat "$o/service-after")' after the scrape, want active"
ok "ttn.socket active; after the scrape ttn.service active (uid $(cat "$o/uid"))"
m=$o/metrics.txt
expect_metric "$m" ttn_up 1
expect_metric "$m" ttn_exporter_gateways "$GATEWAYS"
n_conn=$(grep -c '^ttn_gateway_connected{' "$m")
[[ $n_conn == "$GATEWAYS" ]] || fail "want $GATEWAYS ttn_gateway_connected series, got $n_conn"
for ((i = 0; i < GATEWAYS; i++)); do
	id=$(printf 'gw-%06d' $i)
	case $((i % 4)) in
		0) c=1 up=$((1000 + 7 * i)) ;;
		1) c=1 up=$((2000 + 11 * i)) ;;
		2) c=0 up=$((500 + i)) ;;
		3) c=0 up= ;;
	esac
	expect_metric "$m" ttn_gateway_connected $c "gateway_id=\"$id\""
	[[ -n $up ]] && expect_metric "$m" ttn_gateway_uplink_messages_total $up "gateway_id=\"$id\""
done
grep -q '^ttn_exporter_build_info{' "$m" || fail "no ttn_exporter_build_info"
ok "/metrics ($(wc -l < "$m") lines): ttn_up 1, ttn_exporter_gateways $GATEWAYS, connected and uplinks per gateway match the fake"
lint=$(promtool check metrics < "$m" 2>&1) || { printf '%s\n' "$lint" | sed 's/^/    /'; fail "promtool check metrics"; }
ok "promtool check metrics (on the host, on the text scraped in the guest): clean"

step "5: systemctl stop ttn.service ttn.socket"
[[ $(cat "$o/stop.rc") == 0 ]] || fail "systemctl stop failed in the guest"
[[ $(cat "$o/service-stopped") == inactive && $(cat "$o/socket-stopped") == inactive ]] ||
	fail "after stop: ttn.service $(cat "$o/service-stopped"), ttn.socket $(cat "$o/socket-stopped"), want inactive"
[[ $(cat "$o/exit-status") == 0 ]] || fail "ttn.service's main process exited with $(cat "$o/exit-status"), want 0"
ok "both inactive, main process exit status 0"

#!/bin/sh
# The steps tests/e2e/arm64.sh runs inside the emulated arm64 Debian, as a
# oneshot service after boot. It records what it sees in /root/out (checked on
# the host, not here), writes that as a tar onto the scratch disk (/dev/vda,
# the guest's only disk) and powers the machine off.
# Parameters (API_URL, KEY) come from /root/e2e/params.
set -u
. /root/e2e/params
O=/root/out
mkdir -p "$O"
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive SYSTEMD_PAGER=
note() { echo "$*" | tee -a "$O/steps.txt"; }

finish() {
	journalctl --no-pager -u ttn.service -u ttn.socket > "$O/journal.txt" 2>&1
	touch "$O/done"
	disk=/dev/vda
	for _ in $(seq 30); do [ -b $disk ] && break; sleep 1; done
	tar -C "$O" -cf "$disk" . && sync
	note "results written to $disk"
	systemctl poweroff --no-block
	exit 0
}

uname -m > "$O/uname-m"
uname -r > "$O/uname-r"
dpkg --print-architecture > "$O/dpkg-arch"
note "guest: $(uname -srm), dpkg $(cat "$O/dpkg-arch")"

# the host's fake TTS through qemu's user-mode network
{ systemctl --no-pager status systemd-udevd.service systemd-udev-trigger.service; journalctl --no-pager -b -u systemd-udevd -u systemd-udev-trigger; } > "$O/udev.txt" 2>&1
n=0
until curl -fsS -o /dev/null -H "Authorization: Bearer $KEY" "$API_URL/api/v3/gateways?limit=1"; do
	n=$((n + 1))
	[ $n -ge 60 ] && break
	sleep 1
done
{ ls /sys/class/net; networkctl --no-pager status; cat /proc/modules; } > "$O/network.txt" 2>&1
if [ $n -ge 60 ]; then
	note "the fake at $API_URL is not reachable:"; cat "$O/network.txt" >> "$O/steps.txt"
else
	note "fake TTS reachable at $API_URL (after $n retries)"
fi

cd /root/e2e || exit 1
deb=$(ls ./ttn-exporter_*_arm64.deb)
apt-get install -y --no-install-recommends "$deb" > "$O/apt.log" 2>&1
echo $? > "$O/apt.rc"
dpkg-query -W -f='${Status} ${Version}\n' ttn-exporter > "$O/dpkg-status" 2>&1
note "apt install $deb: exit $(cat "$O/apt.rc")"
[ "$(cat "$O/apt.rc")" = 0 ] || finish
head -c 64 /usr/bin/ttn-exporter > "$O/ttn-exporter.head"
ttn-exporter --version > "$O/version.txt" 2>&1
echo $? > "$O/version.rc"
systemctl is-active ttn.socket > "$O/socket-before"

install -m 0600 -o root -g root /dev/null /etc/ttn-exporter/key
printf '%s\n' "$KEY" > /etc/ttn-exporter/key
printf 'TTN_EXPORTER_API_URL=%s\nTTN_EXPORTER_CACHE_TTL=5s\n' "$API_URL" > /etc/ttn-exporter/env
chmod 0600 /etc/ttn-exporter/env

# check reads the key and config.toml itself; the API URL is in the env file
(set -a; . /etc/ttn-exporter/env; set +a; timeout 300 ttn-exporter check) > "$O/check.txt" 2>&1
echo $? > "$O/check.rc"
note "ttn-exporter check: exit $(cat "$O/check.rc")"

curl -fsS --max-time 300 -o "$O/metrics.txt" http://127.0.0.1:9715/metrics
echo $? > "$O/curl.rc"
systemctl is-active ttn.service > "$O/service-after"
pid=$(systemctl show -P MainPID ttn.service)
awk '/^Uid:/ { print $2 }' "/proc/$pid/status" > "$O/uid" 2>/dev/null
note "scrape: curl exit $(cat "$O/curl.rc"), ttn.service $(cat "$O/service-after")"

systemctl stop ttn.service ttn.socket
echo $? > "$O/stop.rc"
systemctl is-active ttn.service > "$O/service-stopped"
systemctl is-active ttn.socket > "$O/socket-stopped"
systemctl show -P ExecMainStatus ttn.service > "$O/exit-status"
note "stop: exit $(cat "$O/stop.rc")"
finish

#!/bin/bash
# End-to-end test of the Debian package under a real systemd (issue 4).
#
#   FAKE_TTS_BIN=/path/to/fake-tts tests/e2e/run.sh ttn-exporter_X_amd64.deb [ttn-exporter_Y_amd64.deb]
#
# Boots Debian ($TTN_E2E_SUITE: bookworm by default, or trixie) with systemd as
# PID 1 in a systemd-nspawn container
# (see shared docs systemd-e2e.md), sharing the host's network, starts the fake
# TTS API server on the host's 127.0.0.1 and walks the user's path:
#   1. apt install ./ttn-exporter_*.deb; ttn.socket active, service not started
#   2. no key: systemctl start ttn.service fails, status/journal name the key file, no restart loop
#   3. key + env file: start succeeds (READY), /metrics shows the fake's gateways
#      with the right values, dynamic non-root user without capabilities, key
#      never in the journal, native journal entries with the unit's and the
#      daemon's fields; then socket activation (with an API failure: ttn_up 0,
#      ENDPOINT/CORRELATION_ID fields), SIGHUP, reload refused, key rotation by
#      restart, TLS + basic auth from root-only files, watchdog pings
#   3b. 8 quick restarts, a missing key with a scrape waiting and a crash loop:
#      ttn.socket never fails (no start-limit-hit), retries are paced, the loop
#      shows in systemctl status
#   4. systemctl stop ttn.service ttn.socket: port closed, clean stop, exit 0
#   5. upgrade to DEB_NEWER restarts the service (if given); remove stops it and
#      keeps the key; reinstall works; purge leaves no unit, no
#      /etc/ttn-exporter, no user
# Each step is printed; the first miss fails the run (exit 1) after printing
# diagnostics. The container, its cgroups and the fake server are cleaned up on
# every exit path.
#
# Environment:
#   FAKE_TTS_BIN      the fake-tts binary (cargo build -p fake-tts); required
#   TTN_E2E_SUITE     Debian release booted: bookworm (default, systemd 252) or
#                     trixie (systemd 257); see tests/e2e/rootfs.sh
#   TTN_E2E_CACHE     root filesystem cache (default /var/cache/ttn-exporter-e2e)
#   TTN_E2E_GATEWAYS  number of fake gateways (default 6)
#   TTN_E2E_KEEP=1    keep the work directory (logs) after the run
#   TTN_E2E_VERBOSE=1 print every command run in the container
# Needs root, systemd-container (systemd-nspawn), util-linux (unshare, nsenter),
# debootstrap and zstd for the first run, curl. Port 9715 must be free on the host.
set -uo pipefail

PORT=9715
PORT_HEX=$(printf '%04X' $PORT)
GATEWAYS=${TTN_E2E_GATEWAYS:-6}
CACHE=${TTN_E2E_CACHE:-/var/cache/ttn-exporter-e2e}
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
T_START=$SECONDS

# ---------------------------------------------------------------- output ----
say()  { printf '%s\n' "$*"; }
step() { printf '\n==> step %s [%ss]\n' "$*" $((SECONDS - T_START)); }
ok()   { printf '    ok: %s\n' "$*"; }
info() { printf '    .. %s\n' "$*"; }
fail() {
	printf '    FAIL: %s\n' "$*" >&2
	diagnostics >&2
	exit 1
}

usage() { say "usage: FAKE_TTS_BIN=path $0 DEB [DEB_NEWER]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
DEB=$(readlink -f "$1")
DEB_NEWER=${2:+$(readlink -f "$2")}
[[ -f $DEB ]] || { say "no such .deb: $1" >&2; exit 2; }
[[ -z $DEB_NEWER || -f $DEB_NEWER ]] || { say "no such .deb: $2" >&2; exit 2; }
[[ -n ${FAKE_TTS_BIN:-} && -x ${FAKE_TTS_BIN:-} ]] ||
	{ say "FAKE_TTS_BIN must name the fake-tts binary (cargo build -p fake-tts)" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { say "must run as root (systemd-nspawn)" >&2; exit 2; }
for t in systemd-nspawn unshare nsenter curl dpkg-deb tar zstd timeout flock; do
	command -v $t >/dev/null || { say "missing tool: $t (apt-get install systemd-container zstd curl)" >&2; exit 2; }
done

# --------------------------------------------------------- work & cleanup ---
mkdir -p "$CACHE"
# One e2e at a time on a host: the container shares the host's port 9715.
exec 9>"$CACHE/e2e.lock"
flock -w 600 9 || { say "another e2e run holds $CACHE/e2e.lock" >&2; exit 2; }

WORK=$(mktemp -d /var/tmp/ttn-e2e.XXXXXX)
ROOT=
CG=ttn-e2e-$$
NAME=ttn-e2e-$$
NSPID='' P='' FAKE_PID=''

# The container gets cgroups of its own (systemd-e2e.md, pitfall 3): on the
# hybrid layout of these machines one in each of name=systemd and unified; on a
# pure cgroup2 host one under /sys/fs/cgroup.
CGDIRS=()
if [[ -d /sys/fs/cgroup/systemd || -d /sys/fs/cgroup/unified ]]; then
	for h in systemd unified; do [[ -d /sys/fs/cgroup/$h ]] && CGDIRS+=("/sys/fs/cgroup/$h/$CG"); done
elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
	CGDIRS=("/sys/fs/cgroup/$CG")
fi

cgroup_cleanup() {
	local d left
	for d in "${CGDIRS[@]}"; do
		[[ -d $d ]] || continue
		# kill what is left (only processes of this run live here)
		if [[ -e $d/cgroup.kill ]]; then
			echo 1 > "$d/cgroup.kill" 2>/dev/null || true
		else
			# shellcheck disable=SC2038  # cgroup.procs holds numbers only
			find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
		fi
	done
	for _ in $(seq 50); do
		left=
		for d in "${CGDIRS[@]}"; do
			[[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
			[[ -d $d ]] && left=1
		done
		[[ -z $left ]] && return 0
		sleep 0.1
	done
	say "warning: could not remove cgroup $CG" >&2
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [[ -n $NSPID ]] && kill -0 "$NSPID" 2>/dev/null; then
		# orderly poweroff first, then SIGTERM (nspawn turns it into a halt), then KILL
		[[ -n $P ]] && timeout 5 nsenter -t "$P" -a systemctl poweroff --no-block >/dev/null 2>&1
		for _ in $(seq 100); do kill -0 "$NSPID" 2>/dev/null || break; sleep 0.1; done
		kill -TERM "$NSPID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$NSPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$NSPID" 2>/dev/null
		wait "$NSPID" 2>/dev/null
	fi
	cgroup_cleanup
	if [[ -n $FAKE_PID ]]; then kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; fi
	if [[ -n ${TTN_E2E_KEEP:-} || $rc != 0 ]]; then
		say "logs kept in $WORK" >&2
	else
		rm -rf --one-file-system "$WORK"
	fi
	if [[ $rc == 0 ]]; then
		say "" ; say "e2e: all steps passed in $((SECONDS - T_START)) s"
	else
		say "e2e: FAILED (exit $rc) after $((SECONDS - T_START)) s" >&2
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ----------------------------------------------------------- container ------
IN() {
	[[ -n ${TTN_E2E_VERBOSE:-} ]] && printf '    $ %s\n' "$*" >&2
	timeout 120 nsenter -t "$P" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LC_ALL=C.UTF-8 SYSTEMD_COLORS=0 SYSTEMD_PAGER= DEBIAN_FRONTEND=noninteractive "$@"
}

boot() {
	# the cached, unpacked tree; --volatile=overlay below keeps it untouched
	ROOT=$("$HERE/rootfs.sh" --tree) && [[ -d $ROOT/usr ]] ||
		fail "could not build the root filesystem (tests/e2e/rootfs.sh --tree)"
	local d
	(( ${#CGDIRS[@]} )) || fail "no cgroup hierarchy found under /sys/fs/cgroup"
	for d in "${CGDIRS[@]}"; do mkdir -p "$d" || fail "cannot create cgroup $d"; done
	(
		for d in "${CGDIRS[@]}"; do echo "$BASHPID" > "$d/cgroup.procs"; done
		exec unshare --mount --propagation private sh -c \
			'mount -t tmpfs -o mode=755 tmpfs /run && exec systemd-nspawn "$@"' sh \
			-D "$ROOT" --boot --register=no --keep-unit --console=pipe --machine="$NAME" \
			--volatile=overlay --resolv-conf=copy-host --timezone=off
	) > "$WORK/nspawn.log" 2>&1 < /dev/null &
	NSPID=$!
	local c deadline=$((SECONDS + 30))
	while [[ -z $P ]]; do
		kill -0 "$NSPID" 2>/dev/null || { cat "$WORK/nspawn.log" >&2; fail "systemd-nspawn exited during boot"; }
		(( SECONDS < deadline )) || fail "container PID 1 did not appear"
		for c in $(cat /proc/"$NSPID"/task/*/children 2>/dev/null); do
			grep -qE '^NSpid:.*\s1$' /proc/"$c"/status 2>/dev/null && P=$c
		done
		[[ -n $P ]] || sleep 0.1
	done
	until timeout 5 nsenter -t "$P" -a test -S /run/systemd/private 2>/dev/null; do
		(( SECONDS < deadline )) || fail "systemd in the container did not come up"
		kill -0 "$NSPID" 2>/dev/null || fail "systemd-nspawn exited during boot"
		sleep 0.1
	done
	local state
	state=$(IN systemctl is-system-running --wait)
	case $state in
		running) ok "container booted (systemd $(IN systemctl --version | awk 'NR==1{print $2}'), state $state)" ;;
		degraded) info "container is degraded; failed units: $(IN systemctl --failed --plain --no-legend | awk '{print $1}' | xargs)"
		          ok "container booted (state $state)" ;;
		*) fail "container did not boot: is-system-running says '$state'" ;;
	esac
}

diagnostics() {
	[[ -n $P ]] && kill -0 "$P" 2>/dev/null || { [[ -f $WORK/nspawn.log ]] && tail -n 20 "$WORK/nspawn.log"; return; }
	say "---- systemctl status ttn.socket ttn.service"
	IN systemctl status --no-pager --lines=30 ttn.socket ttn.service 2>&1 | sed 's/^/    /'
	say "---- journalctl -u ttn.service -u ttn.socket (last 40)"
	IN journalctl --no-pager -n 40 -u ttn.service -u ttn.socket 2>&1 | sed 's/^/    /'
	[[ -f $WORK/fake.log ]] && { say "---- fake-tts log"; tail -n 10 "$WORK/fake.log" | sed 's/^/    /'; }
}

# ------------------------------------------------------------- helpers ------
# Is anything listening on TCP port $PORT in the (shared) network namespace?
port_listening() {
	awk -v p=":$PORT_HEX" 'FNR > 1 && substr($2, length($2) - 4) == p && $4 == "0A" { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}
prop() { IN systemctl show -P "$2" "$1"; }   # prop UNIT PROPERTY
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
num_eq() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 == b + 0) }'; }
expect_metric() { # file name expected [label substrings...]
	local file=$1 name=$2 want=$3 got; shift 3
	got=$(mval "$file" "$name" "$@")
	num_eq "$got" "$want" || fail "metric $name{$*}: expected $want, got '${got:-<missing>}'"
}
wait_for() { # seconds description command...
	local secs=$1 what=$2; shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		(( SECONDS < deadline )) || fail "timed out after ${secs}s waiting for: $what"
		sleep 0.2
	done
}
no_port() { ! port_listening; }

# ================================================================ run =======
say "ttn-exporter e2e: $(basename "$DEB")${DEB_NEWER:+ -> $(basename "$DEB_NEWER")}, $GATEWAYS fake gateways, Debian ${TTN_E2E_SUITE:-bookworm}"
VERSION=$(dpkg-deb -f "$DEB" Version)
[[ $(dpkg-deb -f "$DEB" Package) == ttn-exporter ]] || fail "$DEB is not the ttn-exporter package"
if port_listening; then
	fail "something on this host already listens on port $PORT; stop it first (the container shares the host's network)"
fi

step "0: fake TTS server and container"
KEY="NNSXS.E2E-FAKE-KEY-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n').NOT-A-SECRET"
"$FAKE_TTS_BIN" --listen 127.0.0.1:0 --gateways "$GATEWAYS" --key "$KEY" > "$WORK/fake.log" 2>&1 &
FAKE_PID=$!
deadline=$((SECONDS + 20))
until FAKE_URL=$(grep -oE 'listening on http://[0-9.:]+' "$WORK/fake.log" | head -n1 | sed 's/^listening on //') && [[ -n $FAKE_URL ]]; do
	kill -0 $FAKE_PID 2>/dev/null || { cat "$WORK/fake.log" >&2; fail "fake-tts exited"; }
	(( SECONDS < deadline )) || fail "fake-tts did not print 'listening on http://ADDR'"
	sleep 0.1
done
curl -fsS -H "Authorization: Bearer $KEY" "$FAKE_URL/api/v3/gateways?limit=1" >/dev/null ||
	fail "fake-tts at $FAKE_URL does not accept the test key"
ok "fake-tts at $FAKE_URL with $GATEWAYS gateways"
boot

# ---------------------------------------------------------------------------
step "1: apt install ./$(basename "$DEB")"
IN sh -c 'cat > /tmp/pkg.deb' < "$DEB" || fail "cannot copy the .deb into the container"
DEBNAME=$(basename "$DEB")
IN sh -c "mv /tmp/pkg.deb '/tmp/$DEBNAME' && chmod 0644 '/tmp/$DEBNAME'"
IN sh -c "cd /tmp && apt-get install -y --no-install-recommends './$DEBNAME'" > "$WORK/apt-install.log" 2>&1 ||
	{ sed 's/^/    /' "$WORK/apt-install.log"; fail "apt install ./$DEBNAME failed"; }
ok "apt install ./$DEBNAME"
[[ $(IN dpkg-query -W -f='${Status} ${Version}' ttn-exporter) == "install ok installed $VERSION" ]] ||
	fail "dpkg does not report ttn-exporter $VERSION installed"
[[ $(IN systemctl is-active ttn.socket) == active ]] || fail "ttn.socket is not active after install"
[[ $(IN systemctl is-enabled ttn.socket) == enabled ]] || fail "ttn.socket is not enabled after install"
port_listening || fail "nothing listens on port $PORT after install"
ok "ttn.socket enabled and active, port $PORT listening"
[[ $(IN systemctl is-active ttn.service) == inactive ]] || fail "ttn.service should not run before the first scrape (is $(IN systemctl is-active ttn.service))"
ok "ttn.service not started by the install"
[[ $(IN stat -c '%U:%G %a' /etc/ttn-exporter) == "root:root 750" ]] ||
	fail "/etc/ttn-exporter is $(IN stat -c '%U:%G %a' /etc/ttn-exporter), want root:root 750"
IN dpkg-query -W -f='${Conffiles}\n' ttn-exporter | grep -q ' /etc/ttn-exporter/config.toml ' ||
	fail "/etc/ttn-exporter/config.toml is not a conffile"
IN sh -c "grep -v '^[[:space:]]*\(#\|\$\)' /etc/ttn-exporter/config.toml" && fail "the shipped config.toml has uncommented settings"
for f in /usr/bin/ttn-exporter /usr/share/man/man1/ttn-exporter.1.gz /usr/share/doc/ttn-exporter/copyright \
	/usr/share/doc/ttn-exporter/changelog.Debian.gz /usr/lib/systemd/system/ttn.service /usr/lib/systemd/system/ttn.socket; do
	IN test -e "$f" || fail "$f is missing"
done
IN sh -c 'ls /usr/share/doc/ttn-exporter/README*' >/dev/null || fail "no README in /usr/share/doc/ttn-exporter"
ok "/etc/ttn-exporter root:root 0750, commented config.toml conffile, man page, docs, units"
IN ttn-exporter --version > "$WORK/version.txt" 2>&1 || fail "ttn-exporter --version failed: $(cat "$WORK/version.txt")"
ok "ttn-exporter --version: $(head -n1 "$WORK/version.txt")"
# the installed units as this release's systemd reads them (units.sh checks
# them with the build host's systemd only)
IN systemd-analyze verify --man=no /usr/lib/systemd/system/ttn.socket /usr/lib/systemd/system/ttn.service > "$WORK/verify.txt" 2>&1
[[ $? == 0 && ! -s $WORK/verify.txt ]] || { sed 's/^/    /' "$WORK/verify.txt"; fail "systemd-analyze verify of the installed units complains (see above)"; }
score=$(IN systemd-analyze security --offline=true --no-pager /usr/lib/systemd/system/ttn.service 2>&1 |
	sed -n 's/.*Overall exposure level for ttn.service: \([0-9.]*\).*/\1/p')
awk -v s="$score" -v m="${TTN_MAX_EXPOSURE:-1.5}" 'BEGIN { exit !(s != "" && s <= m) }' ||
	fail "systemd-analyze security in the container: exposure '${score:-none}', want at most ${TTN_MAX_EXPOSURE:-1.5}"
ok "this systemd's verify: no output; security --offline: exposure $score"

# ---------------------------------------------------------------------------
step "2: no key yet: systemctl start ttn.service fails and says why"
IN test -e /etc/ttn-exporter/key && fail "/etc/ttn-exporter/key exists before the admin wrote it"
if IN systemctl start ttn.service > "$WORK/start-nokey.log" 2>&1; then
	fail "systemctl start ttn.service succeeded without a key"
fi
ok "systemctl start ttn.service failed: $(head -n1 "$WORK/start-nokey.log")"
IN systemctl status --no-pager --lines=20 ttn.service > "$WORK/status-nokey.txt" 2>&1
grep -q /etc/ttn-exporter/key "$WORK/status-nokey.txt" ||
	{ sed 's/^/    /' "$WORK/status-nokey.txt"; fail "systemctl status ttn.service does not name /etc/ttn-exporter/key"; }
ok "systemctl status names the key file: $(grep -m1 /etc/ttn-exporter/key "$WORK/status-nokey.txt" | sed 's/^ *//' | cut -c1-160)"
IN journalctl --no-pager -u ttn.service > "$WORK/journal-nokey.txt" 2>&1
grep -q /etc/ttn-exporter/key "$WORK/journal-nokey.txt" || fail "journalctl -u ttn.service does not name /etc/ttn-exporter/key"
ok "journalctl -u ttn.service names the key file"
[[ $(prop ttn.service ExecMainStatus) == 78 ]] || fail "exit status is $(prop ttn.service ExecMainStatus), want 78 (EX_CONFIG)"
sleep 3   # longer than RestartSec=
[[ $(prop ttn.service NRestarts) == 0 ]] || fail "ttn.service restarted $(prop ttn.service NRestarts) times without a key (restart loop)"
[[ $(IN systemctl is-active ttn.service) == failed ]] || fail "ttn.service is '$(IN systemctl is-active ttn.service)', want failed"
ok "exit status 78, state failed, no restart (NRestarts=0 after 3 s)"
[[ $(IN systemctl is-active ttn.socket) == active ]] || fail "ttn.socket is '$(IN systemctl is-active ttn.socket)' after the failed start, want active"
ok "ttn.socket still active"

# ---------------------------------------------------------------------------
step "3: env file -> fake; the README's quick start writes the key and checks it; systemctl start ttn.service"
# "localhost" rather than 127.0.0.1: name resolution must work in the sandbox
printf 'TTN_EXPORTER_API_URL=%s\nTTN_EXPORTER_CACHE_TTL=5s\n' "${FAKE_URL/127.0.0.1/localhost}" |
	IN install -m 0600 -o root -g root /dev/stdin /etc/ttn-exporter/env || fail "cannot write the env file"
# Step 3 of the quick start in the packaged README, as a reader pastes it
# (the key typed at `read -rs`; sudo is root here): it must write the key
# root:root 0600 and `ttn-exporter check` must accept it, reading the env
# file as the service does.
QUICK=$(IN cat /usr/share/doc/ttn-exporter/README.md | awk '
	/^3\. \*\*Write the key\*\*/ { f = 1 }
	f && /^   ```sh/ { g = 1; next }
	g && /^   ```/ { exit }
	g { sub(/^   /, ""); print }')
[[ $QUICK == *"read -rs"* && $QUICK == *"ttn-exporter check"* ]] ||
	fail "no step 3 (read -rs ... ttn-exporter check) in the packaged README: '$QUICK'"
printf '%s\n' "$KEY" | IN bash -c 'sudo() { "$@"; }; '"$QUICK" > "$WORK/quick-start.log" 2>&1 ||
	{ sed 's/^/    /' "$WORK/quick-start.log" >&2; fail "the README's quick start step 3 failed"; }
grep -q '^key accepted' "$WORK/quick-start.log" ||
	{ sed 's/^/    /' "$WORK/quick-start.log" >&2; fail "ttn-exporter check (quick start) did not accept the key"; }
KEY_BODY=${KEY#NNSXS.}; KEY_BODY=${KEY_BODY%.NOT-A-SECRET}
grep -qF -- "$KEY_BODY" "$WORK/quick-start.log" && fail "the quick start printed the key"
IN stat -c '%U:%G %a' /etc/ttn-exporter/key | grep -qx 'root:root 600' || fail "the quick start left the key file not root:root 0600"
[[ $(IN cat /etc/ttn-exporter/key) == "$KEY" ]] || fail "the quick start wrote another key than was typed"
ok "the README's quick start wrote the key (root:root 0600) and check accepted it: $(grep -m1 '^[0-9]* gateways' "$WORK/quick-start.log")"
IN systemctl reset-failed ttn.service
IN systemctl start ttn.service > "$WORK/start.log" 2>&1 || { cat "$WORK/start.log" >&2; fail "systemctl start ttn.service failed with the key in place"; }
[[ $(prop ttn.service ActiveState)/$(prop ttn.service SubState) == active/running ]] ||
	fail "ttn.service is $(prop ttn.service ActiveState)/$(prop ttn.service SubState), want active/running"
ok "systemctl start ttn.service: active/running (Type=notify: READY=1 received)"
info "status: $(prop ttn.service StatusText)"
MAINPID=$(prop ttn.service MainPID)
[[ $MAINPID =~ ^[1-9][0-9]*$ ]] || fail "no MainPID"
UID_=$(IN awk '/^Uid:/ { print $2 }' "/proc/$MAINPID/status")
[[ $UID_ =~ ^[0-9]+$ ]] && (( UID_ >= 61184 && UID_ <= 65519 )) ||
	fail "ttn-exporter (pid $MAINPID) runs as uid '$UID_', want a dynamic user (61184-65519)"
GID_=$(IN awk '/^Gid:/ { print $2 }' "/proc/$MAINPID/status")
CAPS=$(IN awk '/^CapEff:/ { print $2 }' "/proc/$MAINPID/status")
[[ $CAPS == 0000000000000000 ]] || fail "ttn-exporter has effective capabilities $CAPS"
ok "runs as dynamic user uid $UID_ gid $GID_ (no capabilities)"
IN stat -c '%U:%G %a' /etc/ttn-exporter/key | grep -qx 'root:root 600' || fail "the key file is no longer root:root 0600"

curl -fsS --max-time 20 -o "$WORK/metrics.txt" "http://127.0.0.1:$PORT/metrics" || fail "curl http://127.0.0.1:$PORT/metrics failed"
ok "curl :$PORT/metrics ($(wc -l < "$WORK/metrics.txt") lines)"
expect_metric "$WORK/metrics.txt" ttn_up 1
expect_metric "$WORK/metrics.txt" ttn_exporter_gateways "$GATEWAYS"
n_conn=$(grep -c '^ttn_gateway_connected{' "$WORK/metrics.txt")
[[ $n_conn == "$GATEWAYS" ]] || fail "want $GATEWAYS ttn_gateway_connected series, got $n_conn"
for ((i = 0; i < GATEWAYS; i++)); do
	id=$(printf 'gw-%06d' $i)
	case $((i % 4)) in
		0) c=1 up=$((1000 + 7 * i)) ;;
		1) c=1 up=$((2000 + 11 * i)) ;;
		2) c=0 up=$((500 + i)) ;;
		3) c=0 up= ;;
	esac
	expect_metric "$WORK/metrics.txt" ttn_gateway_connected $c "gateway_id=\"$id\""
	[[ -n $up ]] && expect_metric "$WORK/metrics.txt" ttn_gateway_uplink_messages_total $up "gateway_id=\"$id\""
	expect_metric "$WORK/metrics.txt" ttn_gateway_info 1 "gateway_id=\"$id\"" "name=\"Gateway $i\""
done
expect_metric "$WORK/metrics.txt" ttn_gateway_status_metric 90 'gateway_id="gw-000000"' 'metric="rxok"'
grep -q '^ttn_exporter_build_info{' "$WORK/metrics.txt" || fail "no ttn_exporter_build_info"
grep -q '^process_' "$WORK/metrics.txt" || fail "no process_* metrics"
st=$(mval "$WORK/metrics.txt" process_start_time_seconds)
awk -v s="${st:-0}" -v now="$(date +%s)" 'BEGIN { exit !(s > now - 600 && s <= now + 5) }' ||
	fail "process_start_time_seconds is '${st:-missing}', not the start of the process (ProcSubset=pid hides /proc/stat)"
ok "ttn_up 1, ttn_exporter_gateways $GATEWAYS, per-gateway connected/uplinks/info match the fake"
curl -fsS --max-time 10 -o /dev/null "http://127.0.0.1:$PORT/-/healthy" || fail "/-/healthy does not answer 200"
ok "/-/healthy 200"
IN grep -q '"format":"ttn-exporter gateway state"' /var/lib/private/ttn-exporter/gateways.json ||
	fail "no gateway state file in the StateDirectory: $(IN ls -la /var/lib/private/ttn-exporter 2>&1)"
ok "gateway state file written under StateDirectory= (DynamicUser)"

IN journalctl --no-pager -o json > "$WORK/journal.json" 2>&1
IN journalctl --no-pager -o verbose --all > "$WORK/journal.verbose" 2>&1
IN systemctl status --no-pager --lines=50 ttn.service > "$WORK/status.txt" 2>&1
KEY_BODY=${KEY#NNSXS.}; KEY_BODY=${KEY_BODY%.NOT-A-SECRET}
for f in journal.json journal.verbose status.txt metrics.txt; do
	grep -qF -- "$KEY_BODY" "$WORK/$f" && fail "the API key appears in $f"
done
ok "the key appears nowhere in journalctl (json, verbose), systemctl status or /metrics"
grep '"_SYSTEMD_UNIT":"ttn.service"' "$WORK/journal.json" | grep -v '"_COMM":"systemd"' > "$WORK/unit-lines.json"
[[ -s $WORK/unit-lines.json ]] || fail "no journal entry from the process with _SYSTEMD_UNIT=ttn.service"
n_native=$(grep -c '"_TRANSPORT":"journal"' "$WORK/unit-lines.json")
(( n_native > 0 )) || fail "the daemon's journal entries are not native (tracing-journald) entries: transports $(grep -o '"_TRANSPORT":"[a-z]*"' "$WORK/unit-lines.json" | sort | uniq -c | xargs)"
fields=$(grep '"_TRANSPORT":"journal"' "$WORK/unit-lines.json" | grep -oE '"[A-Z][A-Z0-9_]*":' | tr -d '":' |
	grep -vE '^(_.*|__.*|MESSAGE|PRIORITY|SYSLOG_IDENTIFIER|CODE_FILE|CODE_LINE|CODE_FUNC)$' | sort -u | xargs)
ok "$n_native native journal entries with _SYSTEMD_UNIT=ttn.service; extra fields: ${fields:-none}"
[[ -n $fields ]] || fail "the daemon's journal entries carry no structured fields"
IN journalctl --no-pager -u ttn.service -p warning -b > "$WORK/warnings.txt" 2>&1
info "warnings and errors of ttn.service since boot: $(grep -vc '^-- ' "$WORK/warnings.txt")"

# socket activation: the first connection starts the service. The fake
# answers the gateway list with 503 meanwhile: ttn_up 0, and the failure is
# logged with structured fields
IN systemctl stop ttn.service 2>/dev/null || fail "systemctl stop ttn.service failed"
[[ $(IN systemctl is-active ttn.socket) == active ]] || fail "stopping ttn.service alone stopped ttn.socket"
curl -fsS -X POST -o /dev/null "$FAKE_URL/_fake/fault?route=list&kind=status&code=503" || fail "fake-tts control API: fault failed"
curl -fsS --max-time 30 -o "$WORK/metrics2.txt" "http://127.0.0.1:$PORT/metrics" || fail "first scrape after stop failed (socket activation)"
curl -fsS -X POST -o /dev/null "$FAKE_URL/_fake/fault?route=list&kind=clear" || fail "fake-tts control API: clearing the fault failed"
[[ $(IN systemctl is-active ttn.service) == active ]] || fail "a scrape on ttn.socket did not start ttn.service"
expect_metric "$WORK/metrics2.txt" ttn_up 0
ok "socket activation: a scrape on the idle socket started ttn.service; with the API answering 503, ttn_up 0"
IN journalctl --no-pager -u ttn.service -o json -n 20 > "$WORK/journal-503.json" 2>&1
grep '"_TRANSPORT":"journal"' "$WORK/journal-503.json" | grep -q '"ENDPOINT":"list_gateways"' ||
	fail "the refresh failure is not in the journal with field ENDPOINT=list_gateways"
grep '"ENDPOINT":"list_gateways"' "$WORK/journal-503.json" | grep -q '"CORRELATION_ID":"' ||
	fail "the refresh failure has no CORRELATION_ID field (the fake's error body carries one)"
ok "the failure is journaled with ENDPOINT=list_gateways, CORRELATION_ID=$(grep -o '"CORRELATION_ID":"[^"]*"' "$WORK/journal-503.json" | head -n1 | cut -d'"' -f4), PRIORITY=$(grep '"ENDPOINT":"list_gateways"' "$WORK/journal-503.json" | grep -o '"PRIORITY":"[0-9]"' | head -n1 | cut -d'"' -f4)"

# SIGHUP: the daemon re-reads its (credential) files and keeps serving
pid1=$(prop ttn.service MainPID)
IN systemctl kill -s HUP --kill-who=main ttn.service || fail "systemctl kill -s HUP ttn.service failed"
sleep 1
[[ $(prop ttn.service MainPID) == "$pid1" && $(IN systemctl is-active ttn.service) == active ]] ||
	fail "SIGHUP changed or stopped the process (MainPID $pid1 -> $(prop ttn.service MainPID), $(IN systemctl is-active ttn.service))"
curl -fsS --max-time 20 -o /dev/null "http://127.0.0.1:$PORT/metrics" || fail "scrape after SIGHUP failed"
ok "SIGHUP: same MainPID, still serving"
# systemctl reload is refused (credentials are copied at start only, so a
# reload could not apply a new key); it must fail loudly, not silently
if IN systemctl reload ttn.service > "$WORK/reload.txt" 2>&1; then
	fail "systemctl reload ttn.service succeeded, but it cannot apply a new key (credentials are copied at start)"
fi
grep -q 'not applicable' "$WORK/reload.txt" || fail "systemctl reload failed in an unexpected way: $(cat "$WORK/reload.txt")"
ok "systemctl reload ttn.service is refused: $(head -n1 "$WORK/reload.txt")"

# key rotation: new key in /etc/ttn-exporter/key, systemctl restart ttn.service
KEY2="NNSXS.E2E-ROTATED-KEY-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n').NOT-A-SECRET"
curl -fsS -X POST -o /dev/null "$FAKE_URL/_fake/keys?key=$KEY&key=$KEY2" || fail "fake-tts control API: keys failed"
printf '%s\n' "$KEY2" | IN install -m 0600 -o root -g root /dev/stdin /etc/ttn-exporter/key || fail "cannot write the new key"
curl -fsS -X POST -o /dev/null "$FAKE_URL/_fake/reset" || fail "fake-tts control API: reset failed"
pid1=$(prop ttn.service MainPID)
IN systemctl restart ttn.service || fail "systemctl restart ttn.service failed"
[[ $(prop ttn.service MainPID) != "$pid1" && $(IN systemctl is-active ttn.socket) == active ]] ||
	fail "restart did not replace the process or closed the socket"
curl -fsS --max-time 20 -o "$WORK/metrics-rotated.txt" "http://127.0.0.1:$PORT/metrics" || fail "scrape after key rotation failed"
expect_metric "$WORK/metrics-rotated.txt" ttn_up 1
curl -fsS -o "$WORK/counts.json" "$FAKE_URL/_fake/counts" || fail "fake-tts control API: counts failed"
new=${KEY2#NNSXS.}; old=${KEY#NNSXS.}
grep -qF -- "${new%%.*}" "$WORK/counts.json" && ! grep -qF -- "${old%%.*}" "$WORK/counts.json" ||
	fail "after a new key and systemctl restart, the fake does not see (only) the new key"
ok "key rotation with systemctl restart: the fake sees only the new key, socket stayed active"

# TLS and basic auth: config.toml (the conffile, delivered as credential
# ttn_config.toml) names /etc/ttn-exporter/web.yml; it, the certificate and
# its key are root-only and reach the service as credentials too
PASSWORD=e2e-not-a-secret   # bcrypt hash below
IN cp /etc/ttn-exporter/config.toml /root/config.toml.orig
IN sh -c 'umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	-keyout /etc/ttn-exporter/tls.key -out /etc/ttn-exporter/tls.crt' > "$WORK/openssl.log" 2>&1 ||
	fail "openssl could not make a test certificate: $(tail -n2 "$WORK/openssl.log")"
printf '%s\n' 'tls_server_config:' '  cert_file: /etc/ttn-exporter/tls.crt' '  key_file: /etc/ttn-exporter/tls.key' \
	'basic_auth_users:' "  prometheus: '\$2b\$10\$N5OH/ORHI7VGmqDTVZ39wulzWNcpg0fJf/u59bGBosLxyGcdNS0S6'" |
	IN install -m 0600 -o root -g root /dev/stdin /etc/ttn-exporter/web.yml
printf '\nweb_config_file = "/etc/ttn-exporter/web.yml"\n' | IN sh -c 'cat >> /etc/ttn-exporter/config.toml'
IN cat /etc/ttn-exporter/tls.crt > "$WORK/tls.crt"
IN systemctl restart ttn.service > "$WORK/restart-tls.log" 2>&1 || { cat "$WORK/restart-tls.log" >&2; fail "restart with web.yml (TLS, basic auth) failed"; }
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$WORK/tls.crt" "https://localhost:$PORT/metrics")
[[ $code == 401 ]] || fail "https without credentials gave HTTP $code, want 401"
curl -fsS --max-time 20 --cacert "$WORK/tls.crt" -u "prometheus:$PASSWORD" -o "$WORK/metrics-tls.txt" "https://localhost:$PORT/metrics" ||
	fail "https with basic auth and the test CA failed"
expect_metric "$WORK/metrics-tls.txt" ttn_up 1
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -u "prometheus:$PASSWORD" "http://127.0.0.1:$PORT/metrics")
[[ $code == 200 ]] && fail "plain http still answers 200 with TLS configured"
IN journalctl --no-pager -o verbose --all | grep -qF -- "$PASSWORD" && fail "the basic auth password appears in the journal"
ok "TLS + basic auth from config.toml -> web.yml, tls.crt, tls.key (root-only, via credentials): 401 without, 200 with credentials, certificate verifies, plain http refused"
IN cp /root/config.toml.orig /etc/ttn-exporter/config.toml
IN rm -f /etc/ttn-exporter/web.yml /etc/ttn-exporter/tls.crt /etc/ttn-exporter/tls.key
IN systemctl restart ttn.service || fail "restart after removing web.yml failed"
curl -fsS --max-time 20 -o /dev/null "http://127.0.0.1:$PORT/metrics" || fail "plain http does not come back after removing web.yml"

# watchdog: the shipped unit asks for WatchdogSec=30s; to see the pings in
# seconds rather than minutes, a runtime drop-in shortens it to 2s
[[ $(prop ttn.service WatchdogUSec) == 30s ]] || fail "ttn.service WatchdogUSec=$(prop ttn.service WatchdogUSec), want 30s"
IN mkdir -p /run/systemd/system/ttn.service.d
printf '[Service]\nWatchdogSec=2s\n' | IN sh -c 'cat > /run/systemd/system/ttn.service.d/e2e-watchdog.conf'
IN systemctl daemon-reload
IN systemctl restart ttn.service || fail "restart with WatchdogSec=2s failed"
pid1=$(prop ttn.service MainPID); wd1=$(prop ttn.service WatchdogTimestampMonotonic)
sleep 4.5
wd2=$(prop ttn.service WatchdogTimestampMonotonic)
[[ $(prop ttn.service MainPID) == "$pid1" && $(prop ttn.service NRestarts) == 0 && $(IN systemctl is-active ttn.service) == active ]] ||
	fail "with WatchdogSec=2s the service was killed or restarted (watchdog pings missing?)"
(( wd2 > wd1 )) || fail "no WATCHDOG=1 seen in 4.5 s with WatchdogSec=2s (WatchdogTimestamp $wd1 -> $wd2)"
IN rm -rf /run/systemd/system/ttn.service.d
IN systemctl daemon-reload
IN systemctl restart ttn.service || fail "restart without the watchdog drop-in failed"
ok "watchdog: WatchdogSec=30s in the unit; with 2s the service keeps running and pings (WatchdogTimestamp advances)"

# ---------------------------------------------------------------------------
step "3b: quick restarts, a missing key with a scrape waiting and a crash loop never fail ttn.socket"
# With systemd's default start limit (5 starts in 10 s) each of these put
# ttn.service into start-limit-hit and ttn.socket into "failed"
# (service-start-limit-hit): the port stayed closed until someone ran
# "systemctl reset-failed". On systemd 252 and 257 alike.
t=$SECONDS
for i in 1 2 3 4 5 6 7 8; do
	IN systemctl restart ttn.service > "$WORK/restart-$i.log" 2>&1 ||
		fail "quick restart $i of 8 failed: $(head -n1 "$WORK/restart-$i.log")"
done
[[ $(IN systemctl is-active ttn.socket) == active ]] ||
	fail "ttn.socket is '$(IN systemctl is-active ttn.socket)' (Result=$(prop ttn.socket Result)) after 8 quick restarts"
curl -fsS --max-time 20 -o /dev/null "http://127.0.0.1:$PORT/metrics" || fail "scrape after 8 quick restarts failed"
ok "8 systemctl restarts in $((SECONDS - t)) s all succeeded; ttn.socket active, scrape answered"

# A missing key (exit 78, no restart) while a scrape waits on the socket: the
# socket starts the service again for the waiting connection, paced to one
# attempt per 2 s; the service shows the failure, the port stays open.
IN mv /etc/ttn-exporter/key /root/key.saved || fail "cannot move the key away"
IN systemctl stop ttn.service 2>/dev/null
since=$(date +%s)
curl -s --max-time 10 -o /dev/null "http://127.0.0.1:$PORT/metrics" &
curl_pid=$!
sleep 8
s=$(IN systemctl is-active ttn.socket)
[[ $s == active ]] || fail "with the key missing and a scrape waiting, ttn.socket is '$s' (Result=$(prop ttn.socket Result))"
port_listening || fail "with the key missing and a scrape waiting, port $PORT is closed"
[[ $(prop ttn.service ExecMainStatus) == 78 ]] || fail "with the key missing, ttn.service's last exit status is $(prop ttn.service ExecMainStatus), want 78"
n=$(IN journalctl --no-pager -o cat -u ttn.service --since "@$since" | grep -c "Failed with result 'exit-code'")
(( n >= 2 && n <= 6 )) || fail "with the key missing and a scrape waiting, $n failed starts in 8 s, want 2 to 6 (one per 2 s)"
ok "key missing, a scrape waiting: $n start attempts in 8 s (exit 78 each), ttn.socket active, port open"
wait $curl_pid
IN mv /root/key.saved /etc/ttn-exporter/key || fail "cannot put the key back"
curl -fsS --max-time 20 -o "$WORK/metrics-key-back.txt" "http://127.0.0.1:$PORT/metrics" ||
	fail "scrape after putting the key back failed"
expect_metric "$WORK/metrics-key-back.txt" ttn_up 1
ok "key back: the next scrape starts the service (ttn_up 1), no reset-failed needed"

# A crash loop: the process is killed (SIGKILL) as soon as it runs, scrapes
# keep coming. systemd restarts it every RestartSec= (2 s), shows the loop
# in systemctl status, and ttn.socket stays.
r0=$(prop ttn.service NRestarts)
t=$SECONDS
( while (( SECONDS - t < 10 )); do curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$PORT/metrics"; sleep 0.5; done ) &
scrapes_pid=$!
seen_status=
while (( SECONDS - t < 10 )); do
	case $(prop ttn.service SubState) in
		running) IN systemctl kill -s KILL --kill-who=main ttn.service 2>/dev/null ;;
		auto-restart) [[ -n $seen_status ]] || { IN systemctl status --no-pager --lines=0 ttn.service > "$WORK/status-loop.txt" 2>&1; seen_status=1; } ;;
	esac
	s=$(IN systemctl is-active ttn.socket)
	[[ $s == active ]] || fail "in a crash loop ttn.socket became '$s' (Result=$(prop ttn.socket Result))"
	sleep 0.2
done
wait $scrapes_pid
n=$(( $(prop ttn.service NRestarts) - r0 ))
(( n >= 3 && n <= 6 )) || fail "crash loop: $n restarts in 10 s, want 3 to 6 (one per RestartSec=2s)"
grep -q 'auto-restart' "$WORK/status-loop.txt" 2>/dev/null ||
	fail "systemctl status does not show the crash loop: $(head -n3 "$WORK/status-loop.txt" 2>/dev/null | xargs)"
ok "crash loop: $n restarts in 10 s (RestartSec=2s), status says '$(grep -o 'Active: .*auto-restart[^)]*)' "$WORK/status-loop.txt" | head -n1 | sed 's/ since.*//')', ttn.socket active throughout"
wait_for 15 "ttn.service active after the crash loop" sh -c "[ \"\$(timeout 10 nsenter -t $P -a systemctl is-active ttn.service)\" = active ]"
curl -fsS --max-time 20 -o /dev/null "http://127.0.0.1:$PORT/metrics" || fail "scrape after the crash loop failed"
ok "after the crash loop the service runs again and answers"

# ---------------------------------------------------------------------------
step "4: systemctl stop ttn.service ttn.socket"
IN systemctl stop ttn.service ttn.socket || fail "systemctl stop ttn.service ttn.socket failed"
for u in ttn.service ttn.socket; do
	s=$(IN systemctl is-active $u)
	[[ $s == inactive ]] || fail "$u is '$s' after stop, want inactive"
done
[[ $(prop ttn.service Result) == success ]] || fail "ttn.service Result=$(prop ttn.service Result) after stop, want success"
[[ $(prop ttn.service ExecMainCode)/$(prop ttn.service ExecMainStatus) == 1/0 ]] ||
	fail "ttn.service did not exit 0 on SIGTERM (ExecMainCode=$(prop ttn.service ExecMainCode) ExecMainStatus=$(prop ttn.service ExecMainStatus))"
ok "both inactive, Result=success, exited 0 on SIGTERM"
wait_for 5 "port $PORT to close" no_port
curl -sS --max-time 3 -o /dev/null "http://127.0.0.1:$PORT/metrics" 2>/dev/null && fail "port $PORT still answers after stop"
ok "port $PORT closed"
IN journalctl --no-pager -o json > "$WORK/journal-all.json" 2>&1
IN journalctl --no-pager -o verbose --all >> "$WORK/journal-all.json" 2>&1
for k in "$KEY" "$KEY2"; do
	k=${k#NNSXS.}; k=${k%.NOT-A-SECRET}
	grep -qF -- "$k" "$WORK/journal-all.json" && fail "an API key (…${k: -6}) appears in the journal"
done
ok "neither key used appears anywhere in the journal"

# ---------------------------------------------------------------------------
if [[ -n $DEB_NEWER ]]; then
	NEW_VERSION=$(dpkg-deb -f "$DEB_NEWER" Version)
	step "5a: upgrade $VERSION -> $NEW_VERSION restarts the running service"
	dpkg --compare-versions "$NEW_VERSION" gt "$VERSION" || fail "$DEB_NEWER ($NEW_VERSION) is not newer than $VERSION"
	IN systemctl start ttn.socket ttn.service || fail "cannot start ttn.socket ttn.service before the upgrade"
	pid_before=$(prop ttn.service MainPID)
	NEWNAME=$(basename "$DEB_NEWER")
	IN sh -c "cat > '/tmp/$NEWNAME' && chmod 0644 '/tmp/$NEWNAME'" < "$DEB_NEWER"
	IN sh -c "cd /tmp && apt-get install -y --no-install-recommends './$NEWNAME'" > "$WORK/apt-upgrade.log" 2>&1 ||
		{ sed 's/^/    /' "$WORK/apt-upgrade.log"; fail "apt install ./$NEWNAME (upgrade) failed"; }
	[[ $(IN dpkg-query -W -f='${Version}' ttn-exporter) == "$NEW_VERSION" ]] || fail "version after upgrade is not $NEW_VERSION"
	ok "apt install ./$NEWNAME"
	wait_for 10 "ttn.service active after upgrade" sh -c "[ \"\$(timeout 10 nsenter -t $P -a systemctl is-active ttn.service)\" = active ]"
	pid_after=$(prop ttn.service MainPID)
	[[ $pid_after != "$pid_before" && $pid_after != 0 ]] || fail "upgrade did not restart ttn.service (MainPID $pid_before -> $pid_after)"
	[[ $(IN systemctl is-active ttn.socket) == active ]] || fail "ttn.socket not active after upgrade"
	ok "ttn.service restarted (MainPID $pid_before -> $pid_after), ttn.socket active"
	curl -fsS --max-time 20 -o "$WORK/metrics3.txt" "http://127.0.0.1:$PORT/metrics" || fail "scrape after upgrade failed"
	expect_metric "$WORK/metrics3.txt" ttn_up 1
	IN stat -c '%U:%G %a' /etc/ttn-exporter /etc/ttn-exporter/key | tr '\n' ' ' | grep -qx 'root:root 750 root:root 600 ' ||
		fail "permissions of /etc/ttn-exporter or the key changed in the upgrade"
	ok "serving after upgrade (ttn_up 1); key and env kept, /etc/ttn-exporter still 0750"
else
	info "no newer .deb given: upgrade not tested"
fi

step "5b: apt remove stops everything and keeps the admin's key"
IN systemctl start ttn.socket ttn.service >/dev/null 2>&1
IN apt-get remove -y ttn-exporter > "$WORK/apt-remove.log" 2>&1 || { sed 's/^/    /' "$WORK/apt-remove.log"; fail "apt remove failed"; }
for u in ttn.service ttn.socket; do
	s=$(IN systemctl is-active $u)
	[[ $s == inactive ]] || fail "$u is '$s' after apt remove, want inactive"
done
wait_for 5 "port $PORT to close" no_port
IN test -e /usr/bin/ttn-exporter && fail "/usr/bin/ttn-exporter still there after remove"
IN test -f /etc/ttn-exporter/key || fail "apt remove deleted the admin's /etc/ttn-exporter/key"
IN test -f /etc/ttn-exporter/env || fail "apt remove deleted the admin's /etc/ttn-exporter/env"
ok "units stopped, port closed, binary gone, /etc/ttn-exporter/key and env kept"
LAST=${DEB_NEWER:-$DEB}; LASTNAME=$(basename "$LAST")
IN sh -c "cd /tmp && apt-get install -y --no-install-recommends './$LASTNAME'" > "$WORK/apt-reinstall.log" 2>&1 ||
	{ sed 's/^/    /' "$WORK/apt-reinstall.log"; fail "reinstall after remove failed"; }
[[ $(IN systemctl is-active ttn.socket) == active ]] || fail "ttn.socket not active after reinstalling a removed package"
curl -fsS --max-time 20 -o "$WORK/metrics4.txt" "http://127.0.0.1:$PORT/metrics" || fail "scrape after reinstall failed"
expect_metric "$WORK/metrics4.txt" ttn_up 1
ok "reinstall after remove: ttn.socket active again, the kept key works (ttn_up 1 on the first scrape)"

step "5c: apt purge leaves no unit, config or user"
IN apt-get purge -y ttn-exporter > "$WORK/apt-purge.log" 2>&1 || { sed 's/^/    /' "$WORK/apt-purge.log"; fail "apt purge failed"; }
IN dpkg-query -W -f='${Status}' ttn-exporter 2>/dev/null | grep -q 'installed\|config-files' && fail "dpkg still knows ttn-exporter after purge"
IN test -e /etc/ttn-exporter && fail "/etc/ttn-exporter still exists after purge: $(IN ls -la /etc/ttn-exporter)"
left=$(IN sh -c 'find /etc/systemd /usr/lib/systemd /lib/systemd /run/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked -name "ttn*" 2>/dev/null')
[[ -z $left ]] || fail "unit files or links left after purge: $left"
for u in ttn.service ttn.socket; do
	ls_=$(prop $u LoadState)
	[[ $ls_ == not-found ]] || fail "$u LoadState=$ls_ after purge, want not-found"
done
IN systemctl list-unit-files --no-legend 'ttn*' | grep -q . && fail "systemctl list-unit-files still lists ttn units"
IN grep -q '^ttn:' /etc/passwd /etc/group && fail "a ttn user or group is left in /etc/passwd or /etc/group"
IN getent passwd ttn >/dev/null && fail "getent passwd ttn still resolves after purge"
dyn=$(IN sh -c 'for s in /proc/[0-9]*/status; do awk "/^Uid:/ { if (\$2 >= 61184 && \$2 <= 65519) print FILENAME }" $s 2>/dev/null; done')
[[ -z $dyn ]] || fail "processes of a dynamic user left: $dyn"
IN test -e /var/lib/private/ttn -o -e /var/lib/ttn -o -e /var/lib/private/ttn-exporter -o -e /var/lib/ttn-exporter -o -e /run/credentials/ttn.service && fail "state or credentials of ttn.service left"
ok "no unit files or links, units not-found, no /etc/ttn-exporter, no user, no leftover processes"

trap - INT TERM HUP
exit 0

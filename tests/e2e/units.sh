#!/bin/bash
# Static checks of the systemd units and the Debian package (no container).
#
#   tests/e2e/units.sh [ttn-exporter_X_amd64.deb]
#
# 1. systemd-analyze verify ttn.socket ttn.service prints nothing. With a .deb
#    the units, binary and man page are the ones inside it; without, the
#    repository's systemd/ units and packaging/ttn-exporter.1. ExecStart=
#    names /usr/bin/ttn-exporter, which does not exist on a build host, so a
#    copy of the units is verified with ExecStart= pointing at the extracted
#    (or a stand-in) binary, and MANPATH pointing at the packaged man page so
#    that Documentation=man:ttn-exporter(1) is checked too.
# 2. systemd-analyze security --offline=true: exposure at most 1.5.
# 3. With a .deb: lintian reports no error and no warning; the units and the
#    example config in it are the repository's; the synopsis fits in 79
#    characters; the shipped config.toml names every key, all commented out.
set -uo pipefail

MAX_EXPOSURE=${TTN_MAX_EXPOSURE:-1.5}
REPO=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
DEB=${1:+$(readlink -f "$1")}
FAIL=0
ok()   { printf 'ok: %s\n' "$*"; }
bad()  { printf 'FAIL: %s\n' "$*" >&2; FAIL=1; }

command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [[ -n $DEB ]]; then
	[[ -f $DEB ]] || { echo "no such .deb: $1" >&2; exit 2; }
	dpkg-deb -x "$DEB" "$TMP/pkg" || { echo "cannot unpack $DEB" >&2; exit 2; }
	UNITDIR=$TMP/pkg/usr/lib/systemd/system
	BIN=$TMP/pkg/usr/bin/ttn-exporter
	MANDIR=$TMP/pkg/usr/share/man
	for u in ttn.socket ttn.service; do
		[[ -f $UNITDIR/$u ]] || { bad "$u is not in the package"; continue; }
		cmp -s "$UNITDIR/$u" "$REPO/systemd/$u" || bad "$u in the package differs from systemd/$u"
	done
else
	UNITDIR=$REPO/systemd
	BIN=$TMP/ttn-exporter
	printf '#!/bin/sh\nexit 0\n' > "$BIN"; chmod 0755 "$BIN"
	MANDIR=$TMP/man
	mkdir -p "$MANDIR/man1" && cp "$REPO/packaging/ttn-exporter.1" "$MANDIR/man1/"
fi

# ---- 1. verify -------------------------------------------------------------
mkdir -p "$TMP/units"
cp "$UNITDIR/ttn.socket" "$UNITDIR/ttn.service" "$TMP/units/"
grep -qx 'ExecStart=/usr/bin/ttn-exporter' "$TMP/units/ttn.service" || bad "ttn.service: ExecStart is not /usr/bin/ttn-exporter"
sed -i "s#^ExecStart=/usr/bin/ttn-exporter#ExecStart=$BIN#" "$TMP/units/ttn.service"
out=$(cd "$TMP/units" && MANPATH=$MANDIR systemd-analyze verify "$TMP/units/ttn.socket" "$TMP/units/ttn.service" 2>&1)
rc=$?
if [[ -n $out || $rc != 0 ]]; then
	bad "systemd-analyze verify (exit $rc):"; printf '  %s\n' "$out" >&2
else
	ok "systemd-analyze verify ttn.socket ttn.service: no output"
fi

# ---- 2. security -----------------------------------------------------------
sec=$(systemd-analyze security --no-pager --offline=true "$UNITDIR/ttn.service" 2>&1)
score=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for ttn.service: \([0-9.]*\).*/\1/p')
if [[ -z $score ]]; then
	bad "systemd-analyze security gave no score:"; printf '%s\n' "$sec" >&2
elif awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
	ok "systemd-analyze security --offline=true: exposure $score (<= $MAX_EXPOSURE)"
	printf '%s\n' "$sec" | grep '✗' | sed 's/  */ /g; s/^/   remaining: /'
else
	bad "exposure $score > $MAX_EXPOSURE"; printf '%s\n' "$sec" | grep '✗' >&2
fi

# ---- 3. package ------------------------------------------------------------
if [[ -n $DEB ]]; then
	if command -v lintian >/dev/null; then
		lint=$(lintian --no-tag-display-limit -I --show-overrides "$DEB" 2>&1 | grep -v 'running with root privileges')
		if printf '%s\n' "$lint" | grep -qE '^[EW]: '; then
			bad "lintian errors or warnings:"; printf '%s\n' "$lint" | grep -E '^[EW]: ' | sed 's/^/  /' >&2
		else
			ok "lintian: no errors, no warnings"
		fi
		printf '%s\n' "$lint" | grep -E '^[IO]: ' | sed 's/^/   /'
	else
		bad "lintian is not installed (apt-get install lintian)"
	fi

	synopsis=$(dpkg-deb -f "$DEB" Description | head -n1)
	second=$(dpkg-deb -f "$DEB" Description | sed -n 2p)
	desc=$(sed -n '/^\[package\]/,/^\[/{s/^description *= *"\(.*\)"$/\1/p}' "$REPO/Cargo.toml" | head -n1)
	if (( ${#desc} > 79 )); then
		bad "Cargo.toml description is ${#desc} characters; cargo-deb cuts the Debian synopsis at 79, so the package says: '$synopsis' + '$second'. Shorten it to at most 79."
	else
		ok "synopsis: $synopsis"
	fi

	cmp -s "$TMP/pkg/etc/ttn-exporter/config.toml" "$REPO/packaging/config.toml" || bad "config.toml in the package differs from packaging/config.toml"
	dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles 2>/dev/null | grep -qx /etc/ttn-exporter/config.toml ||
		bad "/etc/ttn-exporter/config.toml is not a conffile"
	[[ -f $TMP/pkg/usr/share/man/man1/ttn-exporter.1.gz ]] || bad "no gzipped man page"
	[[ -f $TMP/pkg/usr/share/doc/ttn-exporter/copyright ]] || bad "no copyright file"
	ls "$TMP"/pkg/usr/share/doc/ttn-exporter/README* >/dev/null 2>&1 || bad "no README in /usr/share/doc/ttn-exporter"
	for f in prometheus/alerts.yml prometheus/rules.yml prometheus/scrape.yml prometheus/alerts_test.yml \
		prometheus/rules_test.yml prometheus/availability_test.yml grafana/ttn-gateways.json \
		alertmanager/alertmanager.yml alertmanager/ttn.tmpl; do
		cmp -s "$TMP/pkg/usr/share/ttn-exporter/$f" "$REPO/packaging/$f" ||
			bad "/usr/share/ttn-exporter/$f is missing from the package or differs from packaging/$f"
	done
	dpkg-deb -f "$DEB" Depends | grep -qw ca-certificates || bad "Depends lacks ca-certificates"
	ok "Depends: $(dpkg-deb -f "$DEB" Depends)"
fi

F0=$FAIL; FAIL=0
CONF=${TMP}/pkg/etc/ttn-exporter/config.toml
[[ -f $CONF ]] || CONF=$REPO/packaging/config.toml
if grep -vqE '^[[:space:]]*(#|$)' "$CONF"; then
	bad "config.toml has uncommented lines: $(grep -vE '^[[:space:]]*(#|$)' "$CONF" | head -n3 | xargs)"
fi
KEYS="listen api_url api_key_file cache_ttl request_timeout gateways organization user legacy_metrics web_config_file"
if [[ -n $DEB && -x $BIN ]]; then
	# the daemon's own list: an unknown key's error names every valid one
	printf 'no_such_key = 1\n' > "$TMP/keys.toml"
	k=$(TTN_EXPORTER_API_KEY=NNSXS.UNITS-CHECK.NOT-A-SECRET timeout 30 "$BIN" --config "$TMP/keys.toml" --log-format text check 2>&1 |
		grep -o 'expected .*' | grep -oE '`[a-z_]+`' | tr -d '`' | grep -vx no_such_key | sort -u | xargs)
	[[ -n $k ]] && KEYS=$k
fi
for k in $KEYS; do
	# a plain key as '#key = ...', a table as '#[key.NAME]'
	grep -qE "^#($k = |\[$k\.)" "$CONF" || bad "config.toml does not show the key $k (as '#$k = ...' or '#[$k.NAME]')"
done
[[ $FAIL == 0 ]] && ok "config.toml: every key shown ($KEYS), all commented out"
F1=$FAIL; FAIL=0

# The packaged binary accepts the example as shipped and with its settings
# uncommented (exit 78 = invalid configuration; the API at 127.0.0.1:9 is
# unreachable on purpose, so a valid configuration fails later, differently).
if [[ -n $DEB && -x $BIN ]]; then
	# everything but organization/user (exclusive with gateways) and
	# web_config_file (its file does not exist here)
	sed -E 's/^#(listen|api_url|api_key_file|cache_ttl|request_timeout|gateways|legacy_metrics) = /\1 = /' "$CONF" > "$TMP/uncommented.toml"
	sed -E 's/^#(organization) = /\1 = /' "$CONF" > "$TMP/organization.toml"
	for c in "$CONF" "$TMP/uncommented.toml" "$TMP/organization.toml"; do
		TTN_EXPORTER_API_KEY=NNSXS.UNITS-CHECK.NOT-A-SECRET timeout 30 "$BIN" --config "$c" \
			--api-url http://127.0.0.1:9 --request-timeout 2s --log-format text check > "$TMP/check.out" 2>&1
		rc=$?
		if [[ $rc == 78 ]]; then
			bad "ttn-exporter rejects $(basename "$c") (the example config): $(tail -n1 "$TMP/check.out")"
		fi
	done
	printf 'no_such_key = 1\n' > "$TMP/bad.toml"
	TTN_EXPORTER_API_KEY=NNSXS.UNITS-CHECK.NOT-A-SECRET timeout 30 "$BIN" --config "$TMP/bad.toml" --log-format text check > "$TMP/check.out" 2>&1
	rc=$?
	[[ $rc == 78 ]] || bad "an unknown config key gives exit $rc, want 78"
	[[ $FAIL == 0 ]] && ok "the packaged binary accepts the example config (as shipped, uncommented, with organization); an unknown key exits 78"
fi

FAIL=$((F0 | F1 | FAIL))
if [[ $FAIL == 0 ]]; then echo "units.sh: all checks passed"; else echo "units.sh: FAILED" >&2; fi
exit $FAIL

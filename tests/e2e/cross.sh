#!/bin/bash
# The cross-compiled packages (issue 22), for .ci/run:
#
#   tests/e2e/cross.sh [ttn-exporter_X_amd64.deb]
#
# 1. packaging/build-deb.sh --arch A for each A in $TTN_CROSS_ARCHES
#    (default "arm64 armhf"); build-deb.sh installs the cross toolchain.
# 2. Each is checked against the host-architecture package (the argument, or
#    packaging/build-deb.sh --no-build when none is given; tests/e2e/units.sh
#    and run.sh check that one in full):
#    - Architecture is A; the binary is an ELF for A's machine (armhf: 32-bit,
#      hard-float ABI); Depends (from dpkg-shlibdeps on A's libc6) equals the
#      host package's;
#    - every other control field but Installed-Size is the same;
#    - the same files, modes and owners (dpkg-deb -c), and every file but
#      /usr/bin/ttn-exporter byte for byte the same;
#    - lintian: no errors, no warnings.
# 3. The arm64 package runs under emulation: tests/e2e/arm64.sh (needs
#    FAKE_TTS_BIN) when arm64 is in the list.
# Needs root (apt-get for the toolchains, the arm64 root filesystem).
# Cost on 2 cores: about 9 minutes of compiling per architecture the first
# time, plus tests/e2e/arm64.sh (about 1 minute; up to 15 more the first time).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
ARCHES=${TTN_CROSS_ARCHES:-arm64 armhf}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
FAIL=0
ok()  { printf 'ok: %s\n' "$*"; }
bad() { printf 'FAIL: %s\n' "$*" >&2; FAIL=1; }

if [[ $# -ge 1 ]]; then
	host_deb=$(readlink -f "$1")
else
	host_deb=$(packaging/build-deb.sh --no-build -o "$OUT/host/")
fi
host_arch=$(dpkg-deb -f "$host_deb" Architecture)
dpkg-deb -x "$host_deb" "$OUT/host-tree"
rm "$OUT/host-tree/usr/bin/ttn-exporter"   # the one file that differs
# dpkg-deb -c without sizes and dates: mode, owner, path
listing() { dpkg-deb -c "$1" | awk '{ $3 = ""; $4 = ""; $5 = ""; print }'; }
# sizes too, for everything but the binary
sizes() { dpkg-deb -c "$1" | awk '$6 != "./usr/bin/ttn-exporter" { print $3, $6 }'; }
fields() { dpkg-deb -f "$1" | grep -vE '^(Architecture|Installed-Size):'; }
listing "$host_deb" > "$OUT/host.list"
sizes "$host_deb" > "$OUT/host.sizes"
fields "$host_deb" > "$OUT/host.fields"

for arch in $ARCHES; do
	echo "== packaging/build-deb.sh --arch $arch" >&2
	deb=$(nice -n 10 packaging/build-deb.sh --arch "$arch" -o "$OUT/$arch/") || { bad "$arch: build-deb.sh failed"; continue; }
	name=$(basename "$deb")
	[[ $name == ttn-exporter_*_"$arch".deb ]] || bad "$arch: the package is named $name"
	got=$(dpkg-deb -f "$deb" Architecture)
	[[ $got == "$arch" ]] && ok "$name: Architecture $arch" || bad "$name: Architecture is $got"

	dpkg-deb -x "$deb" "$OUT/$arch-tree"
	bin=$OUT/$arch-tree/usr/bin/ttn-exporter
	# ELF: class (byte 4), machine (bytes 18-19, little endian)
	class=$(od -An -j4 -N1 -tx1 "$bin" | tr -d ' \n')
	machine=$(od -An -j18 -N2 -tx1 "$bin" | tr -d ' \n')
	case $arch in
		arm64) want="02 b700 aarch64" ;;
		armhf) want="01 2800 arm" ;;
		amd64) want="02 3e00 x86-64" ;;
	esac
	read -r wclass wmachine wname <<< "$want"
	if [[ $class == "$wclass" && $machine == "$wmachine" ]]; then
		ok "$name: /usr/bin/ttn-exporter is a $((${wclass#0} * 32))-bit $wname ELF"
	else
		bad "$name: /usr/bin/ttn-exporter has ELF class $class machine $machine, want $wclass $wmachine ($wname)"
	fi
	if [[ $arch == armhf ]]; then
		# e_flags (offset 36 in a 32-bit ELF): EF_ARM_ABI_FLOAT_HARD 0x400, EABI version 5
		flags=$(od -An -j36 -N4 -tu4 "$bin" | tr -d ' \n')
		(( (flags & 0x400) && (flags >> 24) == 5 )) && ok "$name: EABI5, hard-float" ||
			bad "$name: ELF flags $(printf '%#x' "$flags"), want EABI5 hard-float (0x5000400)"
	fi

	d=$(dpkg-deb -f "$deb" Depends) hd=$(dpkg-deb -f "$host_deb" Depends)
	[[ $d == "$hd" ]] && ok "$name: Depends: $d (as $host_arch)" || bad "$name: Depends: $d; $host_arch has: $hd"
	diff <(fields "$deb") "$OUT/host.fields" > "$OUT/$arch.fields.diff" &&
		ok "$name: every other control field as $host_arch" ||
		{ bad "$name: control fields differ from $host_arch:"; sed 's/^/  /' "$OUT/$arch.fields.diff" >&2; }
	{
		diff <(listing "$deb") "$OUT/host.list"
		diff <(sizes "$deb") "$OUT/host.sizes"
		rm "$bin"
		diff -r --no-dereference "$OUT/$arch-tree" "$OUT/host-tree"
	} > "$OUT/$arch.contents.diff" 2>&1
	if [[ -s $OUT/$arch.contents.diff ]]; then
		bad "$name: contents differ from $host_arch:"; sed 's/^/  /' "$OUT/$arch.contents.diff" >&2
	else
		ok "$name: the same $(wc -l < "$OUT/host.list") entries, modes and owners as $host_arch (dpkg-deb -c); every file but the binary identical"
	fi
	lint=$(lintian --no-tag-display-limit "$deb" 2>&1 | grep -v 'running with root privileges' || true)
	if printf '%s\n' "$lint" | grep -qE '^[EW]: '; then
		bad "$name: lintian errors or warnings:"; printf '%s\n' "$lint" | grep -E '^[EW]: ' | sed 's/^/  /' >&2
	else
		ok "$name: lintian: no errors, no warnings"
	fi
	[[ $arch == arm64 ]] && arm64_deb=$deb
done

if [[ " $ARCHES " == *" arm64 "* && -n ${arm64_deb:-} ]]; then
	echo "== tests/e2e/arm64.sh" >&2
	[[ -n ${FAKE_TTS_BIN:-} ]] || { bad "FAKE_TTS_BIN is not set (cargo build --release -p fake-tts)"; exit 1; }
	tests/e2e/arm64.sh "$arm64_deb" || bad "tests/e2e/arm64.sh failed"
fi

(( FAIL == 0 )) && echo "cross.sh: all checks passed" || { echo "cross.sh: FAILED" >&2; exit 1; }

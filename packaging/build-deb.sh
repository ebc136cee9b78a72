#!/bin/bash
# Build the ttn-exporter Debian package and print the path of the .deb.
#
#   packaging/build-deb.sh                      # release build + .deb
#   packaging/build-deb.sh --deb-revision 2     # extra arguments go to cargo-deb
#   packaging/build-deb.sh --no-build           # repackage the last release build
#   packaging/build-deb.sh --arch arm64         # cross-compile: arm64, armhf or amd64
#
# Works on a fresh machine with a Rust toolchain (https://rustup.rs): installs
# cargo-deb with `cargo install cargo-deb --locked` when it is missing.
# --arch defaults to the host's (dpkg --print-architecture). For another one
# the standard library for the target comes from rustup when its target is
# installed (rustup target add), otherwise from Debian: rustc-web and
# libstd-rust-web-dev:ARCH (bookworm-security; rustc and libstd-rust-dev on
# later releases) with RUSTC=/usr/bin/rustc, and the cross C compiler
# (gcc-TRIPLE, for ring and the final link). Missing Debian packages are
# installed with apt-get (as root; dpkg --add-architecture ARCH first), so the
# shared-library dependencies can be read from libc6:ARCH. About 9 minutes per
# architecture on 2 cores.
# Honours CARGO_TARGET_DIR. The .deb goes to <target dir>/packages/ unless -o
# is given: cargo-deb deletes every other version of the package from
# <target dir>/debian/ on each run, which would break building two versions
# for an upgrade test. Progress goes to stderr, the .deb path alone to stdout.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

log() { printf 'build-deb: %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
	[[ -x $HOME/.cargo/bin/cargo ]] && PATH=$HOME/.cargo/bin:$PATH
fi
command -v cargo >/dev/null 2>&1 || {
	log "cargo not found: install a Rust toolchain first (https://rustup.rs), then rerun"
	exit 1
}

if ! cargo deb --version >/dev/null 2>&1; then
	log "cargo-deb is missing; installing it (cargo install cargo-deb --locked)"
	cargo install cargo-deb --locked >&2
fi

for f in README.md packaging/config.toml packaging/ttn-exporter.1 packaging/README.Debian \
	debian/copyright debian/changelog systemd/ttn.service systemd/ttn.socket; do
	[[ -f $f ]] || { log "missing $f (packaged into the .deb)"; exit 1; }
done

host_arch=$(dpkg --print-architecture)
arch=$host_arch
args=()
has_output=
while (($#)); do
	case $1 in
		--arch) [[ $# -ge 2 ]] || { log "--arch needs a value (amd64, arm64, armhf)"; exit 2; }
			arch=$2; shift 2; continue ;;
		--arch=*) arch=${1#--arch=}; shift; continue ;;
		-o|--output|--output=*|-o?*) has_output=1 ;;
	esac
	args+=("$1")
	shift
done

# Debian architecture -> Rust target and GNU triple (cross compiler prefix)
case $arch in
	amd64) triple=x86_64-unknown-linux-gnu gnu=x86_64-linux-gnu ;;
	arm64) triple=aarch64-unknown-linux-gnu gnu=aarch64-linux-gnu ;;
	armhf) triple=armv7-unknown-linux-gnueabihf gnu=arm-linux-gnueabihf ;;
	*) log "unsupported --arch $arch (amd64, arm64 or armhf)"; exit 2 ;;
esac

# rustc has the standard library for TRIPLE
has_std() { # rustc triple
	local libdir
	libdir=$("$1" --print target-libdir --target "$2" 2>/dev/null) || return 1
	compgen -G "$libdir/libstd-*.rlib" >/dev/null
}

if [[ $arch != "$host_arch" ]]; then
	if ! has_std "${RUSTC:-rustc}" "$triple"; then
		# Debian's compiler and its multiarch standard library for the target
		if apt-cache show rustc-web >/dev/null 2>&1; then
			rust_pkgs=(rustc-web "libstd-rust-web-dev:$arch")
		else
			rust_pkgs=(rustc "libstd-rust-dev:$arch")
		fi
		pkgs=("${rust_pkgs[@]}" "gcc-$gnu" "libc6-dev-$arch-cross" "libc6:$arch")
		if ! has_std /usr/bin/rustc "$triple" || ! command -v "$gnu-gcc" >/dev/null; then
			[[ $(id -u) == 0 ]] || {
				log "the $arch toolchain is missing; as root: dpkg --add-architecture $arch && apt-get update && apt-get install ${pkgs[*]}"
				exit 1
			}
			log "installing the $arch cross toolchain: ${pkgs[*]}"
			dpkg --print-foreign-architectures | grep -qx "$arch" || dpkg --add-architecture "$arch"
			apt-get update -qq >&2
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
		fi
		has_std /usr/bin/rustc "$triple" || { log "/usr/bin/rustc has no standard library for $triple"; exit 1; }
		export RUSTC=/usr/bin/rustc
	fi
	command -v "$gnu-gcc" >/dev/null || { log "$gnu-gcc is missing (apt-get install gcc-$gnu)"; exit 1; }
	# the linker for the final link, the C compiler for ring's C and assembly
	t=${triple//-/_}
	export "CARGO_TARGET_${t^^}_LINKER=$gnu-gcc" "CC_$t=$gnu-gcc" "AR_$t=$gnu-ar"
	args+=(--target "$triple")
	log "cross-compiling for $arch ($triple) with $("${RUSTC:-rustc}" --version)"
fi
if [[ -z $has_output ]]; then
	target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
		sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
	target_dir=${target_dir:-${CARGO_TARGET_DIR:-target}}
	mkdir -p "$target_dir/packages"
	args+=(-o "$target_dir/packages/")
fi

# cargo-deb prints the path of the .deb it wrote as its last line on stdout.
out=$(cargo deb --locked -p ttn-exporter "${args[@]}")
deb=$(printf '%s\n' "$out" | tail -n 1)
[[ -f $deb ]] || { log "cargo deb did not report a .deb (got: $out)"; exit 1; }
log "built $(dpkg-deb -W --showformat='${Package} ${Version} ${Architecture}' "$deb")"
readlink -f "$deb"

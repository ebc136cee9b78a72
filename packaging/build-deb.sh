#!/bin/bash
# Build the ttn-exporter Debian package and print the path of the .deb.
#
#   packaging/build-deb.sh                      # release build + .deb
#   packaging/build-deb.sh --deb-revision 2     # extra arguments go to cargo-deb
#   packaging/build-deb.sh --no-build           # repackage the last release build
#
# Works on a fresh machine with a Rust toolchain (https://rustup.rs): installs
# cargo-deb with `cargo install cargo-deb --locked` when it is missing.
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

args=("$@")
has_output=
for a in "$@"; do
	case $a in -o|--output|--output=*|-o?*) has_output=1 ;; esac
done
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

#!/bin/bash
# The whole packaging check in one command (for .ci/run):
#   1. build the .deb (packaging/build-deb.sh) and a newer build of it
#      (same binary, version "<version>+e2e.1") for the upgrade test;
#   2. build the fake TTS server (tests/fake-tts);
#   3. tests/e2e/units.sh on the .deb (verify, security score, lintian, ...);
#   4. tests/e2e/run.sh DEB NEWER_DEB under a real systemd in a container,
#      once per Debian release in TTN_E2E_SUITES (default "bookworm trixie":
#      oldstable with systemd 252 and stable with systemd 257).
# Needs root. Honours CARGO_TARGET_DIR. About 50 s per release once built and
# once its root filesystem is cached (each first build takes about a minute).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "== building the .deb" >&2
deb=$(packaging/build-deb.sh -o "$OUT/1/")
version=$(dpkg-deb -f "$deb" Version)
newer=$(packaging/build-deb.sh --no-build --deb-version "$version+e2e.1" -o "$OUT/2/")
echo "== building fake-tts" >&2
cargo build --release --locked -p fake-tts >&2
echo "== tests/e2e/units.sh" >&2
tests/e2e/units.sh "$deb"
for suite in ${TTN_E2E_SUITES:-bookworm trixie}; do
	echo "== tests/e2e/run.sh on Debian $suite" >&2
	TTN_E2E_SUITE=$suite FAKE_TTS_BIN=$TARGET/release/fake-tts tests/e2e/run.sh "$deb" "$newer"
done

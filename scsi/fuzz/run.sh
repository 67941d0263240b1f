#!/usr/bin/env bash
# Bounded fuzz run of the scsi parsers.
#
#   scsi/fuzz/run.sh [ITERATIONS]      (default 200000)
#
# Uses cargo-fuzz (libFuzzer, nightly) when `cargo +nightly fuzz` is available;
# otherwise runs the same harness body over a seeded pseudo-random stream with
# the stable toolchain (tests/fuzz_smoke.rs). Set SCSI_FUZZ_SEED to change the
# stable run's seed. Prints which of the two ran.
set -euo pipefail
iterations=${1:-200000}
case "$iterations" in
	''|*[!0-9]*) echo "usage: $0 [ITERATIONS]" >&2; exit 2;;
esac
fuzz_dir=$(cd "$(dirname "$0")" && pwd)
crate_dir=$(dirname "$fuzz_dir")

if cargo +nightly fuzz --version >/dev/null 2>&1; then
	echo "fuzz: cargo-fuzz (libFuzzer) on target 'parsers', $iterations runs"
	cd "$crate_dir"
	cargo +nightly fuzz run parsers -- -runs="$iterations"
else
	echo "fuzz: cargo-fuzz not available; stable fallback tests/fuzz_smoke.rs, $iterations iterations"
	cd "$crate_dir"
	SCSI_FUZZ_ITERATIONS=$iterations cargo test -p scsi --features fuzzing --test fuzz_smoke -- --nocapture
fi

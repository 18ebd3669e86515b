#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time (default 30 s each) and fails on
# the first crash; the input that crashed is left in fuzz/artifacts/<target>/. Not part of
# CI: run it by hand, and for longer before a release.
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# cargo-fuzz needs nightly compiler flags (sanitizers, coverage instrumentation); with only
# a stable toolchain installed, RUSTC_BOOTSTRAP=1 lets the stable compiler accept them.
# Each target grows its corpus in fuzz/corpus/<target>/ (not committed), starting from the
# committed seeds in fuzz/seeds/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-30}"
shift || true
targets=("$@")

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${targets[*]}"
cargo fuzz build

for target in "${targets[@]}"; do
  echo "== fuzzing $target for ${seconds}s"
  mkdir -p "corpus/$target"
  # -rss_limit_mb: a target that grows without bound is a finding too.
  if ! cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1; then
    echo "fuzz: $target crashed; the input is in fuzz/artifacts/$target/" >&2
    echo "reproduce with: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target artifacts/$target/<file>)" >&2
    exit 1
  fi
done
echo "fuzz: no crash in ${targets[*]} (${seconds}s each)"

#!/usr/bin/env bash
# Fuzz smoke run: builds the cargo-fuzz targets and runs each for a short while from the
# committed seed corpus. Usage: fuzz/smoke.sh [seconds per target, default 30].
#
# cargo-fuzz needs nightly compiler flags (AddressSanitizer); the one stable toolchain
# here provides them with RUSTC_BOOTSTRAP=1. Long runs: the same command with a larger
# -max_total_time (see the issue notes for the figures).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo fuzz build -O # debug assertions: see fuzz/Cargo.toml
for target in $(cargo fuzz list); do
  # A scratch corpus: the committed one (hand-written seeds and the minimised corpus of
  # the long campaigns) stays as it is.
  work="$(mktemp -d)"
  cp corpus/"$target"/* "$work"/
  dict=()
  [ -f dict/"$target".dict ] && dict=(-dict=dict/"$target".dict)
  cargo fuzz run -O "$target" "$work" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 "${dict[@]}" \
    -print_final_stats=1 2>&1 | grep -E '^(stat::|Done|INFO: seed corpus)|ERROR|panicked' || true
  rm -rf "$work"
  # A crash makes `cargo fuzz run` exit non-zero; `pipefail` does not see it through grep:
  # check for artifacts instead.
  if compgen -G "artifacts/$target/*" >/dev/null; then
    echo "fuzz target $target found a failure:" artifacts/"$target"/*
    exit 1
  fi
done

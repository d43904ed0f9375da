#!/usr/bin/env bash
# Line coverage that the committed corpus of each fuzz target reaches in the engine and
# the drivers (sslfile/src/engine.rs, sslfile/src/ssl_file/), merged over the targets.
# Usage: fuzz/coverage.sh [target...]   (default: every target)
#
# `cargo fuzz coverage` needs llvm-profdata and llvm-cov of the compiler's own LLVM version
# in the toolchain's rustlib bin directory; they are linked there from $LLVM_BIN (default
# Debian's llvm-22, the LLVM of rustc 1.95: `apt-get install llvm-22`).
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
host="$(rustc -vV | sed -n 's/^host: //p')"
rustlib_bin="$(rustc --print sysroot)/lib/rustlib/$host/bin"
llvm="${LLVM_BIN:-/usr/lib/llvm-22/bin}"
for tool in llvm-profdata llvm-cov; do
  [ -x "$rustlib_bin/$tool" ] || ln -sf "$llvm/$tool" "$rustlib_bin/$tool"
done
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
bins=()
profiles=()
for target in "${targets[@]}"; do
  echo "== $target: running its corpus ($(ls corpus/"$target" | wc -l) inputs)"
  cargo fuzz coverage -O "$target" corpus/"$target" -- -rss_limit_mb=4096 >/dev/null 2>&1
  bins+=("target/$host/coverage/$host/release/$target")
  profiles+=("coverage/$target/coverage.profdata")
done
"$llvm/llvm-profdata" merge -sparse "${profiles[@]}" -o coverage/merged.profdata
src="$(cd .. && pwd)/sslfile/src"
others=()
for bin in "${bins[@]:1}"; do others+=(-object "$bin"); done
"$llvm/llvm-cov" report "${bins[0]}" "${others[@]}" \
  -instr-profile=coverage/merged.profdata \
  "$src/engine.rs" "$src/framing.rs" "$src/ssl_file" |
  sed "s|$src/||"

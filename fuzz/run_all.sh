#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) one after another, seeding the corpora
# first; prints one summary line per target. Needs a nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). Crashes land in fuzz/artifacts/<target>/.
#   fuzz/run_all.sh [SECONDS] [TARGET...]
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-600}"; shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(config_json safetensors_file safetensors_index pickle_scan pytorch_bin conll jsonl panx tokenizer_json)
fi
"$here/seed.sh" >/dev/null
mkdir -p "$here/logs" "$here/artifacts"
cd "$here"
# Build once, then run the binaries: edits made while the fuzzers run do not touch them.
cargo +nightly fuzz build -O >"$here/logs/build.log" 2>&1 || { echo "fuzz build failed: see $here/logs/build.log"; exit 1; }
bin="${CARGO_TARGET_DIR:-$here/target}/x86_64-unknown-linux-gnu/release"
for t in "${targets[@]}"; do
  log="$here/logs/$t.log"
  mkdir -p "artifacts/$t"
  "$bin/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" \
    -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 >"$log" 2>&1
  status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  crash=$(grep -m1 -o 'Test unit written to .*' "$log" || true)
  echo "$t: exit $status, ${runs:-?} runs, ${cov:-no cov}, ${crash:-no crash}"
done

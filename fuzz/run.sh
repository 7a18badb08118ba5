#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of outside input (libFuzzer through libfuzzer-sys, built by
# the pinned stable toolchain with LLVM's SanitizerCoverage passes: no nightly, no cargo-fuzz).
#
#   fuzz/run.sh [--merge] [SECONDS] [TARGET...]
#
# Builds the targets (src/bin/*.rs) and runs each for SECONDS (default 60) from its seed corpus
# corpus/<target>/; new inputs go to target/found/<target>/, crashes to target/artifacts/<target>/.
# --merge then adds the found inputs that reach new code to corpus/<target>/ (commit those).
# Exits 1 when any target crashed, naming the input; reproduce one with
#   fuzz/target/<triple>/release/<target> <input>
# Needs a C++ compiler (libFuzzer itself is C++, built by libfuzzer-sys).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

merge=0
if [[ ${1:-} == --merge ]]; then
    merge=1
    shift
fi
secs="${1:-60}"
[[ $secs =~ ^[0-9]+$ ]] || { echo "usage: $0 [--merge] [SECONDS] [TARGET...]" >&2; exit 2; }
shift || true
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=()
    for f in src/bin/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

# Coverage instrumentation (what cargo-fuzz passes, minus its nightly-only sanitizer flags). With an
# explicit --target, build scripts and proc macros are built without it.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
triple="$(rustc -vV | sed -n 's/^host: //p')"
build=(cargo build --locked --release --target "$triple")
for t in "${targets[@]}"; do
    [[ -f src/bin/$t.rs ]] || { echo "no target $t (src/bin/$t.rs)" >&2; exit 2; }
    build+=(--bin "$t")
done
"${build[@]}"

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "target/found/$t" "target/artifacts/$t"
    echo "=== fuzzing $t for ${secs}s"
    # -timeout: one input taking 10 s is a finding; -rss_limit_mb: so is 2 GiB of memory.
    if "target/$triple/release/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="target/artifacts/$t/" \
        "target/found/$t" "corpus/$t" 2>"target/$t.log"; then
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^#[0-9]+.*DONE' "target/$t.log" || true
    else
        tail -n 40 "target/$t.log"
        failed+=("$t")
    fi
    if [[ $merge == 1 ]]; then
        "target/$triple/release/$t" -merge=1 "corpus/$t" "target/found/$t" 2>>"target/$t.log"
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzzing found crashes in: ${failed[*]} (inputs under fuzz/target/artifacts/)" >&2
    exit 1
fi
echo "fuzzed ${#targets[@]} targets for ${secs}s each: no crash"

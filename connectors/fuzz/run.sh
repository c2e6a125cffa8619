#!/usr/bin/env bash
# Builds every fuzz target once, seeds the corpora (seed.sh), then fuzzes each target in turn for
# FUZZ_SECS seconds (default 60), one process at a time, and prints: target, executions, corpus
# size, crashes. A crash (or out-of-memory) is minimised with `cargo fuzz tmin`, copied to
# regressions/<target>/ and its panic written to runs/<target>.crash.txt.
#
#   FUZZ_SECS=60 bash connectors/fuzz/run.sh [TARGET...]
#
# Environment: FUZZ_SECS; FUZZ_SANITIZER (default `none`: the parsers are safe Rust, and without
# AddressSanitizer a run executes about twice the inputs; `address` also works); FUZZ_TARGET_DIR
# (default $HOME/.cache/trustloop/fuzz); FUZZ_SKIP_BUILD=1 and FUZZ_SKIP_SEED=1 to reuse the last
# build and corpora. Stable Rust is enough: RUSTC_BOOTSTRAP=1 lets it take cargo fuzz's nightly flags.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=targets.sh
source "$here/targets.sh"
secs=${FUZZ_SECS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
target_dir=${FUZZ_TARGET_DIR:-$HOME/.cache/trustloop/fuzz}
export RUSTC_BOOTSTRAP=1
fuzz=(cargo fuzz)
fuzz_opts=(--fuzz-dir "$here" --sanitizer "$sanitizer" --target-dir "$target_dir")

if (($# > 0)); then targets=("$@"); else mapfile -t targets < <(fuzz_existing_targets); fi
command -v cargo-fuzz >/dev/null || {
  echo "run.sh: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 1
}

if [[ ${FUZZ_SKIP_BUILD:-} != 1 ]]; then
  (cd "$here" && "${fuzz[@]}" build "${fuzz_opts[@]}")
fi
if [[ ${FUZZ_SKIP_SEED:-} != 1 ]]; then
  bash "$here/seed.sh" "${targets[@]}"
fi
bin_dir="$target_dir/$(rustc -vV | sed -n 's/^host: //p')/release"
mkdir -p "$here/runs"

# Minimises the crash ARTIFACT of TARGET into regressions/TARGET/ and records its panic.
keep_crash() { # TARGET ARTIFACT
  local t=$1 artifact=$2 min name
  (cd "$here" && "${fuzz[@]}" tmin "${fuzz_opts[@]}" -r 2000 "$t" "$artifact") >"$here/runs/$t.tmin.log" 2>&1 || true
  min=$(ls -t "$here/artifacts/$t"/minimized-from-* 2>/dev/null | head -n 1 || true)
  [[ -n $min ]] || min=$artifact
  name="$(basename "$artifact" | cut -d- -f1)-$(sha1sum "$min" | cut -c1-16)"
  mkdir -p "$here/regressions/$t"
  cp "$min" "$here/regressions/$t/$name"
  RUST_BACKTRACE=1 "$bin_dir/$t" "$here/regressions/$t/$name" >"$here/runs/$t.crash.txt" 2>&1 || true
  echo "$t: crash kept as regressions/$t/$name (panic in runs/$t.crash.txt)" >&2
}

rows=()
for t in "${targets[@]}"; do
  corpus="$here/corpus/$t"
  artifacts="$here/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  list_artifacts() { find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) | sort; }
  list_artifacts >"$here/runs/$t.before"
  log="$here/runs/$t.log"
  echo "== $t: ${secs}s" >&2
  "$bin_dir/$t" "$corpus" -max_len="$(fuzz_max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
    -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  size=$(find "$corpus" -type f | wc -l)
  mapfile -t found < <(list_artifacts | comm -13 "$here/runs/$t.before" -)
  rm -f "$here/runs/$t.before"
  crashes=${#found[@]}
  for a in "${found[@]}"; do
    case "$(basename "$a")" in
      crash-* | oom-*) keep_crash "$t" "$a" ;;
      timeout-*) echo "$t: timeout input kept as $a" >&2 ;;
    esac
  done
  rows+=("$(printf '%-28s %12s %8s %8s' "$t" "${execs:-?}" "$size" "$crashes")")
done

{
  echo "fuzzed $(date -u +%FT%TZ), ${secs}s a target, sanitizer $sanitizer"
  printf '%-28s %12s %8s %8s\n' target executions corpus crashes
  printf '%s\n' "${rows[@]}"
} | tee "$here/runs/summary.txt"

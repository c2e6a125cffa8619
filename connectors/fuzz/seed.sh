#!/usr/bin/env bash
# Builds corpus/<target>/ for every fuzz target from the repository's own fixtures and, when
# present, the shared real-world data (TRUSTLOOP_SHARED_DATA, else <workspace>/../shared/data).
# A bounded sample per target: files no longer than the target's -max_len, at most
# SEED_MAX_FILES (default 150) spread evenly over the sorted candidates. Files are named by their
# SHA-1, as libFuzzer names its own, so seeding twice adds nothing. Usage: bash seed.sh [TARGET...]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=targets.sh
source "$here/targets.sh"
root=$(cd "$here/../.." && pwd)
data=${TRUSTLOOP_SHARED_DATA:-$root/../shared/data}
[[ -d $data ]] || data=""
max_files=${SEED_MAX_FILES:-150}
scratch=$(mktemp -d)
cap=0 # the current target's size cap
trap 'rm -rf "$scratch"' EXIT

# Files under the given folders (missing ones skipped) no longer than $cap bytes, optionally only
# names matching a regex.
files() { # REGEX DIR...
  local re=$1
  shift
  local d
  for d in "$@"; do
    [[ -n $d && -d $d ]] && find "$d" -type f -size "-$((cap + 1))c" | grep -E -- "$re" || true
  done
}

# JSON files under DIR... (no longer than $cap bytes) whose content matches the extended regex PATTERN.
containing() { # PATTERN DIR...
  local pat=$1
  shift
  local d
  for d in "$@"; do
    [[ -d $d ]] && find "$d" -type f -name '*.json' -size "-$((cap + 1))c" -print0 | xargs -0 -r grep -lE -- "$pat" || true
  done
}

fmt_fixtures="$root/connectors/formats/tests/fixtures"
scalibr=${data:+$data/lockfiles/osv-scalibr}

# The lockfile kinds' seeds: osv-scalibr's testdata folder, and the formats crate's fixtures whose
# path names the kind (FIXTURE_REGEX).
lockfile_candidates() { # SCALIBR_DIR FIXTURE_REGEX
  [[ -n $scalibr ]] && files . "$scalibr/$1/testdata"
  files "$2" "$fmt_fixtures"
}

# Candidate seed files of a target, one path a line.
candidates() {
  case "$1" in
    osv_json)
      files '\.json$' "$root/pipeline/tests/fixtures" "$root/tests/fixtures"
      [[ -n $data ]] && files '\.json$' "$data/advisories/rustsec" "$data/advisories/go-vulndb" "$data/advisories/almalinux" ;;
    osv_yaml) [[ -n $data ]] && files '\.ya?ml$' "$data/advisories/pypa" ;;
    osv_history_line)
      if [[ -n $data && -f $data/advisories/rustsec-history.jsonl.gz ]]; then
        mkdir -p "$scratch/history"
        # Every 20th line of the stream, one file each (split names them in order).
        gzip -dc "$data/advisories/rustsec-history.jsonl.gz" | awk 'NR % 20 == 1' |
          split -l 1 -a 4 - "$scratch/history/line-"
        files . "$scratch/history"
      fi ;;
    csaf) [[ -n $data ]] && containing '"csaf_version"' "$data/vex" ;;
    csaf_advisory)
      files '\.json$' "$root/connectors/tests/fixtures/csaf"
      [[ -n $data ]] && containing '"csaf_version"' "$data/vex" ;;
    openvex) [[ -n $data ]] && containing 'openvex' "$data/vex" ;;
    kev)
      files '\.json$' "$root/connectors/tests/fixtures/kev"
      [[ -n $data ]] && files '\.json$' "$data/advisories/kev" ;;
    feed_document)
      # Every kind a what-if candidate may be: KEV catalogs, OSV and CSAF advisories, VEX.
      files '\.json$' "$root/connectors/tests/fixtures/kev" "$root/pipeline/tests/fixtures"
      [[ -n $data ]] && files '\.json$' "$data/advisories/kev" "$data/advisories/rustsec" "$data/vex" ;;
    epss) files '\.csv$' "$root/connectors/tests/fixtures/epss" ;;
    signed_note) files . "$root/schemas/tests/fixtures/transparency/notes" ;;
    dsse_envelope) files '\.json$' "$root/schemas/tests/fixtures/transparency/dsse" ;;
    evidence_bundle) files '\.json$' "$root/replay/tests/fixtures/evidence" ;;
    avro_event) files '\.avro$' "$root/schemas/tests/fixtures/avro" ;;
    policy_yaml)
      files '\.ya?ml$' "$root/operators/src/policy" "$root/tests/cases" "$root/pipeline/tests/recorded/inputs" ;;
    notify_rules) files '\.ya?ml$' "$root/operators/tests/fixtures/notify" ;;
    # Real segments of the embedded log: the recorded log replay tests read.
    segment_salvage | segment_repair) files '\.log$' "$root/pipeline/tests/recorded/log/topics" ;;
    cyclonedx_vex) [[ -n $data ]] && containing '"bomFormat"' "$data/vex" ;;
    sbom_json)
      files '\.json$' "$fmt_fixtures"
      [[ -n $data ]] && containing '"bomFormat"|"spdxVersion"' "$data/sboms" "$data/vex" ;;
    cargo_lock)
      files 'Cargo\.lock' "$root/pipeline/tests/fixtures" "$fmt_fixtures"
      [[ -n $data ]] && files . "$data/lockfiles/osv-scalibr/cargolock/testdata" && files '\.lock$' "$data/lockfiles" ;;
    purl)
      mkdir -p "$scratch/purl"
      # Package URLs quoted in the SBOMs, one file each.
      { [[ -n $data ]] && grep -rhoE '"pkg:[^"]{1,400}"' "$data/sboms" "$data/vex" || true; } |
        tr -d '"' | sort -u | awk 'NR % 7 == 1' | split -l 1 -a 4 - "$scratch/purl/p-"
      # split keeps the newline; a purl has none.
      for f in "$scratch"/purl/p-*; do [[ -f $f ]] && printf '%s' "$(cat "$f")" >"$f"; done
      files . "$scratch/purl" ;;
    lockfile_package_lock) lockfile_candidates packagelockjson 'package-lock|npm-shrinkwrap|/npm/' ;;
    lockfile_yarn_lock) lockfile_candidates yarnlock 'yarn' ;;
    lockfile_pnpm_lock) lockfile_candidates pnpmlock 'pnpm' ;;
    lockfile_bun_lock) lockfile_candidates bunlock 'bun' ;;
    lockfile_poetry_lock) lockfile_candidates poetrylock 'poetry' ;;
    lockfile_pipfile_lock) lockfile_candidates pipfilelock 'pipfile|Pipfile' ;;
    lockfile_uv_lock) lockfile_candidates uvlock '/uv' ;;
    lockfile_pdm_lock) lockfile_candidates pdmlock 'pdm' ;;
    lockfile_requirements) lockfile_candidates requirements 'requirements' ;;
    lockfile_go_mod) lockfile_candidates gomod 'go\.mod|gomod|/go/' ;;
    lockfile_gemfile_lock) lockfile_candidates gemfilelock 'gemfile|Gemfile|gems\.locked' ;;
    lockfile_composer_lock) lockfile_candidates composerlock 'composer' ;;
    lockfile_pubspec_lock) lockfile_candidates pubspec 'pubspec' ;;
    lockfile_mix_lock) lockfile_candidates mixlock 'mix' ;;
    lockfile_gradle_lockfile) lockfile_candidates gradlelockfile 'gradle' ;;
    lockfile_nuget_lock) lockfile_candidates packageslockjson 'nuget|packages\.lock' ;;
    lockfile_package_resolved) lockfile_candidates packageresolved 'swift|Package\.resolved' ;;
    lockfile_renv_lock) lockfile_candidates renvlock 'renv' ;;
    lockfile_pom_xml) lockfile_candidates pomxml 'pom|maven' ;;
    sbom_cyclonedx_xml)
      files '\.xml$' "$fmt_fixtures"
      [[ -n $data ]] && files '\.xml$' "$data/sboms" ;;
    sbom_spdx_tag_value)
      files '\.spdx$' "$fmt_fixtures"
      [[ -n $data ]] && files '\.spdx$' "$data/sboms" ;;
    sbom_spdx3) files 'spdx3|spdx-3|\.jsonld$' "$fmt_fixtures" ;;
    *) echo "seed.sh: no seeds known for $1" >&2 ;;
  esac
}

# Copies a bounded, evenly spread sample of the target's candidates into corpus/<target>/.
seed() {
  local t=$1 out list n step
  cap=$(fuzz_max_len "$t")
  out="$here/corpus/$t"
  mkdir -p "$out"
  list="$scratch/$t.list"
  candidates "$t" | sort -u >"$list" || true
  n=$(wc -l <"$list")
  step=$(((n + max_files - 1) / max_files))
  ((step > 0)) || step=1
  awk -v s="$step" '(NR - 1) % s == 0' "$list" | while IFS= read -r f; do
    cp "$f" "$out/$(sha1sum "$f" | cut -c1-40)"
  done
  # An empty input, so no target starts from nothing.
  : >"$out/empty"
  printf '%-28s %5d files in corpus, from %5d candidates (<= %d bytes)\n' "$t" "$(find "$out" -type f | wc -l)" "$n" "$cap"
}

if (($# > 0)); then targets=("$@"); else mapfile -t targets < <(fuzz_existing_targets); fi
[[ -n $data ]] || echo "seed.sh: no shared data found; seeding from the repository's fixtures only" >&2
for t in "${targets[@]}"; do seed "$t"; done

# Sourced by seed.sh and run.sh: the fuzz targets and the longest input each is given (-max_len,
# also the size cap of its seeds). Texts a parser reads whole are allowed more than a purl.

# Every target, in the order run.sh runs them.
FUZZ_TARGETS=(
  purl osv_json osv_yaml osv_history_line csaf csaf_advisory openvex cyclonedx_vex kev epss feed_document sbom_json cargo_lock
  lockfile_package_lock lockfile_yarn_lock lockfile_pnpm_lock lockfile_bun_lock lockfile_poetry_lock
  lockfile_pipfile_lock lockfile_uv_lock lockfile_pdm_lock lockfile_requirements lockfile_go_mod
  lockfile_gemfile_lock lockfile_composer_lock lockfile_pubspec_lock lockfile_mix_lock
  lockfile_gradle_lockfile lockfile_nuget_lock lockfile_package_resolved lockfile_renv_lock lockfile_pom_xml
  sbom_cyclonedx_xml sbom_spdx_tag_value sbom_spdx3 signed_note dsse_envelope evidence_bundle avro_event segment_salvage segment_repair
  policy_yaml notify_rules
)

# Targets whose source file exists (the SBOM text-form targets come and go with their modules).
fuzz_existing_targets() {
  local here t
  here=$(dirname "${BASH_SOURCE[0]}")
  for t in "${FUZZ_TARGETS[@]}"; do
    [[ -f "$here/fuzz_targets/$t.rs" ]] && echo "$t"
  done
}

# -max_len of a target, in bytes.
fuzz_max_len() {
  case "$1" in
    purl) echo 512 ;;
    signed_note | dsse_envelope | avro_event) echo 16384 ;;
    evidence_bundle) echo 65536 ;;
    segment_salvage | segment_repair) echo 65536 ;;
    osv_history_line | osv_json | osv_yaml | csaf | csaf_advisory | openvex | cyclonedx_vex | kev | epss | feed_document) echo 65536 ;;
    sbom_*) echo 131072 ;;
    *) echo 32768 ;;
  esac
}

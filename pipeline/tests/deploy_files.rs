//! The deployment files under `deploy/`, checked with what runs here: no Docker engine, Kubernetes
//! cluster, Prometheus or Grafana is at hand, so nothing is started. Instead:
//!
//! - every YAML file parses (serde_yaml_ng, merge keys applied) and every JSON file parses;
//! - compose.yaml has its services, its `depends_on` name services (healthy ones have a
//!   healthcheck), its relative bind mounts and named volumes exist, its builds' Dockerfiles exist;
//! - every `trustloop` command line of compose.yaml and of the Kubernetes manifests (the image's
//!   entrypoint and command, as Docker and Kubernetes combine them) parses with the real CLI, and
//!   every `TRUSTLOOP_*` variable they set is one an option of that command reads, with a value
//!   the option accepts;
//! - Prometheus scrapes exactly the compose services that run `trustloop run --listen`;
//! - the Grafana provisioning points at compose services, and the dashboard's PromQL names only
//!   metrics (and labels) the code exports, its SQL only tables of the views' DDL, and its
//!   panels only provisioned data sources;
//! - the Kubernetes manifests are complete objects, consistent with each other and the kustomization.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use trustloop::cli::Cli;
use trustloop_runtime::ops::{OperatorSnapshot, Snapshot};
use trustloop_runtime::stage::{AdapterStats, StageStats};
use trustloop_serve::gateway::metrics::GatewayMetrics;

/// The services compose.yaml must define.
const SERVICES: [&str; 8] =
    ["kafka", "postgres", "grafana", "prometheus", "trustloop-1", "trustloop-2", "trustloop-3", "views"];

/// The compose services that run trustloop, and the Kubernetes objects whose containers do.
const COMPOSE_TRUSTLOOP: [&str; 4] = ["trustloop-1", "trustloop-2", "trustloop-3", "views"];
const K8S_TRUSTLOOP: [&str; 2] = ["StatefulSet/trustloop", "Deployment/trustloop-views"];

/// The image the Kubernetes manifests run (built from deploy/Dockerfile).
const IMAGE: &str = "ghcr.io/trustloop/trustloop:latest";

/// Variables trustloop reads itself, not through a command-line option: its log filters.
const NON_OPTION_VARIABLES: [&str; 2] = ["TRUSTLOOP_LOG", "TRUSTLOOP_OTLP_LOG"];

/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: [&str; 2] = ["instance", "job"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

fn deploy() -> PathBuf {
    repo().join("deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every document of a YAML file, with merge keys (`<<`) applied; empty documents left out.
fn yaml_documents(path: &Path) -> Vec<Yaml> {
    let text = read(path);
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let mut value = Yaml::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        value.apply_merge().unwrap_or_else(|e| panic!("{}: merge keys: {e}", path.display()));
        if !value.is_null() {
            docs.push(value);
        }
    }
    docs
}

/// A YAML file of one document.
fn yaml(path: &Path) -> Yaml {
    let mut docs = yaml_documents(path);
    assert_eq!(docs.len(), 1, "{}: expected one YAML document", path.display());
    docs.remove(0)
}

fn json(path: &Path) -> Json {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files under `dir` (recursively), sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.contains(&e))
}

/// A YAML scalar as text (`None` for null, mappings and sequences).
fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A YAML string field, or a panic naming `what`.
fn text<'a>(v: &'a Yaml, what: &str) -> &'a str {
    v.as_str().unwrap_or_else(|| panic!("{what}: expected a string, found {v:?}"))
}

/// A command line given as a YAML sequence or as one string (split at whitespace).
fn words(v: &Yaml, what: &str) -> Vec<String> {
    match v {
        Yaml::String(s) => s.split_whitespace().map(str::to_string).collect(),
        Yaml::Sequence(items) => {
            items.iter().map(|i| scalar(i).unwrap_or_else(|| panic!("{what}: {i:?} is not a word"))).collect()
        }
        other => panic!("{what}: expected a command line, found {other:?}"),
    }
}

/// The keys of a YAML mapping (empty if `v` is not one).
fn keys(v: &Yaml) -> Vec<String> {
    v.as_mapping().map(|m| m.keys().filter_map(scalar).collect()).unwrap_or_default()
}

/// The image deploy/Dockerfile builds: what Docker and Kubernetes prepend to a command.
struct Image {
    text: String,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
}

fn image() -> Image {
    let path = deploy().join("Dockerfile");
    let text = read(&path);
    let exec_form = |instruction: &str| -> Vec<String> {
        let line = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix(instruction))
            .next_back()
            .unwrap_or_else(|| panic!("{}: no {instruction}", path.display()));
        serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("{}: {instruction}{line}: not the exec (JSON) form: {e}", path.display()))
    };
    let entrypoint = exec_form("ENTRYPOINT ");
    let cmd = exec_form("CMD ");
    Image { text, entrypoint, cmd }
}

/// compose.yaml's services and declared named volumes.
struct Compose {
    services: BTreeMap<String, Yaml>,
    volumes: BTreeSet<String>,
}

fn compose() -> Compose {
    let doc = yaml(&deploy().join("compose.yaml"));
    let services = doc["services"]
        .as_mapping()
        .expect("compose.yaml: services is a mapping")
        .iter()
        .map(|(k, v)| (text(k, "compose.yaml: a service name").to_string(), v.clone()))
        .collect();
    Compose { services, volumes: keys(&doc["volumes"]).into_iter().collect() }
}

/// `path` with its `..` and `.` components resolved (without touching the file system).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The build context and Dockerfile of a compose service, if it builds an image.
fn compose_build(name: &str, service: &Yaml) -> Option<(PathBuf, PathBuf)> {
    let build = &service["build"];
    let (context, dockerfile) = match build {
        Yaml::Null => return None,
        Yaml::String(context) => (context.as_str(), "Dockerfile"),
        _ => (
            text(&build["context"], &format!("compose.yaml: {name}: build.context")),
            build["dockerfile"].as_str().unwrap_or("Dockerfile"),
        ),
    };
    let context = normalize(&deploy().join(context));
    let dockerfile = normalize(&context.join(dockerfile));
    Some((context, dockerfile))
}

/// The bind mounts (host path) and named volumes of a compose service.
fn compose_mounts(name: &str, service: &Yaml) -> (Vec<(String, String)>, Vec<String>) {
    let (mut binds, mut named) = (Vec::new(), Vec::new());
    for volume in service["volumes"].as_sequence().into_iter().flatten() {
        let what = format!("compose.yaml: {name}: volume {volume:?}");
        let (kind, source, target) = match volume {
            Yaml::String(short) => {
                let mut parts = short.split(':');
                let source = parts.next().unwrap_or_default().to_string();
                let target = parts.next().unwrap_or_else(|| panic!("{what}: no target")).to_string();
                let kind = if source.starts_with(['.', '/', '~']) { "bind" } else { "volume" };
                (kind.to_string(), source, target)
            }
            long => (
                text(&long["type"], &what).to_string(),
                text(&long["source"], &what).to_string(),
                text(&long["target"], &what).to_string(),
            ),
        };
        match kind.as_str() {
            "bind" => binds.push((source, target)),
            "volume" => named.push(source),
            _ => {}
        }
    }
    (binds, named)
}

/// One `trustloop` process a deployment file starts: its command line and the variables it gets
/// (`None`: from a Secret, unknown here).
#[derive(Debug)]
struct Invocation {
    origin: String,
    argv: Vec<String>,
    env: BTreeMap<String, Option<String>>,
}

fn compose_invocations(compose: &Compose, image: &Image) -> Vec<Invocation> {
    let dockerfile = deploy().join("Dockerfile");
    let mut out = Vec::new();
    for (name, service) in &compose.services {
        if compose_build(name, service).is_none_or(|(_, d)| d != dockerfile) {
            continue;
        }
        let what = format!("compose.yaml: {name}");
        let mut argv = match &service["entrypoint"] {
            Yaml::Null => image.entrypoint.clone(),
            e => words(e, &what),
        };
        argv.extend(match &service["command"] {
            Yaml::Null => image.cmd.clone(),
            c => words(c, &what),
        });
        let env = match &service["environment"] {
            Yaml::Mapping(m) => m.iter().map(|(k, v)| (text(k, &what).to_string(), scalar(v))).collect(),
            Yaml::Sequence(items) => items
                .iter()
                .map(|i| {
                    let item = text(i, &what);
                    match item.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (item.to_string(), None),
                    }
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        out.push(Invocation { origin: what, argv, env });
    }
    out
}

/// The Kubernetes manifests: (file name, document), in kustomization order.
fn manifests() -> Vec<(String, Yaml)> {
    let dir = deploy().join("k8s");
    let kustomization = yaml(&dir.join("kustomization.yaml"));
    let mut out = Vec::new();
    for resource in kustomization["resources"].as_sequence().expect("kustomization.yaml: resources") {
        let file = text(resource, "kustomization.yaml: a resource");
        for doc in yaml_documents(&dir.join(file)) {
            out.push((file.to_string(), doc));
        }
    }
    out
}

/// `Kind/name` of a manifest.
fn object_name(doc: &Yaml) -> String {
    format!("{}/{}", doc["kind"].as_str().unwrap_or("?"), doc["metadata"]["name"].as_str().unwrap_or("?"))
}

/// The pod template's spec of a workload (or a Pod's spec).
fn pod_spec(doc: &Yaml) -> Option<&Yaml> {
    [&doc["spec"]["template"]["spec"], &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
        .into_iter()
        .find(|s| s.is_mapping())
        .or_else(|| (doc["kind"].as_str() == Some("Pod")).then(|| &doc["spec"]))
}

fn pod_labels(doc: &Yaml) -> BTreeMap<String, String> {
    let labels = &doc["spec"]["template"]["metadata"]["labels"];
    keys(labels).into_iter().filter_map(|k| scalar(&labels[k.as_str()]).map(|v| (k, v))).collect()
}

fn containers(spec: &Yaml) -> impl Iterator<Item = &Yaml> {
    ["initContainers", "containers"].into_iter().flat_map(|k| spec[k].as_sequence().into_iter().flatten())
}

fn is_trustloop_image(container: &Yaml) -> bool {
    container["image"].as_str().is_some_and(|i| i.starts_with("ghcr.io/trustloop/trustloop"))
}

/// The variables of a Kubernetes container: its ConfigMaps' data, then its own `env`.
fn k8s_env(container: &Yaml, manifests: &[(String, Yaml)], what: &str) -> BTreeMap<String, Option<String>> {
    let mut env = BTreeMap::new();
    for from in container["envFrom"].as_sequence().into_iter().flatten() {
        if let Some(name) = from["configMapRef"]["name"].as_str() {
            let (_, map) = manifests
                .iter()
                .find(|(_, d)| d["kind"].as_str() == Some("ConfigMap") && d["metadata"]["name"].as_str() == Some(name))
                .unwrap_or_else(|| panic!("{what}: envFrom names ConfigMap {name}, which the manifests lack"));
            for key in keys(&map["data"]) {
                env.insert(key.clone(), scalar(&map["data"][key.as_str()]));
            }
        }
    }
    for var in container["env"].as_sequence().into_iter().flatten() {
        env.insert(text(&var["name"], what).to_string(), scalar(&var["value"]));
    }
    env
}

fn k8s_invocations(manifests: &[(String, Yaml)], image: &Image) -> Vec<Invocation> {
    let mut out = Vec::new();
    for (file, doc) in manifests {
        let Some(spec) = pod_spec(doc) else { continue };
        for container in containers(spec).filter(|c| is_trustloop_image(c)) {
            let what =
                format!("k8s/{file}: {} container {}", object_name(doc), container["name"].as_str().unwrap_or("?"));
            let env = k8s_env(container, manifests, &what);
            // Kubernetes: `command` replaces the entrypoint (and drops the image's CMD), `args`
            // replaces the CMD.
            let command = &container["command"];
            let mut argv = if command.is_null() { image.entrypoint.clone() } else { words(command, &what) };
            match (&container["args"], command.is_null()) {
                (Yaml::Null, true) => argv.extend(image.cmd.iter().cloned()),
                (Yaml::Null, false) => {}
                (args, _) => argv.extend(words(args, &what)),
            }
            // `$(VAR)` expands to the container's variable where its value is known here.
            for word in &mut argv {
                for (k, v) in &env {
                    if let Some(v) = v {
                        *word = word.replace(&format!("$({k})"), v);
                    }
                }
            }
            out.push(Invocation { origin: what, argv, env });
        }
    }
    out
}

/// Every invocation of trustloop in compose.yaml and the Kubernetes manifests, after checking
/// that each expected one is there.
fn invocations() -> Vec<Invocation> {
    let image = image();
    let compose = compose_invocations(&compose(), &image);
    let k8s = k8s_invocations(&manifests(), &image);
    for name in COMPOSE_TRUSTLOOP {
        let origin = format!("compose.yaml: {name}");
        assert!(compose.iter().any(|i| i.origin == origin), "{origin}: not built from deploy/Dockerfile");
    }
    for object in K8S_TRUSTLOOP {
        assert!(
            k8s.iter().any(|i| i.origin.contains(&format!(" {object} "))),
            "k8s: {object} runs no container of {IMAGE}"
        );
    }
    compose.into_iter().chain(k8s).collect()
}

#[test]
fn every_yaml_and_json_file_parses() {
    let files = files_under(&deploy());
    let yamls: Vec<_> = files.iter().filter(|p| has_extension(p, &["yaml", "yml"])).collect();
    let jsons: Vec<_> = files.iter().filter(|p| has_extension(p, &["json"])).collect();
    for path in &yamls {
        assert!(!yaml_documents(path).is_empty(), "{}: no YAML document", path.display());
    }
    for path in &jsons {
        json(path);
    }
    for expected in [
        "Dockerfile",
        "Dockerfile.dockerignore",
        "compose.yaml",
        "prometheus/prometheus.yml",
        "grafana/provisioning/datasources/datasources.yaml",
        "grafana/provisioning/dashboards/dashboards.yaml",
        "grafana/dashboards/trustloop.json",
        "k8s/kustomization.yaml",
    ] {
        assert!(files.contains(&deploy().join(expected)), "deploy/{expected} is missing");
    }
}

#[test]
fn dockerfile_builds_and_runs_trustloop_unprivileged() {
    let image = image();
    let from: Vec<&str> = image.text.lines().filter_map(|l| l.trim().strip_prefix("FROM ")).collect();
    assert!(from.first().is_some_and(|f| f.starts_with("rust:1-bookworm ")), "Dockerfile: build stage {from:?}");
    assert_eq!(from.last(), Some(&"debian:bookworm-slim"), "Dockerfile: runtime stage");
    assert!(
        image.text.contains("cargo build --release --locked -p trustloop --bin trustloop"),
        "Dockerfile: the cargo build of the trustloop binary"
    );
    let user = image.text.lines().filter_map(|l| l.trim().strip_prefix("USER ")).next_back();
    assert!(
        user.is_some_and(|u| !["root", "0"].contains(&u.split(':').next().unwrap_or_default())),
        "Dockerfile: the runtime user {user:?} must not be root"
    );
    assert_eq!(image.entrypoint, ["trustloop"], "Dockerfile: ENTRYPOINT");
    assert!(image.text.lines().any(|l| l.trim() == "EXPOSE 8080"), "Dockerfile: EXPOSE 8080");
    let ignore = read(&deploy().join("Dockerfile.dockerignore"));
    assert!(ignore.lines().any(|l| l.trim() == "target/"), "Dockerfile.dockerignore: target/ is not excluded");
}

#[test]
fn compose_services_dependencies_mounts_and_builds() {
    let compose = compose();
    for name in SERVICES {
        assert!(compose.services.contains_key(name), "compose.yaml: no service {name}");
    }
    for (name, service) in &compose.services {
        let depends_on = &service["depends_on"];
        let dependencies = match depends_on {
            Yaml::Sequence(items) => items.iter().map(|i| text(i, name).to_string()).collect(),
            other => keys(other),
        };
        for dependency in &dependencies {
            let target = compose.services.get(dependency);
            assert!(target.is_some(), "compose.yaml: {name} depends on {dependency}, which is not a service");
            if depends_on[dependency.as_str()]["condition"].as_str() == Some("service_healthy") {
                assert!(
                    target.is_some_and(|t| t["healthcheck"].is_mapping()),
                    "compose.yaml: {name} waits for {dependency} to be healthy, which has no healthcheck"
                );
            }
        }
        let (binds, named) = compose_mounts(name, service);
        for (source, _) in binds {
            if !source.starts_with(['/', '~']) {
                assert!(
                    deploy().join(&source).exists(),
                    "compose.yaml: {name} mounts {source}, which does not exist (relative to deploy/)"
                );
            }
        }
        for volume in named {
            assert!(compose.volumes.contains(&volume), "compose.yaml: {name} mounts volume {volume}, not declared");
        }
        if let Some((context, dockerfile)) = compose_build(name, service) {
            assert!(dockerfile.is_file(), "compose.yaml: {name} builds {}, which does not exist", dockerfile.display());
            // deploy/Dockerfile copies the workspace: its context is the repository root.
            if dockerfile == deploy().join("Dockerfile") {
                assert_eq!(
                    context,
                    repo(),
                    "compose.yaml: {name}: deploy/Dockerfile's context is not the repository root"
                );
            }
        }
    }
    for name in ["trustloop-1", "trustloop-2", "trustloop-3", "views"] {
        let depends_on = &compose.services[name]["depends_on"];
        assert_eq!(
            depends_on["kafka"]["condition"].as_str(),
            Some("service_healthy"),
            "compose.yaml: {name} must wait for a healthy kafka"
        );
    }
    assert_eq!(
        compose.services["views"]["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy"),
        "compose.yaml: views must wait for a healthy postgres"
    );
    for name in ["trustloop-1", "trustloop-2", "trustloop-3"] {
        let check = words(&compose.services[name]["healthcheck"]["test"], name).join(" ");
        assert!(check.contains("/readyz"), "compose.yaml: {name}: the healthcheck asks /readyz: {check}");
    }
    let ports = words(&compose.services["trustloop-1"]["ports"], "trustloop-1");
    assert!(ports.iter().any(|p| p == "8080:8080"), "compose.yaml: trustloop-1 publishes 8080: {ports:?}");
}

#[test]
fn command_lines_parse_with_the_cli() {
    let mut failures = Vec::new();
    for i in invocations() {
        let program = i.argv.first().map(|p| p.rsplit('/').next().unwrap_or(p));
        if program != Some("trustloop") {
            failures.push(format!("{}: runs {:?}, not trustloop", i.origin, i.argv));
            continue;
        }
        if let Err(e) = Cli::try_parse_from(&i.argv) {
            failures.push(format!("{}: {:?} does not parse:\n{e}", i.origin, i.argv));
        }
    }
    assert!(failures.is_empty(), "command lines the CLI refuses:\n\n{}", failures.join("\n\n"));
}

/// The options of one command that read a variable: variable → (long name, takes a value).
fn env_options(cmd: &clap::Command) -> BTreeMap<String, (Option<String>, bool)> {
    cmd.get_arguments()
        .filter_map(|a| {
            let var = a.get_env()?.to_str()?.to_string();
            Some((var, (a.get_long().map(str::to_string), a.get_action().takes_values())))
        })
        .collect()
}

/// Every variable an option of some command reads.
fn all_env_variables(cmd: &clap::Command, out: &mut BTreeSet<String>) {
    out.extend(env_options(cmd).into_keys());
    for sub in cmd.get_subcommands() {
        all_env_variables(sub, out);
    }
}

#[test]
fn environment_variables_are_options_of_the_command() {
    let root = Cli::command();
    let mut known = BTreeSet::new();
    all_env_variables(&root, &mut known);
    let mut failures = Vec::new();
    for i in invocations() {
        // The options that apply: the root's and those of each subcommand on the command line.
        let mut path = vec![&root];
        let mut cmd = &root;
        for word in i.argv.iter().skip(1) {
            if let Some(sub) = cmd.find_subcommand(word) {
                cmd = sub;
                path.push(cmd);
            }
        }
        let command = path.iter().map(|c| c.get_name()).collect::<Vec<_>>().join(" ");
        let options: BTreeMap<_, _> = path.iter().flat_map(|c| env_options(c)).collect();
        for (var, value) in i.env.iter().filter(|(k, _)| k.starts_with("TRUSTLOOP_")) {
            if NON_OPTION_VARIABLES.contains(&var.as_str()) {
                continue;
            }
            let Some((long, takes_value)) = options.get(var) else {
                let why = if known.contains(var) { "not read by" } else { "read by no option of" };
                failures.push(format!("{}: sets {var}, {why} `{command}`", i.origin));
                continue;
            };
            // The variable counts where the command line lacks the option: its value must parse.
            let (Some(long), true, Some(value)) = (long, takes_value, value) else { continue };
            let flag = format!("--{long}");
            if i.argv.iter().any(|w| *w == flag || w.starts_with(&format!("{flag}="))) {
                continue;
            }
            let mut argv = i.argv.clone();
            argv.extend([flag, value.clone()]);
            if let Err(e) = Cli::try_parse_from(&argv) {
                failures.push(format!("{}: {var}={value:?} is refused:\n{e}", i.origin));
            }
        }
    }
    assert!(failures.is_empty(), "variables the CLI does not take:\n\n{}", failures.join("\n\n"));
}

#[test]
fn prometheus_scrapes_every_pipeline_process() {
    let path = deploy().join("prometheus/prometheus.yml");
    let config = yaml(&path);
    let mut targets = BTreeSet::new();
    for job in config["scrape_configs"].as_sequence().expect("prometheus.yml: scrape_configs") {
        let metrics_path = job["metrics_path"].as_str().unwrap_or("/metrics");
        assert_eq!(metrics_path, "/metrics", "prometheus.yml: job {:?}: metrics_path", job["job_name"]);
        for static_config in job["static_configs"].as_sequence().into_iter().flatten() {
            targets.extend(words(&static_config["targets"], "prometheus.yml: targets"));
        }
    }
    // `host:port` of every compose service running `trustloop run --listen ADDR`.
    let mut expected = BTreeSet::new();
    for i in compose_invocations(&compose(), &image()) {
        let Some(at) = i.argv.iter().position(|w| w == "--listen") else { continue };
        let listen = i.argv.get(at + 1).unwrap_or_else(|| panic!("{}: --listen without an address", i.origin));
        let port = listen.rsplit(':').next().unwrap_or_default();
        let service = i.origin.trim_start_matches("compose.yaml: ");
        expected.insert(format!("{service}:{port}"));
    }
    assert_eq!(
        expected.iter().map(String::as_str).collect::<Vec<_>>(),
        ["trustloop-1:8080", "trustloop-2:8080", "trustloop-3:8080"],
        "compose.yaml: the processes that serve /metrics"
    );
    assert_eq!(targets, expected, "prometheus.yml: targets are not the compose services that serve /metrics");
}

/// The provisioned data sources: uid → type.
fn datasources() -> BTreeMap<String, String> {
    let path = deploy().join("grafana/provisioning/datasources/datasources.yaml");
    let config = yaml(&path);
    let mut out = BTreeMap::new();
    for ds in config["datasources"].as_sequence().expect("datasources.yaml: datasources") {
        let uid = text(&ds["uid"], "datasources.yaml: uid").to_string();
        let kind = text(&ds["type"], "datasources.yaml: type").to_string();
        assert!(out.insert(uid.clone(), kind).is_none(), "datasources.yaml: uid {uid} twice");
    }
    out
}

#[test]
fn grafana_provisioning_points_at_compose() {
    let compose = compose();
    let config = yaml(&deploy().join("grafana/provisioning/datasources/datasources.yaml"));
    for ds in config["datasources"].as_sequence().expect("datasources.yaml: datasources") {
        let url = text(&ds["url"], "datasources.yaml: url");
        let host = url.split_once("://").map_or(url, |(_, rest)| rest).split([':', '/']).next().unwrap_or_default();
        assert!(compose.services.contains_key(host), "datasources.yaml: {url}: {host} is not a compose service");
    }
    let uids = datasources();
    assert_eq!(uids.get("prometheus").map(String::as_str), Some("prometheus"), "datasources.yaml: Prometheus");
    assert!(uids.contains_key("trustloop-views"), "datasources.yaml: no uid trustloop-views");

    let (binds, _) = compose_mounts("grafana", &compose.services["grafana"]);
    let mounted = |source: &str| {
        binds
            .iter()
            .find(|(s, _)| s.trim_end_matches('/') == source)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("compose.yaml: grafana does not mount {source}"))
    };
    assert_eq!(mounted("./grafana/provisioning"), "/etc/grafana/provisioning", "compose.yaml: grafana provisioning");
    let providers = yaml(&deploy().join("grafana/provisioning/dashboards/dashboards.yaml"));
    for provider in providers["providers"].as_sequence().expect("dashboards.yaml: providers") {
        assert_eq!(
            provider["options"]["path"].as_str(),
            Some(mounted("./grafana/dashboards").as_str()),
            "dashboards.yaml: the provider's path is not where compose.yaml mounts grafana/dashboards"
        );
    }
}

/// The `trustloop_…` names in `text` (metric names).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("trustloop_") {
        let preceded = rest[..at].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let name: String =
            rest[at..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        if !preceded {
            out.insert(name.clone());
        }
        rest = &rest[at + name.len()..];
    }
    out
}

/// The label names of each metric family, from what the code renders for `/metrics`.
fn exported_labels() -> BTreeMap<String, BTreeSet<String>> {
    let mut snapshot = Snapshot::default();
    snapshot.operators.push(OperatorSnapshot {
        name: "trust",
        stats: StageStats::default(),
        lag: vec![("telemetry".into(), 0, 1)],
    });
    snapshot.adapters.insert("edge".into(), AdapterStats::default());
    let gateway = GatewayMetrics::default();
    gateway.request("events", 200);
    gateway.events("telemetry", 1);
    let text = trustloop_runtime::ops::prometheus::render(&snapshot) + &gateway.render();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(decl) = line.strip_prefix("# TYPE ") {
            out.entry(decl.split(' ').next().unwrap_or_default().to_string()).or_default();
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap_or_default().to_string();
            let labels = line.split_once('{').and_then(|(_, l)| l.rsplit_once('}')).map_or("", |(l, _)| l);
            let names = labels.split(',').filter_map(|l| l.split_once('=')).map(|(k, _)| k.to_string());
            out.entry(name).or_default().extend(names);
        }
    }
    out
}

/// The label names a PromQL expression uses: in selectors (`{a="x"}`) and groupings (`by (a)`).
fn promql_labels(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for selector in expr.split('{').skip(1).filter_map(|s| s.split_once('}').map(|(inside, _)| inside)) {
        for matcher in selector.split(',') {
            let name = matcher.split(['=', '!', '~']).next().unwrap_or_default().trim();
            if !name.is_empty() {
                out.insert(name.to_string());
            }
        }
    }
    for keyword in ["by", "without"] {
        let mut rest = expr;
        while let Some(at) = rest.find(keyword) {
            let before = rest[..at].chars().next_back();
            let after = rest[at + keyword.len()..].trim_start();
            let word_start = !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if word_start && after.starts_with('(') {
                let inside = after[1..].split(')').next().unwrap_or_default();
                out.extend(inside.split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()));
            }
            rest = &rest[at + keyword.len()..];
        }
    }
    out
}

/// The `{{label}}` names of a legend format.
fn legend_labels(format: &str) -> BTreeSet<String> {
    format.split("{{").skip(1).filter_map(|s| s.split_once("}}")).map(|(l, _)| l.trim().to_string()).collect()
}

/// Words of a SQL (or PromQL) text: identifiers, keywords, `$variables`, qualified names.
fn sql_tokens(sql: &str) -> Vec<String> {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.' | '"')))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The tables a query reads: the names after FROM and JOIN (subqueries skipped). Not a SQL parser:
/// `EXTRACT(x FROM y)` and `IS DISTINCT FROM` would be misread (and then fail the test).
fn sql_tables(sql: &str) -> BTreeSet<String> {
    let tokens = sql_tokens(sql);
    let mut out = BTreeSet::new();
    for pair in tokens.windows(2) {
        if ["from", "join"].contains(&pair[0].to_ascii_lowercase().as_str()) {
            let name = pair[1].rsplit('.').next().unwrap_or_default().trim_matches('"').to_string();
            if !["select", "lateral"].contains(&name.to_ascii_lowercase().as_str()) {
                out.insert(name);
            }
        }
    }
    out
}

/// The tables of the views' DDL (pipeline/serve/migrations/views/).
fn view_tables() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("serve/migrations/views");
    let mut out = BTreeSet::new();
    for path in files_under(&dir).into_iter().filter(|p| has_extension(p, &["sql"])) {
        let tokens = sql_tokens(&read(&path));
        for w in tokens.windows(3) {
            if w[0].eq_ignore_ascii_case("create") && w[1].eq_ignore_ascii_case("table") {
                out.insert(w[2].trim_matches('"').to_string());
            }
        }
    }
    assert!(!out.is_empty(), "{}: no CREATE TABLE", dir.display());
    out
}

/// The panels of a dashboard, those inside rows included.
fn all_panels(panels: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    for p in panels.as_array().into_iter().flatten() {
        out.push(p);
        out.extend(all_panels(&p["panels"]));
    }
    out
}

#[test]
fn dashboard_names_real_metrics_tables_and_datasources() {
    let path = deploy().join("grafana/dashboards/trustloop.json");
    let dashboard = json(&path);
    assert_eq!(dashboard["uid"], "trustloop", "trustloop.json: uid");
    assert_eq!(dashboard["title"], "trustloop", "trustloop.json: title");
    assert_eq!(dashboard["schemaVersion"], 39, "trustloop.json: schemaVersion");

    let sources = [include_str!("../runtime/src/ops/prometheus.rs"), include_str!("../serve/src/gateway/metrics.rs")];
    let metrics: BTreeSet<String> = sources.iter().flat_map(|s| metric_names(s)).collect();
    let labels = exported_labels();
    let tables = view_tables();
    let uids = datasources();
    let check_datasource = |ds: &Json, what: &str| {
        let uid = ds["uid"].as_str().unwrap_or_else(|| panic!("trustloop.json: {what}: no datasource uid"));
        let kind =
            uids.get(uid).unwrap_or_else(|| panic!("trustloop.json: {what}: datasource {uid} is not provisioned"));
        assert_eq!(ds["type"].as_str(), Some(kind.as_str()), "trustloop.json: {what}: datasource {uid}'s type");
    };
    let check_sql = |sql: &str, what: &str| {
        let used = sql_tables(sql);
        assert!(!used.is_empty(), "trustloop.json: {what}: no table in {sql:?}");
        for table in used {
            assert!(
                tables.contains(&table),
                "trustloop.json: {what}: table {table} is not in the views' DDL {tables:?}"
            );
        }
    };

    let (mut promql, mut sql) = (0, 0);
    for panel in all_panels(&dashboard["panels"]) {
        let title = panel["title"].as_str().unwrap_or("?");
        if panel["type"] == "row" {
            continue;
        }
        check_datasource(&panel["datasource"], title);
        let targets = panel["targets"].as_array().unwrap_or_else(|| panic!("trustloop.json: {title}: no targets"));
        assert!(!targets.is_empty(), "trustloop.json: {title}: no targets");
        for target in targets {
            let what = format!("{title} ({})", target["refId"].as_str().unwrap_or("?"));
            if target["datasource"].is_object() {
                check_datasource(&target["datasource"], &what);
            }
            if let Some(expr) = target["expr"].as_str() {
                promql += 1;
                let names = metric_names(expr);
                assert!(!names.is_empty(), "trustloop.json: {what}: {expr:?} names no trustloop metric");
                let mut used = promql_labels(expr);
                used.extend(legend_labels(target["legendFormat"].as_str().unwrap_or_default()));
                for name in &names {
                    assert!(metrics.contains(name), "trustloop.json: {what}: {name} is not exported by the code");
                    let exported = labels
                        .get(name)
                        .unwrap_or_else(|| panic!("trustloop.json: {what}: {name} is not in the rendered /metrics"));
                    for label in &used {
                        assert!(
                            exported.contains(label) || TARGET_LABELS.contains(&label.as_str()),
                            "trustloop.json: {what}: {name} has no label {label} (it has {exported:?})"
                        );
                    }
                }
            }
            if let Some(raw) = target["rawSql"].as_str() {
                sql += 1;
                check_sql(raw, &what);
                assert!(raw.contains("tenant IN ($tenant)"), "trustloop.json: {what}: not filtered by $tenant");
            }
        }
    }
    assert!(promql >= 10 && sql >= 6, "trustloop.json: {promql} PromQL and {sql} SQL queries: panels are missing");

    let variables = dashboard["templating"]["list"].as_array().expect("trustloop.json: templating.list");
    let tenant = variables.iter().find(|v| v["name"] == "tenant").expect("trustloop.json: no $tenant variable");
    check_datasource(&tenant["datasource"], "$tenant");
    let query = tenant["query"].as_str().or_else(|| tenant["query"]["rawSql"].as_str());
    check_sql(query.expect("trustloop.json: $tenant has no query"), "$tenant");
    assert_eq!(tenant["includeAll"], true, "trustloop.json: $tenant offers All");
}

/// The manifests of one kind.
fn of_kind<'a>(manifests: &'a [(String, Yaml)], kind: &'a str) -> impl Iterator<Item = &'a (String, Yaml)> {
    manifests.iter().filter(move |(_, d)| d["kind"].as_str() == Some(kind))
}

#[test]
fn kubernetes_manifests_are_complete_and_consistent() {
    let dir = deploy().join("k8s");
    let kustomization = yaml(&dir.join("kustomization.yaml"));
    let namespace = kustomization["namespace"].as_str();
    let listed: BTreeSet<String> =
        words(&kustomization["resources"], "kustomization.yaml: resources").into_iter().collect();
    for file in &listed {
        assert!(dir.join(file).is_file(), "kustomization.yaml: resource {file} does not exist");
    }
    for path in files_under(&dir).into_iter().filter(|p| has_extension(p, &["yaml", "yml"])) {
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default().to_string();
        assert!(file == "kustomization.yaml" || listed.contains(&file), "k8s/{file}: not in kustomization.yaml");
    }

    let manifests = manifests();
    for (file, doc) in &manifests {
        for field in ["apiVersion", "kind"] {
            assert!(doc[field].as_str().is_some_and(|v| !v.is_empty()), "k8s/{file}: a document without {field}");
        }
        assert!(doc["metadata"]["name"].as_str().is_some(), "k8s/{file}: {} without metadata.name", object_name(doc));
        if let (Some(expected), Some(ns)) = (namespace, doc["metadata"]["namespace"].as_str()) {
            assert_eq!(ns, expected, "k8s/{file}: {}: namespace", object_name(doc));
        }
    }

    // Services select pods of a workload, on a port the pods name.
    let workloads: Vec<_> = manifests.iter().filter(|(_, d)| pod_spec(d).is_some()).collect();
    for (file, service) in of_kind(&manifests, "Service") {
        let name = object_name(service);
        let selector = &service["spec"]["selector"];
        let selected: Vec<_> = workloads
            .iter()
            .filter(|(_, w)| {
                let labels = pod_labels(w);
                keys(selector).iter().all(|k| labels.get(k) == scalar(&selector[k.as_str()]).as_ref())
            })
            .collect();
        assert!(!keys(selector).is_empty() && !selected.is_empty(), "k8s/{file}: {name} selects no workload's pods");
        for port in service["spec"]["ports"].as_sequence().into_iter().flatten() {
            let Some(target) = port["targetPort"].as_str() else { continue };
            for (_, w) in &selected {
                let spec = pod_spec(w).expect("a pod spec");
                let named = containers(spec)
                    .flat_map(|c| c["ports"].as_sequence().into_iter().flatten())
                    .any(|p| p["name"].as_str() == Some(target));
                assert!(named, "k8s/{file}: {name} targets port {target}, which {} does not name", object_name(w));
            }
        }
    }

    let statefulset = of_kind(&manifests, "StatefulSet").map(|(_, d)| d).next().expect("k8s: no StatefulSet");
    let governing = text(&statefulset["spec"]["serviceName"], "statefulset.yaml: serviceName");
    let headless = of_kind(&manifests, "Service").any(|(_, s)| {
        s["metadata"]["name"].as_str() == Some(governing) && s["spec"]["clusterIP"].as_str() == Some("None")
    });
    assert!(headless, "statefulset.yaml: serviceName {governing} is not a headless Service of the manifests");
    assert_eq!(statefulset["spec"]["replicas"].as_u64(), Some(3), "statefulset.yaml: replicas");
    let claims: Vec<String> = statefulset["spec"]["volumeClaimTemplates"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|c| c["metadata"]["name"].as_str().map(str::to_string))
        .collect();

    // The trustloop containers: the image, unprivileged, read-only, probed where they listen.
    let image = image();
    for (file, doc) in &workloads {
        let spec = pod_spec(doc).expect("a pod spec");
        let pod_non_root = spec["securityContext"]["runAsNonRoot"].as_bool() == Some(true);
        for container in containers(spec).filter(|c| is_trustloop_image(c)) {
            let what =
                format!("k8s/{file}: {} container {}", object_name(doc), container["name"].as_str().unwrap_or("?"));
            assert_eq!(container["image"].as_str(), Some(IMAGE), "{what}: image");
            let security = &container["securityContext"];
            assert!(pod_non_root || security["runAsNonRoot"].as_bool() == Some(true), "{what}: runAsNonRoot");
            assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true), "{what}: readOnlyRootFilesystem");
            let env = k8s_env(container, &manifests, &what);
            if let Some(Some(dir)) = env.get("TRUSTLOOP_STATE_DIR") {
                let mount = container["volumeMounts"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .find(|m| m["mountPath"].as_str() == Some(dir.as_str()))
                    .unwrap_or_else(|| panic!("{what}: TRUSTLOOP_STATE_DIR {dir} is not a mounted volume"));
                if doc["kind"].as_str() == Some("StatefulSet") {
                    let volume = mount["name"].as_str().unwrap_or_default();
                    assert!(claims.iter().any(|c| c == volume), "{what}: {dir} is not on a volumeClaimTemplate");
                }
            }
            let argv: Vec<String> = match &container["args"] {
                Yaml::Null => image.cmd.clone(),
                a => words(a, &what),
            };
            let Some(at) = argv.iter().position(|w| w == "--listen") else { continue };
            let port = argv.get(at + 1).and_then(|l| l.rsplit(':').next()).unwrap_or_default().to_string();
            let port_name = container["ports"]
                .as_sequence()
                .into_iter()
                .flatten()
                .find(|p| scalar(&p["containerPort"]).as_deref() == Some(port.as_str()))
                .and_then(|p| p["name"].as_str());
            for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
                let get = &container[probe]["httpGet"];
                assert_eq!(get["path"].as_str(), Some(path), "{what}: {probe} path");
                let probed = scalar(&get["port"]);
                assert!(
                    probed.as_deref() == Some(port.as_str()) || probed.as_deref() == port_name,
                    "{what}: {probe} port {probed:?} is not the --listen port {port}"
                );
            }
        }
    }
}

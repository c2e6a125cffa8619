//! Semantic checks of a parsed policy: ranges, uniqueness, sane hysteresis. Each problem names the
//! key path it is about, so that it can be located in the YAML.

use std::collections::BTreeMap;

use super::duration::Duration;
use super::error::Seg;
use super::model::{API_VERSION, EscalateTo, GateOutcome, PolicyDoc};
use super::workflow::{INPUTS, MAX_STEPS, Workflow, unknown_placeholders};

/// The name of the missed-heartbeat feature in `TrustScore` events (no telemetry feature may use it).
pub const RESERVED_HEARTBEAT: &str = "missed_heartbeats";

/// The prefix of the open-findings features in `TrustScore` events (`findings.critical`, ...).
pub const RESERVED_FINDINGS: &str = "findings.";

/// Most tries of an enforcement step (`enforcement.retry.max_attempts`).
pub const MAX_ATTEMPTS: u32 = 20;

/// Largest weight a feature may have (points per unit of value on a 0–100 score).
pub const MAX_WEIGHT: f64 = 1_000.0;

/// Problems found, in the order of the model.
pub(crate) fn validate(doc: &PolicyDoc) -> Vec<(Vec<Seg>, String)> {
    let mut v = Checker::default();
    v.top(doc);
    v.severity(doc);
    v.gates(doc);
    v.vex(doc);
    v.sources(doc);
    v.trust(doc);
    v.enforcement(doc);
    v.issues
}

fn k(s: &str) -> Seg {
    Seg::Key(s.to_string())
}

#[derive(Default)]
struct Checker {
    issues: Vec<(Vec<Seg>, String)>,
}

/// `[0-9A-Za-z._-]{1,128}`.
fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl Checker {
    fn issue(&mut self, path: Vec<Seg>, message: impl Into<String>) {
        self.issues.push((path, message.into()));
    }

    /// A finite number within `lo..=hi`.
    fn range(&mut self, path: Vec<Seg>, x: f64, lo: f64, hi: f64, what: &str) {
        if !x.is_finite() || x < lo || x > hi {
            self.issue(path, format!("{x} is out of range: {what} must be between {lo} and {hi}"));
        }
    }

    fn weight(&mut self, path: Vec<Seg>, x: f64) {
        if !x.is_finite() || !(0.0..=MAX_WEIGHT).contains(&x) {
            self.issue(
                path,
                format!(
                    "weight {x} is out of range: a weight is the points taken off a 0–100 score per unit, \
                     between 0 and {MAX_WEIGHT}"
                ),
            );
        }
    }

    fn cap(&mut self, path: Vec<Seg>, max: Option<f64>) {
        if let Some(m) = max
            && (!m.is_finite() || m < 0.0)
        {
            self.issue(path, format!("max {m} must be a finite number of points >= 0 (or leave it out: no cap)"));
        }
    }

    fn positive(&mut self, path: Vec<Seg>, d: Duration, what: &str) {
        if d.as_micros() <= 0 {
            self.issue(path, format!("{what} must be longer than 0, e.g. 1h"));
        }
    }

    /// Ids unique and well-formed within one list.
    fn ids<'a>(&mut self, list: &[&'a str], base: &[Seg], what: &str) {
        let mut seen: BTreeMap<&'a str, usize> = BTreeMap::new();
        for (i, id) in list.iter().enumerate() {
            let mut p = base.to_vec();
            p.extend([Seg::Index(i), k("id")]);
            if !is_identifier(id) {
                self.issue(p, format!("{what} id `{id}` must be 1–128 letters, digits, `.`, `_` or `-`"));
            } else if let Some(first) = seen.get(id) {
                self.issue(p, format!("duplicate {what} id `{id}` (also item {first}): ids must be unique"));
            } else {
                seen.insert(id, i);
            }
        }
    }

    fn names(&mut self, list: &[String], path: Vec<Seg>, what: &str) {
        for (i, n) in list.iter().enumerate() {
            if n.trim().is_empty() {
                let mut p = path.clone();
                p.push(Seg::Index(i));
                self.issue(p, format!("empty {what}: remove it or name one"));
            }
        }
    }

    fn top(&mut self, doc: &PolicyDoc) {
        if doc.api_version != API_VERSION {
            self.issue(
                vec![k("api_version")],
                format!("unsupported api_version `{}`: this trustloop reads `{API_VERSION}`", doc.api_version),
            );
        }
        if !is_identifier(&doc.name) {
            self.issue(
                vec![k("name")],
                format!(
                    "policy name `{}` must be 1–128 letters, digits, `.`, `_` or `-` (versions are counted per name)",
                    doc.name
                ),
            );
        }
    }

    fn severity(&mut self, doc: &PolicyDoc) {
        let s = &doc.severity;
        let bands = [("low", s.low), ("medium", s.medium), ("high", s.high), ("critical", s.critical)];
        let mut prev: Option<(&str, f64)> = None;
        for (name, x) in bands {
            let p = vec![k("severity"), k(name)];
            if !x.is_finite() || x <= 0.0 || x > 10.0 {
                self.issue(p, format!("{x} is out of range: a CVSS threshold must be above 0.0 and at most 10.0"));
            } else if let Some((pn, px)) = prev
                && x <= px
            {
                self.issue(
                    p,
                    format!("{name} ({x}) must be above {pn} ({px}): the bands rise low < medium < high < critical"),
                );
            }
            prev = Some((name, x));
        }
    }

    fn gates(&mut self, doc: &PolicyDoc) {
        let g = &doc.release_gates;
        let base = [k("release_gates"), k("rules")];
        let ids: Vec<&str> = g.rules.iter().map(|r| r.id.as_str()).collect();
        self.ids(&ids, &base, "rule");
        for (i, r) in g.rules.iter().enumerate() {
            let at = |key: &str| vec![k("release_gates"), k("rules"), Seg::Index(i), k(key)];
            self.names(&r.environments, at("environments"), "environment");
            self.names(&r.releases, at("releases"), "release pattern");
            for (key, pattern) in &r.labels {
                let mut p = at("labels");
                p.push(k(key));
                if key.trim().is_empty() || key.contains('=') {
                    self.issue(p, format!("label key {key:?}: a label key is a non-empty name without `=`"));
                } else if pattern.is_empty() {
                    self.issue(p, "empty label value pattern: give the value, or `*` for any value".to_string());
                }
            }
            let when = |key: &str| vec![k("release_gates"), k("rules"), Seg::Index(i), k("when"), k(key)];
            if let Some(c) = r.when.min_cvss {
                self.range(when("min_cvss"), c, 0.0, 10.0, "a CVSS score");
            }
            if let Some(e) = r.when.min_epss {
                self.range(when("min_epss"), e, 0.0, 1.0, "an EPSS probability");
            }
            if let Some(p) = r.when.min_epss_percentile {
                self.range(when("min_epss_percentile"), p, 0.0, 1.0, "an EPSS percentile");
            }
            match (r.outcome, r.until, r.justification.as_deref().map(str::trim)) {
                (GateOutcome::Ignore | GateOutcome::Defer, None, _) => {
                    self.issue(at("outcome"), "an ignore or defer rule needs `until` (there is no rule without an end)")
                }
                (GateOutcome::Ignore, Some(_), None | Some("")) => {
                    self.issue(at("outcome"), "an ignore rule needs a `justification`")
                }
                (GateOutcome::Warn | GateOutcome::Fail | GateOutcome::RequireVex, Some(_), _) => {
                    self.issue(at("until"), "`until` is for ignore and defer rules")
                }
                _ => {}
            }
            if r.outcome != GateOutcome::RequireVex {
                if !r.issuers.is_empty() {
                    self.issue(at("issuers"), "`issuers` is for require_vex rules");
                }
                if !r.justifications.is_empty() {
                    self.issue(at("justifications"), "`justifications` is for require_vex rules");
                }
            }
            if let Some(e) = &r.escalate {
                let esc = |key: &str| {
                    let mut p = at("escalate");
                    p.push(k(key));
                    p
                };
                match (r.outcome, e.to) {
                    (GateOutcome::Fail | GateOutcome::RequireVex, _) => self.issue(
                        at("escalate"),
                        "a fail or require_vex rule fails already: escalate warn, ignore or defer rules",
                    ),
                    (GateOutcome::Warn, EscalateTo::Warn) => {
                        self.issue(esc("to"), "a warn rule escalates to fail (the only stricter outcome)")
                    }
                    _ => {}
                }
                if !e.known_exploited && !e.uses_epss() {
                    self.issue(
                        at("escalate"),
                        "escalate needs a condition: known_exploited: true, min_epss or min_epss_percentile",
                    );
                }
                if let Some(x) = e.min_epss {
                    self.range(esc("min_epss"), x, 0.0, 1.0, "an EPSS probability");
                }
                if let Some(x) = e.min_epss_percentile {
                    self.range(esc("min_epss_percentile"), x, 0.0, 1.0, "an EPSS percentile");
                }
            }
            self.names(&r.issuers, at("issuers"), "issuer");
            self.names(&r.when.purls, when("purls"), "purl pattern");
            self.names(&r.when.ecosystems, when("ecosystems"), "ecosystem");
            self.names(&r.when.packages, when("packages"), "package");
            self.names(&r.when.vulnerabilities, when("vulnerabilities"), "vulnerability id");
            self.names(&r.when.sources, when("sources"), "source");
            for (j, source) in r.when.sources.iter().enumerate() {
                if source.contains('-') {
                    let mut p = when("sources");
                    p.push(Seg::Index(j));
                    self.issue(
                        p,
                        format!(
                            "`{source}` is not a source: a source is an advisory id's prefix up to its first `-` \
                             (GHSA, RUSTSEC, PYSEC, GO, ALSA, CVE)"
                        ),
                    );
                }
            }
            if let Some(l) = &r.when.licenses {
                let at = |list: &str, j: usize| {
                    let mut p = when("licenses");
                    p.extend([k(list), Seg::Index(j)]);
                    p
                };
                for (list, entries) in [("allow", &l.allow), ("deny", &l.deny)] {
                    for (j, entry) in entries.iter().enumerate() {
                        if let Err(e) = crate::spdx::parse_term(entry) {
                            self.issue(
                                at(list, j),
                                format!(
                                    "`{entry}` is not an SPDX licence id ({e}): write an id such as MIT, \
                                     GPL-2.0+ or GPL-2.0-only WITH Classpath-exception-2.0"
                                ),
                            );
                        }
                    }
                }
                for (j, entry) in l.deny.iter().enumerate() {
                    if l.allow.iter().any(|a| a.trim().eq_ignore_ascii_case(entry.trim())) {
                        self.issue(at("deny", j), format!("`{entry}` is both allowed and denied: list it once"));
                    }
                }
                if l.allow.is_empty() && l.deny.is_empty() && !l.unknown {
                    self.issue(
                        when("licenses"),
                        "licenses matches nothing without `allow` or `deny` lists (or `unknown: true`)",
                    );
                }
            }
            self.names(&r.when.scopes, when("scopes"), "scope");
            for (j, scope) in r.when.scopes.iter().enumerate() {
                if scope.contains(',') {
                    let mut p = when("scopes");
                    p.push(Seg::Index(j));
                    self.issue(p, format!("`{scope}` names several scopes: list each on its own"));
                }
            }
            if r.when.vex_status.is_empty() {
                self.issue(
                    when("vex_status"),
                    "an empty vex_status matches no finding: leave it out to match affected and under_investigation",
                );
            }
        }
        for (i, a) in g.approvals.iter().enumerate() {
            let at = |key: &str| vec![k("release_gates"), k("approvals"), Seg::Index(i), k(key)];
            self.names(&a.environments, at("environments"), "environment");
            if a.required > 100 {
                self.issue(
                    at("required"),
                    format!("{} approvers is more than anyone can gather (at most 100)", a.required),
                );
            }
        }
        let base = [k("release_gates"), k("freeze_windows")];
        let ids: Vec<&str> = g.freeze_windows.iter().map(|w| w.id.as_str()).collect();
        self.ids(&ids, &base, "freeze window");
        for (i, w) in g.freeze_windows.iter().enumerate() {
            let at = |key: &str| vec![k("release_gates"), k("freeze_windows"), Seg::Index(i), k(key)];
            self.names(&w.environments, at("environments"), "environment");
            if w.until <= w.from {
                self.issue(at("until"), format!("the window ends ({}) before it starts ({})", w.until, w.from));
            }
        }
        let base = [k("release_gates"), k("waivers")];
        let ids: Vec<&str> = g.waivers.iter().map(|w| w.id.as_str()).collect();
        self.ids(&ids, &base, "waiver");
        for (i, w) in g.waivers.iter().enumerate() {
            let at = |key: &str| vec![k("release_gates"), k("waivers"), Seg::Index(i), k(key)];
            if w.advisory.trim().is_empty() {
                self.issue(
                    at("advisory"),
                    "a waiver names the advisory it accepts (its id or an alias such as a CVE id)",
                );
            }
            if w.releases.is_empty() {
                self.issue(
                    at("releases"),
                    "a waiver lists the releases it covers: NAME (every version) or NAME@VERSION",
                );
            }
            for (j, r) in w.releases.iter().enumerate() {
                let mut p = at("releases");
                p.push(Seg::Index(j));
                let ok = match r.rsplit_once('@') {
                    Some((n, v)) => !n.trim().is_empty() && !v.trim().is_empty(),
                    None => !r.trim().is_empty(),
                };
                if !ok {
                    self.issue(p, format!("`{r}` is not a release: write NAME (every version) or NAME@VERSION"));
                }
            }
            if w.justification.trim().is_empty() {
                self.issue(at("justification"), "a waiver needs a justification: say why the risk is accepted");
            }
            self.names(&w.approved_by, at("approved_by"), "approver");
        }
        let base = [k("release_gates"), k("regressions")];
        let ids: Vec<&str> = g.regressions.iter().map(|r| r.id.as_str()).collect();
        self.ids(&ids, &base, "regression rule");
        for (i, r) in g.regressions.iter().enumerate() {
            let at = |key: &str| vec![k("release_gates"), k("regressions"), Seg::Index(i), k(key)];
            self.names(&r.environments, at("environments"), "environment");
            if r.outcomes.is_empty() {
                self.issue(at("outcomes"), "a regression rule names the outcomes it watches for: fail, warn or both");
            }
            if r.actions.is_empty() {
                self.issue(
                    at("actions"),
                    "a regression rule names what it does: notify, block_promotion and/or rollback",
                );
            }
            for (list, key, what) in [
                (r.outcomes.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>(), "outcomes", "outcome"),
                (r.actions.iter().map(|a| format!("{a:?}")).collect(), "actions", "action"),
            ] {
                for (j, item) in list.iter().enumerate() {
                    if list[..j].contains(item) {
                        let mut p = at(key);
                        p.push(Seg::Index(j));
                        self.issue(p, format!("this {what} is listed twice"));
                    }
                }
            }
        }
    }

    fn vex(&mut self, doc: &PolicyDoc) {
        let v = &doc.vex;
        for (issuer, w) in &v.issuers {
            let p = vec![k("vex"), k("issuers"), k(issuer)];
            if issuer.trim().is_empty() {
                self.issue(p.clone(), "empty issuer: name the issuer as its statements do");
            }
            self.range(p, *w, 0.0, 1.0, "an issuer weight");
        }
        self.range(vec![k("vex"), k("default_issuer_weight")], v.default_issuer_weight, 0.0, 1.0, "an issuer weight");
        if !v.min_weight.is_finite() || v.min_weight <= 0.0 {
            self.issue(
                vec![k("vex"), k("min_weight")],
                format!("min_weight {} must be a finite weight above 0", v.min_weight),
            );
        }
    }

    fn sources(&mut self, doc: &PolicyDoc) {
        for (ecosystem, list) in &doc.sources.precedence {
            let p = vec![k("sources"), k("precedence"), k(ecosystem)];
            let known = ecosystem == "*"
                || (!ecosystem.contains(':')
                    && crate::versions::Ecosystem::from_osv(ecosystem).is_some()
                    && ecosystem.trim() == ecosystem);
            if !known {
                self.issue(
                    p.clone(),
                    format!(
                        "`{ecosystem}` is not an OSV ecosystem trustloop orders (write it as OSV does, without a \
                         release: `crates.io`, `PyPI`, `AlmaLinux`; or `*` for every other one)"
                    ),
                );
            }
            if list.is_empty() {
                self.issue(p.clone(), "an empty list: name the sources (advisory id prefixes) most trusted first");
            }
            let mut seen: Vec<String> = Vec::new();
            for (i, source) in list.iter().enumerate() {
                let mut at = p.clone();
                at.push(Seg::Index(i));
                let norm = source.trim().to_ascii_uppercase();
                if norm.is_empty() || norm.contains('-') || norm.contains(char::is_whitespace) {
                    self.issue(
                        at,
                        format!(
                            "`{source}` is not a source: name it by its advisory ids' prefix (RUSTSEC, GHSA, ALSA)"
                        ),
                    );
                } else if seen.contains(&norm) {
                    self.issue(at, format!("`{source}` is listed twice"));
                } else {
                    seen.push(norm);
                }
            }
        }
    }

    fn trust(&mut self, doc: &PolicyDoc) {
        let t = &doc.trust;
        let tk = |parts: &[Seg]| {
            let mut p = vec![k("trust")];
            p.extend_from_slice(parts);
            p
        };
        if !t.step.is_finite() || t.step <= 0.0 || t.step > 100.0 {
            self.issue(tk(&[k("step")]), format!("step {} must be above 0 and at most 100 points", t.step));
        }
        let mut kind_owner: BTreeMap<String, &str> = BTreeMap::new();
        for (name, f) in &t.features {
            let at = |key: &str| tk(&[k("features"), k(name), k(key)]);
            if name.trim().is_empty() {
                self.issue(tk(&[k("features"), k(name)]), "empty feature name");
            } else if name == RESERVED_HEARTBEAT || name.starts_with(RESERVED_FINDINGS) {
                self.issue(
                    tk(&[k("features"), k(name)]),
                    format!(
                        "`{name}` is the name of a built-in feature (`{RESERVED_HEARTBEAT}`, `{RESERVED_FINDINGS}<band>`): \
                         choose another name"
                    ),
                );
            }
            self.names(&f.kinds, at("kinds"), "telemetry kind");
            let kinds: Vec<&str> =
                if f.kinds.is_empty() { vec![name.as_str()] } else { f.kinds.iter().map(String::as_str).collect() };
            for kind in kinds {
                match kind_owner.get(kind) {
                    Some(other) if *other != name.as_str() => self.issue(
                        at("kinds"),
                        format!("telemetry kind `{kind}` already feeds feature `{other}`: a kind feeds one feature"),
                    ),
                    _ => {
                        kind_owner.insert(kind.to_string(), name);
                    }
                }
            }
            self.weight(at("weight"), f.weight);
            self.positive(at("half_life"), f.half_life, "half_life");
            self.cap(at("max"), f.max);
        }
        let h = &t.heartbeat;
        let at = |key: &str| tk(&[k("heartbeat"), k(key)]);
        if h.kind.trim().is_empty() {
            self.issue(at("kind"), "the heartbeat kind must be named, e.g. heartbeat");
        }
        self.positive(at("interval"), h.interval, "the heartbeat interval");
        self.weight(at("weight"), h.weight);
        self.positive(at("half_life"), h.half_life, "half_life");
        self.cap(at("max"), h.max);
        let w = &t.findings.weights;
        for (band, x) in
            [("critical", w.critical), ("high", w.high), ("medium", w.medium), ("low", w.low), ("none", w.none)]
        {
            self.weight(tk(&[k("findings"), k("weights"), k(band)]), x);
        }
        self.cap(tk(&[k("findings"), k("max")]), t.findings.max);
        let ids: Vec<&str> = t.rules.iter().map(|r| r.id.as_str()).collect();
        self.ids(&ids, &[k("trust"), k("rules")], "trust rule");
        for (i, r) in t.rules.iter().enumerate() {
            let at = |key: &str| tk(&[k("rules"), Seg::Index(i), k(key)]);
            if !r.below.is_finite() || r.below <= 0.0 || r.below >= 100.0 {
                self.issue(at("below"), format!("below {} must be a score above 0 and below 100", r.below));
                continue;
            }
            if !r.recover_above.is_finite() || r.recover_above <= r.below || r.recover_above > 100.0 {
                self.issue(
                    at("recover_above"),
                    format!(
                        "recover_above {} must be above below ({}) and at most 100: the rule is lifted only once \
                         the score is back at recover_above",
                        r.recover_above, r.below
                    ),
                );
            } else if t.step.is_finite() && r.below + t.step > 100.0 {
                self.issue(
                    at("below"),
                    format!(
                        "below {} leaves no room for a hysteresis band of trust.step ({}) under 100: lower below \
                         to at most {} or lower trust.step",
                        r.below,
                        t.step,
                        100.0 - t.step
                    ),
                );
            } else if t.step.is_finite() && r.recover_above - r.below < t.step {
                self.issue(
                    at("recover_above"),
                    format!(
                        "the hysteresis band {}–{} is narrower than trust.step ({}): scores are emitted only when \
                         they move by a step, so a score hovering at the threshold would flap; make recover_above \
                         at least {}",
                        r.below,
                        r.recover_above,
                        t.step,
                        r.below + t.step
                    ),
                );
            }
        }
    }

    fn enforcement(&mut self, doc: &PolicyDoc) {
        let e = &doc.enforcement;
        let at = |parts: &[&str]| {
            let mut p = vec![k("enforcement")];
            p.extend(parts.iter().map(|s| k(s)));
            p
        };
        if !(1..=MAX_ATTEMPTS).contains(&e.retry.max_attempts) {
            self.issue(
                at(&["retry", "max_attempts"]),
                format!(
                    "max_attempts {} must be between 1 (no retry) and {MAX_ATTEMPTS}: each retry waits twice as \
                     long as the one before",
                    e.retry.max_attempts
                ),
            );
        }
        self.positive(at(&["retry", "backoff"]), e.retry.backoff, "the retry backoff");
        self.positive(at(&["timeouts", "acknowledge"]), e.timeouts.acknowledge, "the acknowledge timeout");
        self.positive(at(&["timeouts", "apply"]), e.timeouts.apply, "the apply timeout");
        self.positive(at(&["timeouts", "verify"]), e.timeouts.verify, "the verify timeout");
        for (action, ttl) in &e.ttl {
            let name = serde_json::to_value(action).ok().and_then(|v| v.as_str().map(str::to_string));
            let name = name.unwrap_or_default();
            self.positive(at(&["ttl", name.as_str()]), *ttl, "a ttl (leave the action out: no automatic revert)");
        }
        let ids: Vec<&str> = e.budgets.iter().map(|b| b.id.as_str()).collect();
        self.ids(&ids, &[k("enforcement"), k("budgets")], "budget");
        for (i, b) in e.budgets.iter().enumerate() {
            let at = |key: &str| vec![k("enforcement"), k("budgets"), Seg::Index(i), k(key)];
            self.positive(at("window"), b.window, "the budget window");
            if b.max_actions.is_none() && b.max_fleet_percent.is_none() {
                self.issue(
                    vec![k("enforcement"), k("budgets"), Seg::Index(i)],
                    "a budget needs max_actions or max_fleet_percent (or both)",
                );
            }
            if b.max_actions == Some(0) {
                self.issue(at("max_actions"), "max_actions 0 would hold every action: at least 1");
            }
            if let Some(p) = b.max_fleet_percent
                && (!p.is_finite() || p <= 0.0 || p > 100.0)
            {
                self.issue(at("max_fleet_percent"), format!("{p} % must be above 0 and at most 100"));
            }
        }
        for (name, w) in &e.workflows {
            self.workflow(name, w);
        }
        for (i, r) in doc.trust.rules.iter().enumerate() {
            if let Some(name) = &r.workflow
                && !e.workflows.contains_key(name)
            {
                let known: Vec<&str> = e.workflows.keys().map(String::as_str).collect();
                self.issue(
                    vec![k("trust"), k("rules"), Seg::Index(i), k("workflow")],
                    format!(
                        "no workflow `{name}` in enforcement.workflows (known: {})",
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ),
                );
            }
        }
    }

    /// A workflow template: named, 1..=MAX_STEPS steps with unique identifier names, adapters named,
    /// parameters naming known inputs only.
    fn workflow(&mut self, name: &str, w: &Workflow) {
        let base = vec![k("enforcement"), k("workflows"), k(name)];
        if !is_identifier(name) {
            self.issue(base.clone(), format!("workflow name `{name}` must be 1–128 of [0-9A-Za-z._-]"));
        }
        if w.steps.is_empty() || w.steps.len() > MAX_STEPS {
            self.issue(
                [base.clone(), vec![k("steps")]].concat(),
                format!("a workflow needs 1 to {MAX_STEPS} steps, not {}", w.steps.len()),
            );
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, s) in w.steps.iter().enumerate() {
            let path = [base.clone(), vec![k("steps"), Seg::Index(i), k("name")]].concat();
            if !is_identifier(&s.name) {
                self.issue(path, format!("step name `{}` must be 1–128 of [0-9A-Za-z._-]", s.name));
            } else if let Some(first) = seen.insert(&s.name, i) {
                self.issue(path, format!("duplicate step name `{}` (also step {first})", s.name));
            }
        }
        for (i, s) in w.steps.iter().enumerate() {
            let at = |parts: &[&str]| {
                let mut p = base.clone();
                p.extend([k("steps"), Seg::Index(i)]);
                p.extend(parts.iter().map(|x| k(x)));
                p
            };
            if s.adapter.trim().is_empty() {
                self.issue(at(&["adapter"]), "the step's adapter must be named (an adapter of trustloop.toml)");
            }
            let calls = [
                ("params", Some(&s.params)),
                ("check", s.check.as_ref().map(|c| &c.params)),
                ("rollback", s.rollback.as_ref().map(|c| &c.params)),
            ];
            for (what, params) in calls {
                for (key, text) in params.into_iter().flatten() {
                    let path = if what == "params" { at(&["params", key]) } else { at(&[what, "params", key]) };
                    for bad in unknown_placeholders(text) {
                        self.issue(
                            path.clone(),
                            format!("unknown placeholder `{{{{{bad}}}}}`: inputs are {}", INPUTS.join(", ")),
                        );
                    }
                }
            }
            for (what, call) in [("check", &s.check), ("rollback", &s.rollback)] {
                if let Some(c) = call
                    && c.adapter.as_ref().is_some_and(|a| a.trim().is_empty())
                {
                    self.issue(at(&[what, "adapter"]), "an empty adapter name: leave it out to use the step's");
                }
            }
        }
    }
}

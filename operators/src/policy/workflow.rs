//! Remediation workflow templates (`enforcement.workflows` of a policy): named lists of steps, each
//! an adapter call with parameters templated from the action, a check and a rollback. A trust rule
//! names one with `workflow: NAME`; the enforcement operator runs it on the sandbox, then on the
//! target (see `crate::enforce::workflow`).
//!
//! Parameters are text in which `{{input}}` is replaced by one of the action's [`INPUTS`]: `subject`,
//! `kind`, `target` (the step's target: `sandbox:<target>` in the sandbox phase), `real_target`,
//! `phase` (`sandbox` or `target`), `action_id`, `tenant`, `reason`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The inputs a parameter may name as `{{input}}`.
pub const INPUTS: &[&str] = &["subject", "kind", "target", "real_target", "phase", "action_id", "tenant", "reason"];

/// Most steps in one workflow.
pub const MAX_STEPS: usize = 32;

/// A workflow template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The steps, in order (1 to [`MAX_STEPS`]).
    pub steps: Vec<WorkflowStepSpec>,
}

/// One step of a workflow: the call that applies it, the call that checks it, the call that undoes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowStepSpec {
    /// The step's name, unique within the workflow.
    pub name: String,
    /// The configured adapter (`[enforcement.adapters.NAME]` of `trustloop.toml`) that applies it.
    pub adapter: String,
    /// The apply call's parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// The call whose success means the step had the wanted effect; none: the apply call's success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<StepCall>,
    /// The call that undoes the step; none: nothing to undo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<StepCall>,
}

/// A check or rollback call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepCall {
    /// Its adapter; none: the step's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Its parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// The `{{name}}` placeholders of `text` that are not [`INPUTS`] (or are not closed).
pub fn unknown_placeholders(text: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        match after.find("}}") {
            Some(close) => {
                let name = after[..close].trim();
                if !INPUTS.contains(&name) {
                    bad.push(name.to_string());
                }
                rest = &after[close + 2..];
            }
            None => {
                bad.push(format!("{{{{{after}"));
                break;
            }
        }
    }
    bad
}

/// `text` with each `{{input}}` replaced by its value from `inputs` (unknown ones are left as they are;
/// validation rejects them).
pub fn render(text: &str, inputs: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        out.push_str(&rest[..open]);
        match inputs.get(after[..close].trim()) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[open..open + 2 + close + 2]),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_render_and_unknown_ones_are_named() {
        let inputs = BTreeMap::from([("subject", "10.0.0.3".to_string()), ("phase", "sandbox".to_string())]);
        assert_eq!(render("drop {{subject}} in {{ phase }}", &inputs), "drop 10.0.0.3 in sandbox");
        assert_eq!(render("{{nope}} {{subject}}", &inputs), "{{nope}} 10.0.0.3");
        assert_eq!(render("open {{subject", &inputs), "open {{subject");
        assert!(unknown_placeholders("{{subject}}-{{target}}").is_empty());
        assert_eq!(unknown_placeholders("{{subjet}} {{kind}} {{x"), ["subjet", "{{x"]);
    }
}

//! The trust part of a policy, compiled for scoring: features in name order, a kind → feature index,
//! durations in microseconds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::policy::{FeatureMode, FindingsFeature, PolicyDoc, SeverityPolicy};

/// One telemetry feature, compiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureModel {
    /// Feature name.
    pub name: String,
    /// Points per unit of value.
    pub weight: f64,
    /// Half-life, microseconds (> 0).
    pub half_life: i64,
    /// Cap on the contribution.
    pub max: Option<f64>,
    /// How samples update it.
    pub mode: FeatureMode,
}

/// The missed-heartbeat feature, compiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatModel {
    /// Telemetry kind of heartbeats.
    pub kind: String,
    /// Expected interval, microseconds (> 0).
    pub interval: i64,
    /// Points per missed heartbeat.
    pub weight: f64,
    /// Half-life of past misses, microseconds (> 0).
    pub half_life: i64,
    /// Cap on the contribution.
    pub max: Option<f64>,
}

/// What the trust operator needs of the policy in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustModel {
    /// Policy name.
    pub name: String,
    /// Policy version (0 for the built-in default).
    pub version: i64,
    /// Policy digest.
    pub digest: String,
    /// Emission step, points.
    pub step: f64,
    /// Telemetry features, in name order.
    pub features: Vec<FeatureModel>,
    /// Telemetry kind → index in `features`.
    pub kinds: BTreeMap<String, usize>,
    /// Missed heartbeats.
    pub heartbeat: HeartbeatModel,
    /// Open findings.
    pub findings: FindingsFeature,
    /// Severity thresholds (to band findings).
    pub severity: SeverityPolicy,
}

impl TrustModel {
    /// Compiles a validated policy document as version `version` of its name.
    pub fn new(doc: &PolicyDoc, version: i64) -> TrustModel {
        let t = &doc.trust;
        let mut features = Vec::with_capacity(t.features.len());
        let mut kinds = BTreeMap::new();
        // BTreeMap iteration: name order.
        for (i, (name, f)) in t.features.iter().enumerate() {
            features.push(FeatureModel {
                name: name.clone(),
                weight: f.weight,
                half_life: f.half_life.as_micros(),
                max: f.max,
                mode: f.mode,
            });
            for k in &f.kinds {
                kinds.insert(k.clone(), i);
            }
        }
        TrustModel {
            name: doc.name.clone(),
            version,
            digest: doc.digest(),
            step: t.step,
            features,
            kinds,
            heartbeat: HeartbeatModel {
                kind: t.heartbeat.kind.clone(),
                interval: t.heartbeat.interval.as_micros(),
                weight: t.heartbeat.weight,
                half_life: t.heartbeat.half_life.as_micros(),
                max: t.heartbeat.max,
            },
            findings: t.findings.clone(),
            severity: doc.severity.clone(),
        }
    }

    /// The index of feature `name`.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }
}

//! One entity's trust state and the scoring arithmetic: exponential decay over event time, missed
//! heartbeats, capped contributions.

use serde::{Deserialize, Serialize};

use super::model::{HeartbeatModel, TrustModel};
use crate::policy::validate::RESERVED_HEARTBEAT;
use crate::policy::{Band, FeatureMode};

/// Feature values saturate here, so that no sum of finite samples becomes infinite.
pub const SATURATION: f64 = 1e12;

/// The weight left after `dt` microseconds with half-life `half_life`: `2^(-dt / half_life)`; 1 for
/// `dt <= 0`.
pub fn decay(dt: i64, half_life: i64) -> f64 {
    if dt <= 0 || half_life <= 0 { 1.0 } else { (-(dt as f64) / half_life as f64).exp2() }
}

/// A telemetry feature's value as of a time (it decays from there).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FeatureState {
    /// Value at `as_of`.
    pub value: f64,
    /// Event time (µs) the value is as of.
    pub as_of: i64,
    /// Event time of the newest sample taken (`last` mode).
    pub last_sample: Option<i64>,
}

impl FeatureState {
    /// The value at `t` (>= `as_of` for the entity clock).
    pub fn value_at(&self, t: i64, half_life: i64) -> f64 {
        if self.value == 0.0 { 0.0 } else { self.value * decay(t.saturating_sub(self.as_of), half_life) }
    }

    /// Takes a sample of value `x` (finite, >= 0) at `t`.
    ///
    /// `sum`: a sample newer than `as_of` moves the value to `t` and adds `x`; an older (late) one adds
    /// `x` decayed by its age relative to `as_of`, so that the result equals what arriving in time
    /// would have given. `last`: the newest sample's value replaces the value; an older one is ignored.
    pub fn sample(&mut self, t: i64, x: f64, half_life: i64, mode: FeatureMode) {
        match mode {
            FeatureMode::Sum => {
                if t >= self.as_of {
                    self.value = self.value_at(t, half_life) + x;
                    self.as_of = t;
                } else {
                    self.value += x * decay(self.as_of.saturating_sub(t), half_life);
                }
            }
            FeatureMode::Last => {
                if self.last_sample.is_none_or(|l| t >= l) {
                    self.value = x;
                    self.as_of = t;
                    self.last_sample = Some(t);
                }
            }
        }
        self.value = self.value.min(SATURATION);
    }
}

/// Heartbeats of an entity that has sent at least one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatState {
    /// Event time of the newest heartbeat.
    pub last: i64,
    /// Misses of earlier gaps, as of `history_as_of` (they decay).
    pub history: f64,
    /// Event time `history` is as of.
    pub history_as_of: i64,
}

/// Heartbeats missed in a gap of `gap` µs: every full `interval` after the first one that passes
/// without a heartbeat — `ceil(gap / interval) - 1`, so a gap of exactly one interval misses none.
pub fn missed(gap: i64, interval: i64) -> f64 {
    if gap <= 0 || interval <= 0 { 0.0 } else { ((gap - 1) / interval) as f64 }
}

impl HeartbeatState {
    /// The first heartbeat, at `t`.
    pub fn new(t: i64) -> Self {
        HeartbeatState { last: t, history: 0.0, history_as_of: t }
    }

    /// A heartbeat at `t`: the misses of the gap it closes join the (decaying) history. A heartbeat
    /// not newer than the newest one changes nothing (misses already counted stay counted).
    pub fn beat(&mut self, t: i64, m: &HeartbeatModel) {
        if t <= self.last {
            return;
        }
        let gap_misses = missed(t.saturating_sub(self.last), m.interval);
        let past = self.history * decay(t.saturating_sub(self.history_as_of), m.half_life);
        self.history = (past + gap_misses).min(SATURATION);
        self.history_as_of = t;
        self.last = t;
    }

    /// Missed heartbeats at `t`: decayed past misses plus those of the current gap.
    pub fn value_at(&self, t: i64, m: &HeartbeatModel) -> f64 {
        let past = if self.history == 0.0 {
            0.0
        } else {
            self.history * decay(t.saturating_sub(self.history_as_of), m.half_life)
        };
        (past + missed(t.saturating_sub(self.last), m.interval)).min(SATURATION)
    }
}

/// One entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityState {
    /// The entity's clock: the newest event time of its telemetry (µs). Scores are as of it.
    pub clock: i64,
    /// Telemetry features, aligned with the model's `features`.
    pub features: Vec<FeatureState>,
    /// Heartbeats, once one was seen.
    pub heartbeat: Option<HeartbeatState>,
    /// The release it runs (`NAME@VERSION`), from its newest sample naming one.
    pub release: Option<String>,
    /// Event time of the sample that named `release`.
    pub release_as_of: i64,
    /// The last score emitted.
    pub last_emitted: Option<f64>,
}

/// Names of the findings features, by [`Band::index`].
const FINDING_FEATURES: [&str; 5] =
    ["findings.none", "findings.low", "findings.medium", "findings.high", "findings.critical"];

fn capped(x: f64, max: Option<f64>) -> f64 {
    match max {
        Some(m) => x.min(m),
        None => x,
    }
}

impl EntityState {
    /// A new entity first seen at `t`.
    pub fn new(t: i64, model: &TrustModel) -> Self {
        EntityState {
            clock: t,
            features: vec![FeatureState { value: 0.0, as_of: t, last_sample: None }; model.features.len()],
            heartbeat: None,
            release: None,
            release_as_of: i64::MIN,
            last_emitted: None,
        }
    }

    /// Visits every feature at the entity clock — `(name, value, weight, contribution)` in output
    /// order: telemetry features by name, missed heartbeats, findings from critical to none — and
    /// returns the score, `100 − Σ contributions` clamped to 0..100. The score and the listed
    /// contributions come from the same arithmetic.
    pub fn score(
        &self,
        model: &TrustModel,
        findings: Option<&[u32; 5]>,
        mut visit: impl FnMut(&str, f64, f64, f64),
    ) -> f64 {
        let t = self.clock;
        let mut total = 0.0;
        for (f, s) in model.features.iter().zip(&self.features) {
            let v = s.value_at(t, f.half_life);
            let c = capped(f.weight * v, f.max);
            total += c;
            visit(&f.name, v, f.weight, c);
        }
        let h = &model.heartbeat;
        let v = self.heartbeat.map_or(0.0, |hb| hb.value_at(t, h));
        let c = capped(h.weight * v, h.max);
        total += c;
        visit(RESERVED_HEARTBEAT, v, h.weight, c);
        let counts = findings.copied().unwrap_or_default();
        let w = &model.findings.weights;
        let raw: f64 = Band::ALL.iter().map(|b| w.of(*b) * f64::from(counts[b.index()])).sum();
        let scale = match model.findings.max {
            Some(m) if raw > m && raw > 0.0 => m / raw,
            _ => 1.0,
        };
        for b in Band::ALL.iter().rev() {
            let n = f64::from(counts[b.index()]);
            let c = w.of(*b) * n * scale;
            total += c;
            visit(FINDING_FEATURES[b.index()], n, w.of(*b), c);
        }
        (100.0 - total).clamp(0.0, 100.0)
    }

    /// Re-aligns the feature states with a new model: features kept by name keep their state, new
    /// ones start at zero (as of the entity clock).
    pub fn realign(&mut self, old: &TrustModel, new: &TrustModel) {
        let fresh = FeatureState { value: 0.0, as_of: self.clock, last_sample: None };
        self.features = new
            .features
            .iter()
            .map(|f| old.feature_index(&f.name).and_then(|i| self.features.get(i).copied()).unwrap_or(fresh))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::validate::RESERVED_FINDINGS;

    const H: i64 = 3_600_000_000;

    #[test]
    fn findings_feature_names_use_the_reserved_prefix() {
        for (b, name) in Band::ALL.iter().zip(FINDING_FEATURES) {
            assert_eq!(name, format!("{RESERVED_FINDINGS}{b}"));
        }
    }

    #[test]
    fn decay_halves_per_half_life() {
        assert_eq!(decay(0, H), 1.0);
        assert_eq!(decay(-5, H), 1.0);
        assert_eq!(decay(H, H), 0.5);
        assert_eq!(decay(2 * H, H), 0.25);
        assert!((decay(H / 2, H) - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-15);
    }

    #[test]
    fn sum_mode_late_samples_equal_in_order_samples() {
        // In order: 4 at 0h, 2 at 1h → at 1h: 4·½ + 2 = 4; at 3h: 4·¼ = 1.
        let mut a = FeatureState::default();
        a.sample(0, 4.0, H, FeatureMode::Sum);
        a.sample(H, 2.0, H, FeatureMode::Sum);
        assert_eq!(a.value_at(H, H), 4.0);
        assert_eq!(a.value_at(3 * H, H), 1.0);
        // Late: 2 at 1h first, then 4 at 0h (older than as_of) → the same.
        let mut b = FeatureState::default();
        b.sample(H, 2.0, H, FeatureMode::Sum);
        b.sample(0, 4.0, H, FeatureMode::Sum);
        assert_eq!(b.value_at(H, H), 4.0);
        assert_eq!(b.value_at(3 * H, H), 1.0);
    }

    #[test]
    fn last_mode_keeps_the_newest_sample() {
        let mut f = FeatureState::default();
        f.sample(2 * H, 6.0, H, FeatureMode::Last);
        f.sample(H, 100.0, H, FeatureMode::Last); // older: ignored
        assert_eq!(f.value_at(2 * H, H), 6.0);
        f.sample(3 * H, 2.0, H, FeatureMode::Last);
        assert_eq!(f.value_at(4 * H, H), 1.0);
    }

    #[test]
    fn values_saturate() {
        let mut f = FeatureState::default();
        for _ in 0..3 {
            f.sample(0, f64::MAX / 2.0, H, FeatureMode::Sum);
        }
        assert_eq!(f.value, SATURATION);
    }

    #[test]
    fn missed_heartbeats_count_full_intervals() {
        let i = 300_000_000; // 5 min
        assert_eq!(missed(0, i), 0.0);
        assert_eq!(missed(i, i), 0.0); // exactly on time: not missed
        assert_eq!(missed(i + 1, i), 1.0);
        assert_eq!(missed(2 * i, i), 1.0);
        assert_eq!(missed(2 * i + 1, i), 2.0);
        assert_eq!(missed(25 * 60_000_000, i), 4.0);
    }

    #[test]
    fn heartbeat_misses_decay_after_recovery() {
        let m =
            HeartbeatModel { kind: "heartbeat".into(), interval: 300_000_000, weight: 5.0, half_life: H, max: None };
        let mut hb = HeartbeatState::new(0);
        // 21 minutes without a heartbeat: 4 missed (at 5, 10, 15, 20 min).
        let t = 21 * 60_000_000;
        assert_eq!(hb.value_at(t, &m), 4.0);
        hb.beat(t, &m);
        assert_eq!(hb.value_at(t, &m), 4.0);
        // One half-life later, with heartbeats on time, half of it remains.
        let mut at = t;
        while at < t + H {
            at += 300_000_000;
            hb.beat(at.min(t + H), &m);
        }
        assert!((hb.value_at(t + H, &m) - 2.0).abs() < 1e-12, "{}", hb.value_at(t + H, &m));
        // A late heartbeat changes nothing.
        let before = hb;
        hb.beat(t, &m);
        assert_eq!(hb, before);
    }
}

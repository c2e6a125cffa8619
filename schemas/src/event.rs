//! [`Event`] (any event) and [`EventType`] (which schema, which topic).

use crate::events::*;

macro_rules! event_types {
    ($( $variant:ident => $file:literal, $topic:literal; )*) => {
        /// The kinds of event, one per Avro schema.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $(
                #[doc = concat!("`", stringify!($variant), "` events, on topic `", $topic, "`.")]
                $variant,
            )*
        }

        /// Any trustloop event.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $(
                #[doc = concat!("A `", stringify!($variant), "`.")]
                $variant($variant),
            )*
        }

        impl EventType {
            /// Every event type.
            pub const ALL: [EventType; 20] = [$(EventType::$variant),*];

            /// The record name, e.g. `Telemetry`.
            pub fn name(self) -> &'static str {
                match self { $(EventType::$variant => stringify!($variant)),* }
            }

            /// The topic events of this type live on.
            pub fn topic(self) -> &'static str {
                match self { $(EventType::$variant => $topic),* }
            }

            /// The Avro schema (`schemas/avro/*.avsc`).
            pub fn avsc(self) -> &'static str {
                match self { $(EventType::$variant => include_str!(concat!("../avro/", $file, ".avsc"))),* }
            }

            /// The `.avsc` file name, without extension.
            pub fn file_stem(self) -> &'static str {
                match self { $(EventType::$variant => $file),* }
            }
        }

        impl Event {
            /// This event's type.
            pub fn event_type(&self) -> EventType {
                match self { $(Event::$variant(_) => EventType::$variant),* }
            }

            /// The envelope.
            pub fn envelope(&self) -> &Envelope {
                match self { $(Event::$variant(e) => &e.envelope),* }
            }

            /// The envelope, mutable.
            pub fn envelope_mut(&mut self) -> &mut Envelope {
                match self { $(Event::$variant(e) => &mut e.envelope),* }
            }
        }

        $(
            impl From<$variant> for Event {
                fn from(e: $variant) -> Event {
                    Event::$variant(e)
                }
            }
        )*

    };
}

event_types! {
    Telemetry => "telemetry", "telemetry";
    ReleaseInventory => "release_inventory", "inventory";
    Advisory => "advisory", "advisories";
    VexStatement => "vex_statement", "vex";
    Policy => "policy", "policies";
    Approval => "approval", "approvals";
    PromotionRequest => "promotion_request", "promotions";
    TrustScore => "trust_score", "trust-scores";
    Finding => "finding", "findings";
    Verdict => "verdict", "verdicts";
    EnforcementAction => "enforcement_action", "actions";
    EnforcementResult => "enforcement_result", "action-results";
    DeadLetter => "dead_letter", "dlq";
    KnownExploited => "known_exploited", "known-exploited";
    EpssScores => "epss_scores", "epss";
    LogCheckpoint => "log_checkpoint", "checkpoints";
    NotifyRules => "notify_rules", "notify-rules";
    Notification => "notification", "notifications";
    Delivery => "delivery", "deliveries";
    CheckpointCosignature => "checkpoint_cosignature", "checkpoint-cosignatures";
}

impl EventType {
    /// How many partitions its topic has when trustloop fixes it rather than the deployment:
    /// checkpoints form one sequence, and so do a log's cosignatures, so their topics have one.
    pub fn fixed_partitions(self) -> Option<u32> {
        match self {
            EventType::LogCheckpoint | EventType::CheckpointCosignature => Some(1),
            _ => None,
        }
    }

    /// The event type living on `topic`, if it is one of trustloop's topics.
    pub fn from_topic(topic: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.topic() == topic)
    }

    /// The event type named `name` (`Telemetry`, `telemetry`, `release_inventory`, ...).
    pub fn from_name(name: &str) -> Option<EventType> {
        let norm: String = name.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect();
        EventType::ALL.into_iter().find(|t| t.name().to_lowercase() == norm)
    }

    /// The current schema version of this type (bumped when its schema evolves; older versions
    /// are read through schema resolution, their new fields taking the schema's defaults).
    ///
    /// - `ReleaseInventory` 2: component hashes, licences, dependencies, direct flag, distribution
    ///   release and location; the image's OS; the components left out; format `lockfile`. 3: the
    ///   release's labels.
    /// - `Finding` 2: the advisory's distribution release, and whether the component's was unknown;
    ///   3: the CVEs listed as known exploited, and the EPSS score and percentile; 4: the
    ///   component's scope, directness and licences, and the advisory's CWE ids; 5: the
    ///   vulnerability (alias group) that identifies it, its sources with their provenance, and
    ///   what they disagree on.
    /// - `Advisory` 2: the upstream vulnerabilities of a distribution advisory.
    pub fn schema_version(self) -> i32 {
        match self {
            EventType::Finding => 5,
            EventType::ReleaseInventory => 3,
            EventType::Advisory => 2,
            _ => 1,
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Evaluates `$body` with the payload of any [`Event`] bound to `$e`.
#[macro_export]
macro_rules! with_event {
    ($event:expr, $e:ident => $body:expr) => {
        match $event {
            $crate::Event::Telemetry($e) => $body,
            $crate::Event::ReleaseInventory($e) => $body,
            $crate::Event::Advisory($e) => $body,
            $crate::Event::VexStatement($e) => $body,
            $crate::Event::Policy($e) => $body,
            $crate::Event::Approval($e) => $body,
            $crate::Event::PromotionRequest($e) => $body,
            $crate::Event::TrustScore($e) => $body,
            $crate::Event::Finding($e) => $body,
            $crate::Event::Verdict($e) => $body,
            $crate::Event::EnforcementAction($e) => $body,
            $crate::Event::EnforcementResult($e) => $body,
            $crate::Event::DeadLetter($e) => $body,
            $crate::Event::KnownExploited($e) => $body,
            $crate::Event::EpssScores($e) => $body,
            $crate::Event::LogCheckpoint($e) => $body,
            $crate::Event::NotifyRules($e) => $body,
            $crate::Event::Notification($e) => $body,
            $crate::Event::Delivery($e) => $body,
            $crate::Event::CheckpointCosignature($e) => $body,
        }
    };
}

/// Evaluates `$body` with `$t` aliased to the payload type of an [`EventType`].
#[macro_export]
macro_rules! with_event_type {
    ($ty:expr, $t:ident => $body:expr) => {
        match $ty {
            $crate::EventType::Telemetry => {
                type $t = $crate::events::Telemetry;
                $body
            }
            $crate::EventType::ReleaseInventory => {
                type $t = $crate::events::ReleaseInventory;
                $body
            }
            $crate::EventType::Advisory => {
                type $t = $crate::events::Advisory;
                $body
            }
            $crate::EventType::VexStatement => {
                type $t = $crate::events::VexStatement;
                $body
            }
            $crate::EventType::Policy => {
                type $t = $crate::events::Policy;
                $body
            }
            $crate::EventType::Approval => {
                type $t = $crate::events::Approval;
                $body
            }
            $crate::EventType::PromotionRequest => {
                type $t = $crate::events::PromotionRequest;
                $body
            }
            $crate::EventType::TrustScore => {
                type $t = $crate::events::TrustScore;
                $body
            }
            $crate::EventType::Finding => {
                type $t = $crate::events::Finding;
                $body
            }
            $crate::EventType::Verdict => {
                type $t = $crate::events::Verdict;
                $body
            }
            $crate::EventType::EnforcementAction => {
                type $t = $crate::events::EnforcementAction;
                $body
            }
            $crate::EventType::EnforcementResult => {
                type $t = $crate::events::EnforcementResult;
                $body
            }
            $crate::EventType::DeadLetter => {
                type $t = $crate::events::DeadLetter;
                $body
            }
            $crate::EventType::KnownExploited => {
                type $t = $crate::events::KnownExploited;
                $body
            }
            $crate::EventType::EpssScores => {
                type $t = $crate::events::EpssScores;
                $body
            }
            $crate::EventType::LogCheckpoint => {
                type $t = $crate::events::LogCheckpoint;
                $body
            }
            $crate::EventType::NotifyRules => {
                type $t = $crate::events::NotifyRules;
                $body
            }
            $crate::EventType::Notification => {
                type $t = $crate::events::Notification;
                $body
            }
            $crate::EventType::Delivery => {
                type $t = $crate::events::Delivery;
                $body
            }
            $crate::EventType::CheckpointCosignature => {
                type $t = $crate::events::CheckpointCosignature;
                $body
            }
        }
    };
}

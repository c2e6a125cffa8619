//! The Kafka backend (being written).

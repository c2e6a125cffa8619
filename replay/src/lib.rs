//! Deterministic replay (issue 6): rebuilds operator state from the log up to a recorded input
//! frontier, recomputes a decision and compares evidence digests. Nothing is implemented yet.

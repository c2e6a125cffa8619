//! trustloop's functional core (being written).

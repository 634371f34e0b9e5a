//! Schedule and event triggers (being written).

//! Circuit breakers per integration (being written).

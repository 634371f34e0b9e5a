//! The `integration` node (being written).

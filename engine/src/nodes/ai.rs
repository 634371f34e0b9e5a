//! The `ai` node (being written).

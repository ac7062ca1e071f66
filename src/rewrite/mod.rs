//! Store ID rewriting (being written).

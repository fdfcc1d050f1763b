//! Self-contained HTML timeline.

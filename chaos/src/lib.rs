//! Turmoil chaos suite for Concord (work in progress: see the chaos issue).

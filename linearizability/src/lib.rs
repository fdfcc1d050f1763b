//! Linearizability checker (work in progress: see the checker issue).

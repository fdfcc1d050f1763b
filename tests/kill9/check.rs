//! Acknowledged writes that the final reads prove lost: the chaos suite's check, shared
//! through `concord-linearizability`.

pub use concord_linearizability::lost_acked_writes;

//! The stateright model of Concord's core (work in progress: see the model issue).

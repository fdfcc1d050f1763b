//! State canonicalization for the depth-first checker: symmetry over servers and dead
//! messages.
//!
//! Stateright's `symmetry_fn` takes a function from a state to a *representative* of its
//! equivalence class; the checker skips a state whose representative it has seen. Any
//! function that maps a state to one that behaves the same is sound (it may merge fewer
//! states than a perfect canonical form, never unequal ones). Ours does two things:
//!
//! 1. **Servers are interchangeable.** All servers run the same code in one stable
//!    configuration of all of them, clients pick servers only by what they were told
//!    (the initial target and leader hints), and every property is symmetric. So the
//!    servers are sorted by an id-free summary of their state and every server id in
//!    the state (core, durable image, queued messages, network, client targets, the
//!    history's leader records) is renamed accordingly, with `RaftCore::relabel`.
//!    Clients are never permuted: they run different operations.
//! 2. **Dead messages are dropped.** A message that can never change anything when it is
//!    delivered only tells states apart that behave the same: a response whose term is
//!    below the durable term of its destination (a server's term never falls below its
//!    durable term, and the core ignores stale responses), and an answer to a client for
//!    a request that is no longer its outstanding one (a client's progress only moves
//!    forward, and it ignores other answers).
//!
//! Breadth-first search ignores `symmetry_fn` (VERIFICATION.md §1.7); the teeth tests,
//! which want shortest counterexamples, run without it.

use std::sync::Arc;

use concord::core::{Message, Role, Write};
use stateright::actor::{ActorModelState, Envelope, Id, Network};

use crate::actor::{ActorState, ModelActor};
use crate::client::{request_id, ClientState};
use crate::model::{ConcordState, History};
use crate::server::ServerState;
use crate::types::{Durable, ModelSnapshot, Msg, ServerId, Storage};

/// Most orders tried among servers that look alike (beyond it, ties keep their old
/// order: still sound, only less reduction).
const MAX_CANDIDATES: usize = 24;

/// The representative of `state`'s class (see the module docs).
///
/// Servers are sorted by an id-free summary. Servers with equal summaries can still
/// differ (whom they voted for, say), so every order of each group of look-alikes is
/// tried and the candidate with the smallest hash wins: the set of candidates is the
/// same for every state of the class, so the choice is canonical, and the checker's
/// state counts do not depend on which member of a class a thread happened to reach
/// first.
pub fn representative(state: &ConcordState) -> ConcordState {
    representative_by(state, Shortcut::On)
}

/// Whether [`representative`] takes its shortcut: for the identity order, the actors'
/// states are shared instead of rebuilt. The result is the same either way
/// (`the_shortcut_changes_no_representative` below). Measured 2026-12-04 on the
/// `elections` profile: about a tenth of the checker's time (a rebuilt state is built,
/// hashed once and dropped; about one representative in eight has the identity order).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shortcut {
    On,
    #[cfg(test)]
    Off,
}

fn representative_by(state: &ConcordState, shortcut: Shortcut) -> ConcordState {
    let servers = state
        .actor_states
        .iter()
        .take_while(|actor| actor.as_server().is_some())
        .count();
    let mut order: Vec<usize> = (0..servers).collect();
    let summaries: Vec<_> = (0..servers).map(|index| summary(state, index)).collect();
    order.sort_by_key(|&index| summaries[index]);
    let candidates = tie_orders(&order, |a, b| summaries[a] == summaries[b]);
    if candidates.len() == 1 {
        return apply_order(state, servers, &order, shortcut);
    }
    candidates
        .iter()
        .map(|order| apply_order(state, servers, order, shortcut))
        .min_by_key(fingerprint)
        .expect("at least one candidate")
}

/// `state` as it is, less its dead messages (`apply_order` for the identity order: no
/// name changes, so the actors' states are shared, not copied).
fn without_dead_messages(state: &ConcordState, servers: usize) -> ConcordState {
    let actor_states = state
        .actor_states
        .iter()
        .map(|actor| match &**actor {
            ActorState::Server(server) if !server.core.unchanged_by_identity_relabel() => Arc::new(
                ActorState::Server(Box::new(relabel_server(server, &|id: &ServerId| *id))),
            ),
            _ => Arc::clone(actor),
        })
        .collect();
    ActorModelState::<ModelActor, History> {
        actor_states,
        network: live_network(state, servers, |envelope| Envelope {
            src: envelope.src,
            dst: envelope.dst,
            msg: envelope.msg.clone(),
        }),
        timers_set: state.timers_set.clone(),
        random_choices: state.random_choices.clone(),
        crashed: state.crashed.clone(),
        actor_storages: state.actor_storages.clone(),
        history: state.history.clone(),
    }
}

/// `state`'s network without its dead messages, each envelope passed through `map`
/// (the last message of a duplicating network too, dead or not).
fn live_network(
    state: &ConcordState,
    servers: usize,
    map: impl Fn(Envelope<&Msg>) -> Envelope<Msg>,
) -> Network<Msg> {
    let live = |envelope: &Envelope<&Msg>| !is_dead(state, servers, envelope);
    match &state.network {
        Network::UnorderedNonDuplicating(_) => {
            Network::new_unordered_nonduplicating(state.network.iter_all().filter(live).map(&map))
        }
        Network::UnorderedDuplicating(_, last) => Network::new_unordered_duplicating_with_last_msg(
            state.network.iter_all().filter(live).map(&map),
            last.as_ref().map(|envelope| {
                map(Envelope {
                    src: envelope.src,
                    dst: envelope.dst,
                    msg: &envelope.msg,
                })
            }),
        ),
        Network::Ordered(_) => state.network.clone(),
    }
}

/// A stable hash of a state (`DefaultHasher::new` has fixed keys).
fn fingerprint(state: &ConcordState) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    state.hash(&mut hasher);
    hasher.finish()
}

/// Every order obtained from `order` by permuting runs of equal neighbours, or just
/// `order` if there would be more than `MAX_CANDIDATES`.
fn tie_orders(order: &[usize], equal: impl Fn(usize, usize) -> bool) -> Vec<Vec<usize>> {
    let mut runs: Vec<(usize, usize)> = Vec::new(); // (start, len)
    let mut start = 0;
    for i in 1..=order.len() {
        if i == order.len() || !equal(order[i - 1], order[i]) {
            runs.push((start, i - start));
            start = i;
        }
    }
    let count: usize = runs
        .iter()
        .map(|(_, len)| (1..=*len).product::<usize>())
        .product();
    if count > MAX_CANDIDATES {
        return vec![order.to_vec()];
    }
    let mut results = vec![order.to_vec()];
    for (start, len) in runs.into_iter().filter(|(_, len)| *len > 1) {
        let mut next = Vec::new();
        for base in &results {
            for permutation in permutations(&base[start..start + len]) {
                let mut candidate = base.clone();
                candidate[start..start + len].copy_from_slice(&permutation);
                next.push(candidate);
            }
        }
        results = next;
    }
    results
}

fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for (i, &first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            all.push(tail);
        }
    }
    all
}

/// The state with server `order[k]` renamed to `k`.
fn apply_order(
    state: &ConcordState,
    servers: usize,
    order: &[usize],
    shortcut: Shortcut,
) -> ConcordState {
    if shortcut == Shortcut::On && order.iter().enumerate().all(|(new, &old)| new == old) {
        return without_dead_messages(state, servers);
    }
    let mut new_index = vec![0u8; servers];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = u8::try_from(new).expect("few servers");
    }
    let rename = |id: &ServerId| ServerId(new_index[usize::from(id.0)]);
    let rename_actor = |id: Id| -> Id {
        let index = usize::from(id);
        if index < servers {
            Id::from(usize::from(new_index[index]))
        } else {
            id
        }
    };
    let permuted = |index: usize| -> usize {
        if index < servers {
            order[index]
        } else {
            index
        }
    };

    let actor_states = (0..state.actor_states.len())
        .map(|position| {
            let old = &state.actor_states[permuted(position)];
            Arc::new(match &**old {
                ActorState::Server(server) => {
                    ActorState::Server(Box::new(relabel_server(server, &rename)))
                }
                ActorState::Client(client) => {
                    ActorState::Client(relabel_client(client, &new_index))
                }
            })
        })
        .collect();

    let network = live_network(state, servers, |envelope| Envelope {
        src: rename_actor(envelope.src),
        dst: rename_actor(envelope.dst),
        msg: relabel_msg(envelope.msg, &rename),
    });

    let reorder = |position: usize| permuted(position);
    ActorModelState::<ModelActor, History> {
        actor_states,
        network,
        timers_set: (0..state.timers_set.len())
            .map(|p| state.timers_set[reorder(p)].clone())
            .collect(),
        random_choices: (0..state.random_choices.len())
            .map(|p| state.random_choices[reorder(p)].clone())
            .collect(),
        crashed: (0..state.crashed.len())
            .map(|p| state.crashed[reorder(p)])
            .collect(),
        actor_storages: (0..state.actor_storages.len())
            .map(|p| {
                state.actor_storages[reorder(p)]
                    .as_ref()
                    .map(|storage| match storage {
                        Storage::Server(durable) => {
                            Storage::Server(relabel_durable(durable, &rename))
                        }
                        Storage::Client(client) => {
                            Storage::Client(relabel_client(client, &new_index))
                        }
                    })
            })
            .collect(),
        history: History {
            linearizability: state.history.linearizability.clone(),
            leaders: state
                .history
                .leaders
                .iter()
                .map(|(term, leader)| (*term, rename(leader)))
                .collect(),
        },
    }
}

/// What a server looks like without its name: sorting by this puts equal-looking
/// servers next to each other whatever they are called.
#[allow(clippy::type_complexity)]
fn summary(
    state: &ConcordState,
    index: usize,
) -> (
    bool,
    u8,
    u64,
    u64,
    u64,
    u64,
    usize,
    usize,
    usize,
    u64,
    u8,
    bool,
) {
    let server = state.actor_states[index]
        .as_server()
        .expect("servers come first");
    let durable = state.actor_storages[index]
        .as_ref()
        .and_then(Storage::as_server);
    let role = match server.core.role() {
        Role::Follower => 0,
        Role::PreCandidate => 1,
        Role::Candidate => 2,
        Role::Leader => 3,
    };
    let last = server.core.last_log_id();
    (
        state.crashed[index],
        role,
        server.core.term().0,
        last.term.0,
        last.index.0,
        server.core.commit_index().0,
        server.pending.len() + server.core.held_messages(),
        durable.map_or(0, |d| d.entries.len()),
        server.applied.len(),
        durable.map_or(0, |d| d.hard_state.term.0),
        server.register,
        server.recovered,
    )
}

/// True for a message whose delivery can never change anything (module docs).
fn is_dead(state: &ConcordState, servers: usize, envelope: &Envelope<&Msg>) -> bool {
    let destination = usize::from(envelope.dst);
    match envelope.msg {
        Msg::Raft { message, .. } => {
            let response = matches!(
                message,
                Message::PreVoteResponse(_)
                    | Message::VoteResponse(_)
                    | Message::AppendResponse(_)
                    | Message::HeartbeatResponse(_)
                    | Message::InstallSnapshotResponse(_)
                    | Message::ReadIndexResponse(_)
            );
            let durable_term = state
                .actor_storages
                .get(destination)
                .and_then(|storage| storage.as_ref())
                .and_then(Storage::as_server)
                .map(|durable| durable.hard_state.term);
            response
                && destination < servers
                && durable_term.is_some_and(|term| message.term() < term)
        }
        Msg::Redirect { request, .. } | Msg::WriteOk { request } | Msg::ReadOk { request, .. } => {
            match state
                .actor_states
                .get(destination)
                .and_then(|a| a.as_client())
            {
                Some(client) => *request != request_id(destination - servers, client.completed),
                None => false,
            }
        }
        Msg::Request { .. } | Msg::InstallSnapshot { .. } => false,
    }
}

fn relabel_msg(msg: &Msg, rename: &impl Fn(&ServerId) -> ServerId) -> Msg {
    match msg {
        Msg::Raft { message, payloads } => Msg::Raft {
            message: message.relabel(rename),
            payloads: payloads.clone(),
        },
        Msg::Redirect {
            request,
            leader_hint,
        } => Msg::Redirect {
            request: *request,
            leader_hint: leader_hint.as_ref().map(rename),
        },
        Msg::InstallSnapshot { message, data } => Msg::InstallSnapshot {
            message: message.relabel(rename),
            data: Box::new(relabel_snapshot(data, rename)),
        },
        Msg::Request { .. } | Msg::WriteOk { .. } | Msg::ReadOk { .. } => msg.clone(),
    }
}

fn relabel_snapshot(
    snapshot: &ModelSnapshot,
    rename: &impl Fn(&ServerId) -> ServerId,
) -> ModelSnapshot {
    ModelSnapshot {
        meta: snapshot.meta.relabel(rename),
        register: snapshot.register,
        // Client answers name no server.
        sessions: snapshot.sessions.clone(),
        applied: snapshot.applied.clone(),
    }
}

fn relabel_durable(durable: &Durable, rename: &impl Fn(&ServerId) -> ServerId) -> Durable {
    Durable {
        hard_state: durable.hard_state.relabel(rename),
        entries: durable.entries.iter().map(|e| e.relabel(rename)).collect(),
        snapshot: durable
            .snapshot
            .as_ref()
            .map(|snapshot| relabel_snapshot(snapshot, rename)),
        payloads: durable.payloads.clone(),
        counters: durable.counters,
    }
}

/// A client's state with its server ids (`target`, `read_target`) renamed.
fn relabel_client(client: &ClientState, new_index: &[u8]) -> ClientState {
    let rename = |index: usize| usize::from(new_index.get(index).copied().unwrap_or(0));
    ClientState {
        target: rename(client.target),
        read_target: client.read_target.map(rename),
        write_target: client.write_target.map(rename),
        ..client.clone()
    }
}

fn relabel_server(server: &ServerState, rename: &impl Fn(&ServerId) -> ServerId) -> ServerState {
    ServerState {
        core: server.core.relabel(rename),
        payloads: server.payloads.clone(),
        pending: server
            .pending
            .iter()
            .map(|(seq, write)| {
                let write = match write {
                    Write::HardState(hard_state) => Write::HardState(hard_state.relabel(rename)),
                    Write::Truncate(from) => Write::Truncate(*from),
                    Write::InstallSnapshot(meta) => Write::InstallSnapshot(meta.relabel(rename)),
                    Write::Append(entries) => Write::Append(
                        entries
                            .iter()
                            .map(|(meta, payload)| (meta.relabel(rename), *payload))
                            .collect(),
                    ),
                };
                (*seq, write)
            })
            .collect(),
        durable: relabel_durable(&server.durable, rename),
        waiting: server.waiting.clone(),
        register: server.register,
        sessions: server.sessions.clone(),
        applied: server.applied.clone(),
        recovered: server.recovered,
        disk_failed: server.disk_failed,
        staged: server
            .staged
            .as_ref()
            .map(|snapshot| relabel_snapshot(snapshot, rename)),
        reads: server.reads.clone(),
        ready_reads: server.ready_reads.clone(),
        election_deadline: server.election_deadline,
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use stateright::Model;

    use super::{representative_by, Shortcut};
    use crate::profiles::by_name;

    /// Random walks through profiles with crashes, clients, snapshots and membership
    /// changes (no profile has a duplicating network): at every state, the
    /// representative taken with the shortcut equals the one built from scratch.
    #[test]
    fn the_shortcut_changes_no_representative() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for name in [
            "crash",
            "client-crash",
            "torn-step",
            "snapshot-crash",
            "membership",
            "transfer",
        ] {
            let model = (by_name(name).expect("profile").config)().into_model();
            for _ in 0..40 {
                let mut state = model.init_states().remove(0);
                for _ in 0..60 {
                    assert!(
                        representative_by(&state, Shortcut::On)
                            == representative_by(&state, Shortcut::Off),
                        "{name}: the shortcut changed a representative"
                    );
                    let mut actions = Vec::new();
                    model.actions(&state, &mut actions);
                    let next: Vec<_> = actions
                        .into_iter()
                        .filter_map(|action| model.next_state(&state, action))
                        .collect();
                    if next.is_empty() {
                        break;
                    }
                    state = next[rng.random_range(0..next.len())].clone();
                }
            }
        }
    }
}

//! Running the checker and reporting: verdicts per property, state counts, readable
//! counterexample paths and the one-line JSON summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use stateright::actor::{ActorModelAction, Id};
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path};

use crate::model::{ConcordModel, ConcordState, ModelConfig};
use crate::types::{ModelTimer, Msg};

/// What the checker concluded about one property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An `Always` property with no counterexample in the explored space.
    Holds,
    /// A `Sometimes` property with an example.
    Found,
    /// An `Always` property with a counterexample.
    Violated,
    /// A `Sometimes` property with no example.
    NotFound,
}

impl Verdict {
    /// The word used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Found => "found",
            Verdict::Violated => "violated",
            Verdict::NotFound => "not found",
        }
    }

    /// True for the verdicts a passing check needs.
    pub fn is_success(self) -> bool {
        matches!(self, Verdict::Holds | Verdict::Found)
    }
}

/// How to search.
#[derive(Clone, Debug)]
pub struct SearchOptions {
    /// Checker threads.
    pub threads: usize,
    /// Give up after this long (the result is then marked incomplete).
    pub timeout: Option<Duration>,
    /// Stop at the first `Always` violation instead of exploring everything.
    pub stop_at_first_violation: bool,
    /// Breadth-first (shortest counterexamples) instead of depth-first.
    pub breadth_first: bool,
    /// Depth-first only: visit one state per class of states that differ only by server
    /// names or by messages that can no longer matter (see [`crate::symmetry`]).
    pub symmetry: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            threads: 1,
            timeout: None,
            stop_at_first_violation: false,
            breadth_first: false,
            symmetry: true,
        }
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct Outcome {
    /// Distinct states explored.
    pub unique_states: usize,
    /// States explored, counting revisits.
    pub total_states: usize,
    /// The deepest path explored.
    pub max_depth: usize,
    /// Wall-clock time.
    pub seconds: f64,
    /// False when the search stopped early (timeout, first violation, simulation).
    pub complete: bool,
    /// Verdict per property, in declaration order.
    pub properties: Vec<(&'static str, Verdict)>,
    /// Readable paths for every violated `Always` property.
    pub counterexamples: BTreeMap<&'static str, String>,
    /// Readable paths for every found `Sometimes` property.
    pub examples: BTreeMap<&'static str, String>,
}

impl Outcome {
    /// True when every `Always` holds and every `Sometimes` was found.
    pub fn passed(&self) -> bool {
        self.properties
            .iter()
            .all(|(_, verdict)| verdict.is_success())
    }

    /// The verdict of one property.
    pub fn verdict(&self, name: &str) -> Option<Verdict> {
        self.properties
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, verdict)| *verdict)
    }

    /// The one-line JSON summary printed by `--json`.
    pub fn to_json(&self) -> String {
        let properties: serde_json::Map<String, serde_json::Value> = self
            .properties
            .iter()
            .map(|(name, verdict)| (name.to_string(), verdict.as_str().into()))
            .collect();
        serde_json::json!({
            "unique_states": self.unique_states,
            "total_states": self.total_states,
            "max_depth": self.max_depth,
            "seconds": (self.seconds * 1000.0).round() / 1000.0,
            "complete": self.complete,
            "passed": self.passed(),
            "properties": properties,
        })
        .to_string()
    }

    /// A human-readable summary (verdicts and counterexamples).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} unique states ({} total), max depth {}, {:.2}s{}",
            self.unique_states,
            self.total_states,
            self.max_depth,
            self.seconds,
            if self.complete { "" } else { " (incomplete)" }
        );
        for (name, verdict) in &self.properties {
            let _ = writeln!(out, "  {:<42} {}", name, verdict.as_str());
        }
        for (name, path) in &self.counterexamples {
            let _ = writeln!(out, "\nCounterexample for \"{name}\":\n{path}");
        }
        out
    }
}

/// Exhaustive search of the model within its bounds.
///
/// With a timeout, the result is reported when it expires and marked incomplete; the
/// search threads are then left running (stateright has no way to stop a depth-first
/// search early), which is harmless in the CLI since the process exits.
pub fn check(cfg: ModelConfig, options: &SearchOptions) -> Outcome {
    let symmetric = cfg.symmetric();
    let model = cfg.into_model();
    let started = Instant::now();
    let mut builder = model.checker().threads(options.threads.max(1));
    if options.stop_at_first_violation {
        builder = builder.finish_when(HasDiscoveries::AnyFailures);
    }
    let stopped_early = options.stop_at_first_violation;
    if options.breadth_first {
        let mut checker = builder.spawn_bfs();
        let finished = wait(&mut checker, started, options.timeout);
        outcome(&checker, started, finished && !stopped_early)
    } else {
        if options.symmetry && symmetric {
            builder = builder.symmetry_fn(crate::symmetry::representative);
        }
        let mut checker = builder.spawn_dfs();
        let finished = wait(&mut checker, started, options.timeout);
        outcome(&checker, started, finished && !stopped_early)
    }
}

/// Waits until every checker thread has finished or the timeout expires; true when
/// the threads finished.
fn wait<C: Checker<ConcordModel>>(
    checker: &mut C,
    started: Instant,
    timeout: Option<Duration>,
) -> bool {
    let handles = checker.handles();
    loop {
        if handles.iter().all(|handle| handle.is_finished()) {
            for handle in handles {
                handle.join().expect("checker thread panicked");
            }
            return true;
        }
        if timeout.is_some_and(|limit| started.elapsed() >= limit) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Random walks: `runs` walks of at most `steps` steps each, from `seed`.
///
/// Walk `r` draws from its own generator seeded by `seed` and `r`, so a walk is
/// reproducible whatever the thread count. Runs are claimed in order and a walk, once
/// started, is finished, so the reported discovery of each property is the one of the
/// lowest-numbered walk that made it, whatever the thread count. An `Always` violation
/// stops new walks from starting.
///
/// Not stateright's `spawn_simulation`: it records the index of each chosen action in a
/// list it shrinks as ignored actions are removed, then replays the indices against the
/// full list, so any walk through a message the receiver ignores (common here: stale
/// responses) cannot be turned back into a path. These walks keep the actions themselves.
pub fn simulate(cfg: ModelConfig, seed: u64, steps: usize, runs: usize, threads: usize) -> Outcome {
    use rand::{Rng as _, SeedableRng as _};
    use std::collections::HashSet;
    use std::hash::{Hash as _, Hasher as _};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;

    type Action = ActorModelAction<Msg, ModelTimer, ()>;
    let model = cfg.into_model();
    let started = Instant::now();
    let properties = model.properties();
    let next_run = AtomicUsize::new(0);
    let violated = AtomicBool::new(false);
    let visited = AtomicUsize::new(0);
    let deepest = AtomicUsize::new(0);
    // Per property: the lowest walk that made a discovery, its initial state and actions.
    type Discovery = (usize, ConcordState, Vec<Action>);
    let found: Mutex<BTreeMap<&'static str, Discovery>> = Mutex::new(BTreeMap::new());
    let walk = |run: usize| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(
            seed ^ (run as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut initial = model.init_states();
        let mut state = initial.swap_remove(rng.random_range(0..initial.len()));
        let init = state.clone();
        let mut path: Vec<Action> = Vec::new();
        let mut seen = HashSet::new();
        let mut actions = Vec::new();
        let mut made = Vec::new();
        loop {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            crate::symmetry::representative(&state).hash(&mut hasher);
            if !seen.insert(hasher.finish()) {
                break; // a loop
            }
            visited.fetch_add(1, Ordering::Relaxed);
            for property in &properties {
                let hit = match property.expectation {
                    Expectation::Always => !(property.condition)(&model, &state),
                    Expectation::Sometimes => (property.condition)(&model, &state),
                    Expectation::Eventually => false,
                };
                if hit && !made.contains(&property.name) {
                    made.push(property.name);
                    if property.expectation == Expectation::Always {
                        violated.store(true, Ordering::Relaxed);
                    }
                    let mut found = found.lock().expect("no walk panics holding the lock");
                    let earlier = found.get(property.name).is_some_and(|(r, ..)| *r < run);
                    if !earlier {
                        found.insert(property.name, (run, init.clone(), path.clone()));
                    }
                }
            }
            if path.len() >= steps {
                break;
            }
            actions.clear();
            model.actions(&state, &mut actions);
            // Weighted choice; an action the receiver ignores, or one that would leave
            // the bounds, is set aside and another is drawn, so a walk ends only at
            // `steps`, in a loop, or where nothing can happen.
            let next = loop {
                let total: u64 = actions.iter().map(walk_weight).sum();
                if total == 0 {
                    break None;
                }
                let mut pick = rng.random_range(0..total);
                let index = actions
                    .iter()
                    .position(|action| {
                        let weight = walk_weight(action);
                        if pick < weight {
                            true
                        } else {
                            pick -= weight;
                            false
                        }
                    })
                    .expect("pick is below the total weight");
                let action = actions.swap_remove(index);
                if let Some(next) = model.next_state(&state, action.clone()) {
                    if Model::within_boundary(&model, &next) {
                        break Some((action, next));
                    }
                }
            };
            let Some((action, next)) = next else { break };
            path.push(action);
            state = next;
        }
        deepest.fetch_max(path.len(), Ordering::Relaxed);
    };
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                if violated.load(Ordering::Relaxed) {
                    break;
                }
                let run = next_run.fetch_add(1, Ordering::Relaxed);
                if run >= runs {
                    break;
                }
                walk(run);
            });
        }
    });

    let found = found.into_inner().expect("no walk panics holding the lock");
    let (verdicts, counterexamples, examples) = verdicts(&model, |name| {
        found.get(name).map(|(run, init, actions)| {
            let path = Path::from_actions(&model, init.clone(), actions)
                .expect("a walk replays: the model is deterministic");
            format!("(walk {run})\n{}", render_path(&model, &path))
        })
    });
    let visited = visited.into_inner();
    Outcome {
        unique_states: visited,
        total_states: visited,
        max_depth: deepest.into_inner(),
        seconds: started.elapsed().as_secs_f64(),
        complete: false,
        properties: verdicts,
        counterexamples,
        examples,
    }
}

/// How often a walk picks an action, relative to the others: crashes are rare, timers
/// fire less often than messages arrive, so walks go deep instead of spending their crash
/// and election budgets in the first steps.
fn walk_weight(action: &ActorModelAction<Msg, ModelTimer, ()>) -> u64 {
    match action {
        ActorModelAction::Crash(_) | ActorModelAction::Timeout(_, ModelTimer::DiskFailure) => 1,
        ActorModelAction::Timeout(_, ModelTimer::Election) => 4,
        ActorModelAction::Timeout(_, ModelTimer::Heartbeat) => 8,
        ActorModelAction::Recover(_) => 10,
        _ => 20,
    }
}

type Paths = BTreeMap<&'static str, String>;

/// The verdict of every property, from the rendered discovery of each (if any): the
/// verdicts in declaration order, the counterexamples and the examples.
fn verdicts(
    model: &ConcordModel,
    discovery: impl Fn(&'static str) -> Option<String>,
) -> (Vec<(&'static str, Verdict)>, Paths, Paths) {
    let mut verdicts = Vec::new();
    let mut counterexamples = BTreeMap::new();
    let mut examples = BTreeMap::new();
    for property in model.properties() {
        let verdict = match (property.expectation, discovery(property.name)) {
            (Expectation::Sometimes, Some(path)) => {
                examples.insert(property.name, path);
                Verdict::Found
            }
            (Expectation::Sometimes, None) => Verdict::NotFound,
            (_, Some(path)) => {
                counterexamples.insert(property.name, path);
                Verdict::Violated
            }
            (_, None) => Verdict::Holds,
        };
        verdicts.push((property.name, verdict));
    }
    (verdicts, counterexamples, examples)
}

fn outcome<C: Checker<ConcordModel>>(checker: &C, started: Instant, complete: bool) -> Outcome {
    let model = checker.model();
    let discoveries = checker.discoveries();
    let (properties, counterexamples, examples) = verdicts(model, |name| {
        discoveries.get(name).map(|path| render_path(model, path))
    });
    Outcome {
        unique_states: checker.unique_state_count(),
        total_states: checker.state_count(),
        max_depth: checker.max_depth(),
        seconds: started.elapsed().as_secs_f64(),
        complete,
        properties,
        counterexamples,
        examples,
    }
}

/// A path as numbered steps, each followed by the servers' resulting state.
pub fn render_path(
    model: &ConcordModel,
    path: &Path<ConcordState, ActorModelAction<Msg, ModelTimer, ()>>,
) -> String {
    let mut out = String::new();
    let steps = path.clone().into_vec();
    if let Some((initial, _)) = steps.first() {
        let _ = writeln!(out, "initial state:");
        out.push_str(&render_state(model, initial));
    }
    for (number, window) in steps.windows(2).enumerate() {
        let (_, action) = &window[0];
        let (next, _) = &window[1];
        let Some(action) = action else { continue };
        let _ = writeln!(out, "step {}: {}", number + 1, render_action(model, action));
        out.push_str(&render_state(model, next));
    }
    out
}

fn actor_name(model: &ConcordModel, id: Id) -> String {
    let index = usize::from(id);
    if index < model.cfg.servers {
        format!("s{index}")
    } else {
        format!("c{}", index - model.cfg.servers)
    }
}

fn render_action(model: &ConcordModel, action: &ActorModelAction<Msg, ModelTimer, ()>) -> String {
    match action {
        ActorModelAction::Deliver { src, dst, msg } => format!(
            "{} -> {}: {msg}",
            actor_name(model, *src),
            actor_name(model, *dst)
        ),
        ActorModelAction::Drop(envelope) => format!(
            "network drops {} -> {}: {}",
            actor_name(model, envelope.src),
            actor_name(model, envelope.dst),
            envelope.msg
        ),
        ActorModelAction::Timeout(id, ModelTimer::Persist) => {
            format!(
                "{}: storage makes queued writes durable",
                actor_name(model, *id)
            )
        }
        ActorModelAction::Timeout(id, ModelTimer::DiskFailure) => {
            format!("{}: its disk fails", actor_name(model, *id))
        }
        ActorModelAction::Timeout(id, timer) => {
            format!("{}: {timer:?} timer fires", actor_name(model, *id))
        }
        ActorModelAction::Crash(id) => format!("{} crashes", actor_name(model, *id)),
        ActorModelAction::Recover(id) => {
            format!("{} restarts from its durable state", actor_name(model, *id))
        }
        ActorModelAction::SelectRandom { actor, .. } => {
            format!("{} chooses", actor_name(model, *actor))
        }
    }
}

/// One line per actor: role, term, vote, commit, log, queue; clients' progress.
pub fn render_state(model: &ConcordModel, state: &ConcordState) -> String {
    let mut out = String::new();
    for (index, actor) in state.actor_states.iter().enumerate() {
        let name = actor_name(model, Id::from(index));
        if state.crashed[index] {
            let _ = writeln!(out, "    {name}: down");
            continue;
        }
        if let Some(server) = actor.as_server() {
            let core = &server.core;
            let _ = writeln!(
                out,
                "    {name}: {} term={} vote={} leader={} commit={} log=[{}] durable={} pending={} register={}",
                core.role(),
                core.term(),
                core.voted_for().map_or("-".into(), |v| v.to_string()),
                core.leader().map_or("-".into(), |v| v.to_string()),
                core.commit_index(),
                core.describe_log(),
                server.durable.entries.len(),
                server.pending.len(),
                server.register,
            );
        } else if let Some(client) = actor.as_client() {
            let _ = writeln!(
                out,
                "    {name}: completed={} target=s{} reads={:?}",
                client.completed, client.target, client.reads
            );
        }
    }
    out
}

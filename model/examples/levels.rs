use concord_model::*;
use stateright::{Checker, Model};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let mut cfg = ModelConfig {
        max_term: 1,
        crashes: 0,
        clients: 0,
        max_elections: a[1].parse().unwrap(),
        max_heartbeats: a[2].parse().unwrap(),
        ..ModelConfig::default()
    };
    cfg.options.pre_vote = a[3] == "1";
    for d in [4usize, 8, 12, 16, 20, 24, 28, 32] {
        let model = cfg.clone().into_model();
        let t = std::time::Instant::now();
        let c = model.checker().target_max_depth(d).spawn_bfs().join();
        println!(
            "depth {d}: unique {} {:?}",
            c.unique_state_count(),
            t.elapsed()
        );
        if t.elapsed().as_secs() > 20 {
            break;
        }
    }
}

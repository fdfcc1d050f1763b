//! Parsers and import never panic, whatever the bytes.

use concord_linearizability::{analyze, parse, CheckOptions, Format, ModelKind};
use proptest::prelude::*;
use std::time::Duration;

const FORMATS: [Format; 5] = [
    Format::Auto,
    Format::Jsonl,
    Format::Edn,
    Format::PorcupineEtcd,
    Format::PorcupineKv,
];
const MODELS: [ModelKind; 5] = [
    ModelKind::Register,
    ModelKind::CasRegister,
    ModelKind::Kv,
    ModelKind::Counter,
    ModelKind::Set,
];

const SEEDS: [&str; 4] = [
    "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\n",
    "[{:process 0, :type :invoke, :f :write, :value 2}\n {:process 0, :type :ok, :f :write, :value 2}\n {:process :nemesis, :type :info, :f :start}]\n",
    "{:process 0, :type :invoke, :f :append, :key \"1\", :value \"x\"}\n{:process 0, :type :ok, :f :append, :key \"1\", :value \"x\"}\n",
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"add\",\"value\":1}\n{\"process\":0,\"type\":\"ok\",\"f\":\"add\",\"value\":null}\n",
];

fn exercise(text: &str) {
    let options = CheckOptions {
        timeout: Some(Duration::from_millis(200)),
        ..CheckOptions::default()
    };
    for format in FORMATS {
        if let Ok(history) = parse(text, format) {
            for model in MODELS {
                let _ = analyze(model, &history, &options);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_histories_do_not_panic(
        seed in 0usize..SEEDS.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(vec!['[', ']', '{', '}', ':', '"', '\n', ' ', '0', '-', '\\', '#', 'n', ',', ';'])), 1..6),
    ) {
        let mut text: Vec<char> = SEEDS[seed].chars().collect();
        for (index, action, ch) in edits {
            if text.is_empty() { break; }
            let at = index.index(text.len());
            match action {
                0 => { text.remove(at); }
                1 => text.insert(at, ch),
                _ => text.truncate(at),
            }
        }
        exercise(&text.into_iter().collect::<String>());
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let text = "[".repeat(100_000);
    assert!(parse(&text, Format::Edn).is_err());
}

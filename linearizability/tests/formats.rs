//! Each source's semantics, and the JSON-lines writer round trip.

use concord_linearizability::{
    analyze, parse, to_jsonl, CheckOptions, Format, History, ModelKind, Value, Verdict,
};

fn verdict(model: ModelKind, text: &str, format: Format) -> Verdict {
    let history = parse(text, format).expect("parses");
    analyze(model, &history, &CheckOptions::default())
        .expect("imports")
        .report
        .verdict
}

#[test]
fn etcd_failed_cas_compared_and_failed() {
    // The register holds 1; a cas(1, 2) that "failed" cannot have compared against 1.
    let log = "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\n\
               INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 1\t:fail\t:cas\t[1 2]\n";
    assert_eq!(
        verdict(ModelKind::Register, log, Format::PorcupineEtcd),
        Verdict::NotLinearizable
    );
    // In Jepsen EDN the same failure means "did not happen": fine.
    let edn = "[{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}\n\
               {:process 1 :type :invoke :f :cas :value [1 2]} {:process 1 :type :fail :f :cas :value [1 2]}]";
    assert_eq!(
        verdict(ModelKind::CasRegister, edn, Format::Edn),
        Verdict::Linearizable
    );
}

#[test]
fn etcd_nil_read_means_never_written_and_timeouts_constrain_nothing() {
    let log = "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\n\
               INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\tnil\n";
    assert_eq!(
        verdict(ModelKind::Register, log, Format::PorcupineEtcd),
        Verdict::NotLinearizable
    );
    let log = "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:info\t:write\t:timed-out\n\
               INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:fail\t:read\t:timed-out\n\
               INFO  jepsen.util - 2\t:invoke\t:read\tnil\nINFO  jepsen.util - 2\t:ok\t:read\t1\n\
               INFO  jepsen.util - 3\t:invoke\t:read\tnil\nINFO  jepsen.util - 3\t:ok\t:read\t1\n";
    assert_eq!(
        verdict(ModelKind::Register, log, Format::PorcupineEtcd),
        Verdict::Linearizable
    );
}

#[test]
fn jepsen_info_is_indeterminate_and_the_process_may_return() {
    // Process 0's write is :info, then process 0 invokes again; the write may have
    // happened (read 5 ok) but reading 5 then 0 again is impossible.
    let edn = "[{:process 0 :type :invoke :f :write :value 5} {:process 0 :type :info :f :write :value 5}\n\
               {:process :nemesis :type :info :f :start :value nil}\n\
               {:process 0 :type :invoke :f :read :value nil} {:process 0 :type :ok :f :read :value 5}]";
    assert_eq!(
        verdict(ModelKind::CasRegister, edn, Format::Edn),
        Verdict::Linearizable
    );
    let edn = edn.trim_end_matches(']').to_string()
        + "\n{:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value 0}]";
    assert_eq!(
        verdict(ModelKind::CasRegister, &edn, Format::Edn),
        Verdict::NotLinearizable
    );
}

#[test]
fn builder_history_round_trips_through_json_lines() {
    let mut history = History::new();
    let put = history
        .invoke_keyed(0, Some("x"), "put", "a")
        .expect("invoke");
    let append = history
        .invoke_keyed(1, Some("x"), "append", "b")
        .expect("invoke");
    history.ok(put, Value::Nil).expect("ok");
    history.info(append).expect("info");
    let get = history
        .invoke_keyed(0, Some("x"), "get", Value::Nil)
        .expect("invoke");
    history.ok(get, "ab").expect("ok");
    let failed = history
        .invoke_keyed(2, Some("y"), "put", "z")
        .expect("invoke");
    history.fail(failed).expect("fail");
    let get_y = history
        .invoke_keyed(2, Some("y"), "get", Value::Nil)
        .expect("invoke");
    history.ok(get_y, "").expect("ok");
    assert!(history.invoke(0, "get", Value::Nil).is_ok());
    assert!(
        history.invoke(0, "get", Value::Nil).is_err(),
        "process 0 is busy"
    );

    let text = to_jsonl(&history);
    assert_eq!(
        concord_linearizability::parse::detect_format(&text),
        Some(Format::Jsonl)
    );
    let parsed = parse(&text, Format::Auto).expect("round trip parses");
    assert_eq!(parsed.operations().len(), history.operations().len());
    let options = CheckOptions::default();
    let original = analyze(ModelKind::Kv, &history, &options);
    // The trailing keyless get is an import error in both.
    assert!(original.is_err());
    assert_eq!(
        original.err().map(|e| e.reason),
        analyze(ModelKind::Kv, &parsed, &options)
            .err()
            .map(|e| e.reason)
    );
}

#[test]
fn json_lines_with_times_order_by_time() {
    // Lines out of time order: the write (time 1..2) precedes the read (time 5..6).
    let text = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null,\"time\":5}\n\
                {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":null,\"time\":6}\n\
                {\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1,\"time\":1}\n\
                {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":null,\"time\":2}\n";
    assert_eq!(
        verdict(ModelKind::Register, text, Format::Jsonl),
        Verdict::NotLinearizable
    );
}

#[test]
fn counter_and_set_models() {
    let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"add\",\"value\":2}\n\
                {\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n\
                {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":2}\n\
                {\"process\":0,\"type\":\"ok\",\"f\":\"add\",\"value\":null}\n";
    assert_eq!(
        verdict(ModelKind::Counter, text, Format::Jsonl),
        Verdict::Linearizable
    );
    assert_eq!(
        verdict(
            ModelKind::Counter,
            &text.replace(
                "\"value\":2}\n{\"process\":0",
                "\"value\":3}\n{\"process\":0"
            ),
            Format::Jsonl
        ),
        Verdict::NotLinearizable
    );
    let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"add\",\"value\":1}\n\
                {\"process\":0,\"type\":\"ok\",\"f\":\"add\"}\n\
                {\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n\
                {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":[]}\n";
    assert_eq!(
        verdict(ModelKind::Set, text, Format::Jsonl),
        Verdict::NotLinearizable
    );
}

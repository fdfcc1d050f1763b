//! F01–F02: endpoints, peer ids and configurations parse, display and round-trip, and
//! garbage is rejected with a clear error instead of a panic.

use concord::core::*;
use proptest::prelude::*;

#[test]
fn peer_ids_parse_with_and_without_index() {
    let peer: PeerId = "127.0.0.1:8081".parse().unwrap();
    assert_eq!(peer.endpoint().host(), "127.0.0.1");
    assert_eq!(peer.endpoint().port(), 8081);
    assert_eq!(peer.idx(), 0);
    assert_eq!(peer.to_string(), "127.0.0.1:8081");

    let peer: PeerId = "raft-1.example:9000:3".parse().unwrap();
    assert_eq!(peer.idx(), 3);
    assert_eq!(peer.to_string(), "raft-1.example:9000:3");

    // idx 0 written explicitly displays in the short form (JRaft does the same).
    let peer: PeerId = "a:1:0".parse().unwrap();
    assert_eq!(peer.to_string(), "a:1");

    let peer: PeerId = "[::1]:8081:2".parse().unwrap();
    assert_eq!(peer.endpoint().host(), "::1");
    assert_eq!(peer.to_string(), "[::1]:8081:2");
}

/// An IPv6 literal may end in an embedded IPv4 address (RFC 4291 §2.2), dots and all.
/// (Kills `== with !=` for the `.` in `check_host`, which refused every such host.)
#[test]
fn ipv6_hosts_with_an_ipv4_tail_parse() {
    let endpoint: Endpoint = "[::ffff:192.0.2.1]:80".parse().unwrap();
    assert_eq!(endpoint.host(), "::ffff:192.0.2.1");
    assert_eq!(endpoint.to_string(), "[::ffff:192.0.2.1]:80");
    assert!(Endpoint::new("64:ff9b::198.51.100.7", 9000).is_ok());
    let peer: PeerId = "[::ffff:10.0.0.1]:8081:1".parse().unwrap();
    assert_eq!(peer.endpoint().host(), "::ffff:10.0.0.1");
    // Still an IPv6 address: dots elsewhere are refused.
    assert!("[1.2::3]:80".parse::<Endpoint>().is_err());
}

#[test]
fn unspecified_endpoints_are_recognised() {
    assert!("0.0.0.0:80".parse::<Endpoint>().unwrap().is_unspecified());
    assert!("[::]:80".parse::<Endpoint>().unwrap().is_unspecified());
    assert!(!"127.0.0.1:80".parse::<Endpoint>().unwrap().is_unspecified());
}

/// Deserialization keeps `Configuration`'s invariant as every constructor does: a frame
/// (or any serde body) naming a node both voter and learner does not decode. (The stores
/// have their own codec, which builds configurations with `Configuration::new`.)
#[test]
fn a_configuration_with_a_node_in_both_roles_does_not_deserialize() {
    let fine: Configuration<u64> =
        serde_json::from_str(r#"{"voters":[1,2],"learners":[3]}"#).unwrap();
    assert_eq!(fine, Configuration::new([1, 2], [3]).unwrap());
    let error = serde_json::from_str::<Configuration<u64>>(r#"{"voters":[1,2],"learners":[2]}"#)
        .unwrap_err();
    assert!(
        error.to_string().contains("both a voter and a learner"),
        "{error}"
    );
    // Either half of a joint configuration.
    let joint = r#"{"current":{"voters":[1],"learners":[]},"old":{"voters":[1],"learners":[1]}}"#;
    assert!(serde_json::from_str::<ConfigurationEntry<u64>>(joint).is_err());
}

#[test]
fn configurations_parse_voters_and_learners() {
    let configuration: Configuration<PeerId> = "a:1,b:2,c:3,d:4/learner".parse().unwrap();
    let voters: Vec<String> = configuration
        .voters()
        .iter()
        .map(|p| p.to_string())
        .collect();
    let learners: Vec<String> = configuration
        .learners()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(voters, ["a:1", "b:2", "c:3"]);
    assert_eq!(learners, ["d:4"]);
    assert_eq!(configuration.to_string(), "a:1,b:2,c:3,d:4/learner");
    // Whitespace around items is tolerated; the display form is canonical (sorted).
    let messy: Configuration<PeerId> = " c:3 , a:1,b:2 ".parse().unwrap();
    assert_eq!(messy.to_string(), "a:1,b:2,c:3");
    // The empty string is the empty configuration.
    assert!("".parse::<Configuration<PeerId>>().unwrap().is_empty());
}

#[test]
fn joint_configurations_hold_both_halves() {
    let old: Configuration<PeerId> = "a:1,b:2,c:3".parse().unwrap();
    let new: Configuration<PeerId> = "b:2,c:3,d:4".parse().unwrap();
    let joint = ConfigurationEntry {
        current: new,
        old: Some(old),
    };
    assert!(joint.is_joint());
    assert!(joint.is_voter(&"a:1".parse().unwrap()));
    assert!(joint.is_voter(&"d:4".parse().unwrap()));
    assert_eq!(joint.all_members().len(), 4);
}

#[test]
fn garbage_is_rejected_with_a_reason() {
    let bad_peers = [
        ("", "expected host:port"),
        ("host", "expected host:port"),
        (":80", "empty host"),
        ("host:", "port must be a decimal number"),
        ("host:65536", "port must be at most 65535"),
        ("host:-1", "port must be a decimal number"),
        ("host:80:", "idx must be a decimal number"),
        ("host:80:x", "idx must be a decimal number"),
        ("host:80:99999999999", "idx must fit in 32 bits"),
        ("ho st:80", "host may contain only"),
        ("[::1:80", "missing ']'"),
        ("[zz::1]:80", "invalid IPv6 address"),
        ("[::1]80", "expected ':port'"),
    ];
    for (input, reason) in bad_peers {
        let error = input.parse::<PeerId>().expect_err(input);
        assert!(
            error.to_string().contains(reason),
            "{input:?}: expected a reason containing {reason:?}, got {error}"
        );
    }
    let bad_configurations = [
        ("a:1,,b:2", "empty item"),
        ("a:1,a:1", "listed twice"),
        ("a:1,a:1/learner", "listed twice"),
        ("a:1/witness", "unknown role suffix"),
        ("a:1,b", "item \"b\""),
    ];
    for (input, reason) in bad_configurations {
        let error = input.parse::<Configuration<PeerId>>().expect_err(input);
        assert!(
            error.to_string().contains(reason),
            "{input:?}: expected a reason containing {reason:?}, got {error}"
        );
    }
    assert!(Configuration::new([1u64, 2], [2u64]).is_err());
    assert!(GroupId::new("").is_err());
    assert!(GroupId::new("a/b").is_err());
    // The id keeps its name exactly (the runtime routes frames and names metrics by
    // it; mutant: `GroupId::as_str -> ""`).
    let group = GroupId::new("group_1.kv-store").unwrap();
    assert_eq!(group.as_str(), "group_1.kv-store");
    assert_eq!(group.to_string(), "group_1.kv-store");
    assert_eq!(GroupId::new("g").unwrap().as_str(), "g");
}

#[test]
fn long_garbage_is_truncated_in_errors() {
    let input = "x".repeat(10_000);
    let error = input.parse::<PeerId>().unwrap_err();
    assert!(
        error.to_string().len() < 200,
        "error message echoes the whole input"
    );
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,20}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>().prop_map(|s| std::net::Ipv6Addr::from(s).to_string()),
    ]
}

fn peer() -> impl Strategy<Value = PeerId> {
    (host(), any::<u16>(), prop_oneof![Just(0u32), any::<u32>()]).prop_map(|(h, port, idx)| {
        PeerId::new(
            Endpoint::new(&h, port).expect("generated host is valid"),
            idx,
        )
    })
}

proptest! {
    #[test]
    fn peer_ids_round_trip(peer in peer()) {
        let text = peer.to_string();
        prop_assert_eq!(text.parse::<PeerId>().unwrap(), peer);
    }

    #[test]
    fn configurations_round_trip(
        voters in prop::collection::btree_set(peer(), 0..6),
        learners in prop::collection::btree_set(peer(), 0..3),
    ) {
        let learners: Vec<PeerId> = learners.into_iter().filter(|l| !voters.contains(l)).collect();
        let configuration = Configuration::new(voters, learners).unwrap();
        let text = configuration.to_string();
        prop_assert_eq!(text.parse::<Configuration<PeerId>>().unwrap(), configuration);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,64}") {
        let _ = text.parse::<PeerId>();
        let _ = text.parse::<Endpoint>();
        let _ = text.parse::<Configuration<PeerId>>();
        let _ = GroupId::new(text);
    }

    /// Endpoints compare as (host text, port) do, whether they share their host's
    /// allocation (clones: the pointer is looked at first) or not (parsed apart).
    #[test]
    fn peer_ids_order_as_their_fields(a in peer(), b in peer()) {
        let fields = |p: &PeerId| (p.endpoint().host().to_owned(), p.endpoint().port(), p.idx());
        let apart: PeerId = b.to_string().parse().unwrap();
        for other in [&b, &apart] {
            prop_assert_eq!(a.cmp(other), fields(&a).cmp(&fields(other)));
            prop_assert_eq!(a == *other, fields(&a) == fields(other));
            prop_assert_eq!(a.partial_cmp(other), Some(a.cmp(other)));
        }
        let clone = a.clone();
        prop_assert_eq!(a.cmp(&clone), std::cmp::Ordering::Equal);
        prop_assert_eq!(&a, &clone);
        // Same host (shared or not), other port: the port decides.
        let moved = PeerId::new(Endpoint::new(a.endpoint().host(), a.endpoint().port() ^ 1).unwrap(), a.idx());
        prop_assert_eq!(a.cmp(&moved), a.endpoint().port().cmp(&moved.endpoint().port()));
        prop_assert_ne!(&a, &moved);
    }

    #[test]
    fn serde_round_trips_through_json(peer in peer()) {
        let json = serde_json::to_string(&peer).unwrap();
        prop_assert_eq!(serde_json::from_str::<PeerId>(&json).unwrap(), peer);
    }
}

/// Endpoints hash as they compare: clones and separately parsed copies hash alike, and
/// endpoints that differ in host or port hash apart (std's `DefaultHasher` is keyed
/// with zeros: the same hashes every run). Kills a `hash` that hashes nothing.
#[test]
fn endpoints_hash_as_they_compare() {
    use std::hash::{DefaultHasher, Hash, Hasher};
    fn hash(endpoint: &Endpoint) -> u64 {
        let mut hasher = DefaultHasher::new();
        endpoint.hash(&mut hasher);
        hasher.finish()
    }
    let a: Endpoint = "10.0.0.1:8081".parse().unwrap();
    let same: Endpoint = "10.0.0.1:8081".parse().unwrap();
    assert_eq!(hash(&a), hash(&a.clone()));
    assert_eq!(hash(&a), hash(&same));
    for other in ["10.0.0.1:8082", "10.0.0.2:8081"] {
        let other: Endpoint = other.parse().unwrap();
        assert_ne!(hash(&a), hash(&other), "{other}");
    }
}

/// A host name is at most 253 characters (RFC 1035's limit on a name in text form): 253
/// is accepted, 254 refused (kills `> with ==` in `check_host`). Labels of at most 63
/// characters, as the RFC has them.
#[test]
fn host_names_are_at_most_253_characters() {
    let label = "a".repeat(63);
    // Three labels of 63 and three dots: 192 characters; then a last label.
    let prefix = [label.as_str(); 3].join(".");
    for (last, ok) in [(61, true), (62, false), (63, false)] {
        let host = format!("{prefix}.{}", "b".repeat(last));
        let input = format!("{host}:80");
        assert_eq!(
            input.parse::<Endpoint>().is_ok(),
            ok,
            "{} characters",
            host.len()
        );
        assert_eq!(
            input.parse::<PeerId>().is_ok(),
            ok,
            "{} characters",
            host.len()
        );
    }
}

/// A term is an epoch (high 16 bits) and the elections within it (low 48 bits); the
/// first term of an epoch saturates at the last epoch instead of wrapping to term 0.
/// (Kills `>>` with `<<` in `Term::first_of_epoch`.)
#[test]
fn terms_split_into_epochs_and_elections_and_saturate() {
    let last_epoch = u64::MAX >> 48; // 16 bits of epoch
    assert_eq!(Term::first_of_epoch(0), Term(0));
    assert_eq!(Term::first_of_epoch(1), Term(1 << 48));
    assert_eq!(Term::first_of_epoch(1).epoch(), 1);
    assert_eq!(Term::first_of_epoch(last_epoch).epoch(), last_epoch);
    assert_eq!(
        Term::first_of_epoch(last_epoch + 1),
        Term::first_of_epoch(last_epoch)
    );
    assert_eq!(Term::first_of_epoch(u64::MAX), Term(last_epoch << 48));
    let term = Term(Term::first_of_epoch(3).0 + 7);
    assert_eq!((term.epoch(), term.elections()), (3, 7));
}

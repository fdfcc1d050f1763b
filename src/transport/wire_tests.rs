use super::*;
use crate::core::{AppendRequest, EntryMeta, Heartbeat, LogId, LogIndex, Term};

fn peer(text: &str) -> PeerId {
    text.parse().unwrap()
}

fn append_frame(payloads: Vec<&'static [u8]>) -> RaftFrame {
    let entries = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| EntryMeta {
            log_id: LogId::new(2, i as u64 + 5),
            kind: EntryKind::Normal,
            size_bytes: p.len() as u32,
        })
        .collect();
    RaftFrame {
        group: GroupId::new("kv").unwrap(),
        from: peer("127.0.0.1:7001"),
        to: peer("127.0.0.1:7002"),
        body: FrameBody::Raft(Message::Append(AppendRequest {
            term: Term(2),
            prev_log_id: LogId::new(2, 4),
            entries,
            leader_commit: LogIndex(3),
        })),
        payloads: payloads.into_iter().map(Bytes::from_static).collect(),
    }
}

#[test]
fn frames_round_trip_through_a_byte_stream() {
    let first = append_frame(vec![b"set x 1", b"", b"set y 2"]);
    let second = RaftFrame {
        body: FrameBody::Raft(Message::Heartbeat(Heartbeat {
            term: Term(2),
            commit: LogIndex(7),
            round: 0,
        })),
        payloads: Vec::new(),
        ..first.clone()
    };
    let mut stream = BytesMut::new();
    stream.extend_from_slice(&first.encode(DEFAULT_MAX_FRAME_BYTES).unwrap());
    stream.extend_from_slice(&second.encode(DEFAULT_MAX_FRAME_BYTES).unwrap());
    let decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    // Feed the stream one byte at a time: partial frames are never mis-decoded.
    let all = stream.freeze();
    let mut buffer = BytesMut::new();
    let mut decoded = Vec::new();
    for byte in all.iter() {
        buffer.put_u8(*byte);
        while let Some(frame) = decoder.decode(&mut buffer).unwrap() {
            decoded.push(frame);
        }
    }
    assert_eq!(decoded, vec![first, second]);
    assert!(buffer.is_empty());
}

#[test]
fn oversized_frames_are_refused_before_allocation() {
    let mut buffer = BytesMut::new();
    buffer.put_u32(u32::MAX);
    let error = FrameDecoder::new(1024).decode(&mut buffer).unwrap_err();
    assert_eq!(
        error,
        WireError::TooLarge {
            length: u64::from(u32::MAX),
            max: 1024
        }
    );
    assert!(
        buffer.capacity() < 1024 * 1024,
        "decoder reserved memory for a hostile length"
    );
    let frame = append_frame(vec![&[7u8; 2000]]);
    assert!(matches!(
        frame.encode(1024),
        Err(WireError::TooLarge { .. })
    ));
}

#[test]
fn wrong_versions_and_garbage_are_typed_errors() {
    let mut encoded = BytesMut::from(&append_frame(vec![b"a"]).encode(1 << 20).unwrap()[..]);
    encoded[4] = 9;
    let decoder = FrameDecoder::new(1 << 20);
    assert_eq!(
        decoder.decode(&mut encoded).unwrap_err(),
        WireError::UnsupportedVersion { found: 9 }
    );
    let mut empty = BytesMut::from(&[0u8, 0, 0, 0][..]);
    assert_eq!(decoder.decode(&mut empty).unwrap_err(), WireError::Empty);
    let mut garbage = BytesMut::new();
    garbage.put_u32(5);
    garbage.put_u8(WIRE_VERSION);
    garbage.put_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert!(matches!(
        decoder.decode(&mut garbage),
        Err(WireError::Malformed { .. })
    ));
}

#[test]
fn payloads_must_match_their_entries() {
    let mut frame = append_frame(vec![b"abc"]);
    frame.payloads.push(Bytes::from_static(b"extra"));
    assert!(matches!(frame.validate(), Err(WireError::Malformed { .. })));
    let mut frame = append_frame(vec![b"abc"]);
    frame.payloads[0] = Bytes::from_static(b"abcd");
    assert!(matches!(frame.validate(), Err(WireError::Malformed { .. })));
    let encoded = frame.encode(1 << 20).unwrap();
    let mut buffer = BytesMut::from(&encoded[..]);
    assert!(FrameDecoder::new(1 << 20).decode(&mut buffer).is_err());
}

proptest::proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let mut buffer = BytesMut::from(&bytes[..]);
        let decoder = FrameDecoder::new(4096);
        for _ in 0..8 {
            match decoder.decode(&mut buffer) {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn flipped_bytes_in_a_valid_frame_never_panic(position in 0usize..64, value in proptest::prelude::any::<u8>()) {
        let encoded = append_frame(vec![b"payload", b"second"]).encode(1 << 20).unwrap();
        let mut bytes = encoded.to_vec();
        let position = position % bytes.len();
        bytes[position] = value;
        let mut buffer = BytesMut::from(&bytes[..]);
        let _ = FrameDecoder::new(1 << 20).decode(&mut buffer);
    }
}

/// Found by the raft_wire fuzz target: a header announcing a large frame made the decoder
/// reserve the whole announced length before a byte of it arrived.
#[test]
fn a_partial_frame_reserves_memory_for_data_received_not_announced() {
    let decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    let mut buffer = BytesMut::new();
    buffer.put_u32(DEFAULT_MAX_FRAME_BYTES);
    buffer.put_u8(WIRE_VERSION);
    assert_eq!(decoder.decode(&mut buffer), Ok(None));
    assert!(
        buffer.capacity() <= 128 * 1024,
        "reserved {} bytes for 5 received",
        buffer.capacity()
    );
}

/// `frame` (carrying a configuration with voter 127.0.0.1:7001 and learner
/// 127.0.0.1:7009) decodes as sent, and the same bytes with the learner renamed to the
/// voter (same length) are malformed.
fn decodes_but_not_with_the_learner_renamed_to_the_voter(frame: RaftFrame) {
    let valid = frame.encode(DEFAULT_MAX_FRAME_BYTES).unwrap();
    let decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    assert_eq!(
        decoder.decode(&mut BytesMut::from(&valid[..])).unwrap(),
        Some(frame)
    );
    let needle = b"127.0.0.1:7009";
    let at = valid
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut spoofed = valid.to_vec();
    spoofed[at..at + needle.len()].copy_from_slice(b"127.0.0.1:7001");
    // `Configuration`'s deserialization refuses it (postcard keeps no custom message).
    assert!(matches!(
        decoder.decode(&mut BytesMut::from(&spoofed[..])),
        Err(WireError::Malformed { .. })
    ));
}

/// Found by the raft_wire fuzz target: deserialization bypassed `Configuration::new`, so
/// a frame could carry a configuration naming a node both voter and learner (now
/// `Configuration`'s deserialization checks the invariant).
#[test]
fn a_configuration_with_a_node_in_both_roles_is_malformed() {
    use crate::core::{Configuration, ConfigurationEntry};
    let configuration =
        Configuration::new([peer("127.0.0.1:7001")], [peer("127.0.0.1:7009")]).unwrap();
    let frame = RaftFrame {
        body: FrameBody::Raft(Message::Append(AppendRequest {
            term: Term(2),
            prev_log_id: LogId::new(2, 4),
            entries: vec![EntryMeta {
                log_id: LogId::new(2, 5),
                kind: EntryKind::configuration(ConfigurationEntry::stable(configuration)),
                size_bytes: 0,
            }],
            leader_commit: LogIndex(3),
        })),
        payloads: vec![Bytes::new()],
        ..append_frame(vec![])
    };
    decodes_but_not_with_the_learner_renamed_to_the_voter(frame);
}

/// The same for the configuration a snapshot carries (a leader's `InstallSnapshot`).
#[test]
fn a_snapshot_configuration_with_a_node_in_both_roles_is_malformed() {
    use crate::core::{Configuration, ConfigurationEntry, InstallSnapshotRequest, SnapshotMeta};
    let configuration =
        Configuration::new([peer("127.0.0.1:7001")], [peer("127.0.0.1:7009")]).unwrap();
    let frame = RaftFrame {
        body: FrameBody::Raft(Message::InstallSnapshot(InstallSnapshotRequest {
            term: Term(2),
            meta: SnapshotMeta {
                last_included: LogId::new(2, 5),
                configuration: ConfigurationEntry::stable(configuration),
            },
        })),
        payloads: vec![],
        ..append_frame(vec![])
    };
    decodes_but_not_with_the_learner_renamed_to_the_voter(frame);
}

#[test]
fn an_invalid_group_name_is_malformed() {
    let frame = RaftFrame {
        group: GroupId("no spaces allowed".to_string()),
        ..append_frame(vec![])
    };
    let bytes = frame.encode(DEFAULT_MAX_FRAME_BYTES).unwrap();
    let decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    assert!(matches!(
        decoder.decode(&mut BytesMut::from(&bytes[..])),
        Err(WireError::Malformed { .. })
    ));
}

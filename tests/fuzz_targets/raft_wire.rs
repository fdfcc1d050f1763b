//! The Raft wire codec (`src/transport/wire.rs`): hostile byte streams in, typed errors or
//! valid frames out.

use bytes::{BufMut, BytesMut};
use concord::core::EntryKind;
use concord::transport::{FrameDecoder, RaftFrame, WireError, WIRE_VERSION};

/// Small enough that the fuzzer hits the length limit, large enough for real frames.
const SMALL_MAX_BYTES: u32 = 512;
/// The default maximum (16 MiB): the one production uses.
const LARGE_MAX_BYTES: u32 = concord::transport::DEFAULT_MAX_FRAME_BYTES;
/// How much a decoder may hold beyond the bytes it was given: what a read loop reserves
/// anyway. More means memory was taken on the strength of an announced length.
const SLACK_BYTES: usize = 64 * 1024;

/// The first byte picks the mode; the rest is the input.
/// - 0: the bytes are a TCP stream of frames.
/// - 1: the bytes are one frame body: a correct header is put in front, so the fuzzer
///   spends its time in the body decoder instead of learning the length field.
/// - otherwise: the stream is fed in two chunks (split where the second byte says), as
///   a socket would deliver it.
pub fn run(data: &[u8]) {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    for max in [SMALL_MAX_BYTES, LARGE_MAX_BYTES] {
        match mode % 3 {
            0 => decode_stream(input, max, &[input.len()]),
            1 => {
                let mut framed = Vec::with_capacity(input.len() + 5);
                framed.put_u32(u32::try_from(input.len() + 1).unwrap_or(u32::MAX));
                framed.put_u8(WIRE_VERSION);
                framed.extend_from_slice(input);
                decode_stream(&framed, max, &[framed.len()]);
            }
            _ => {
                let split = input
                    .first()
                    .map_or(0, |&b| usize::from(b) % (input.len() + 1));
                decode_stream(input, max, &[split, input.len()]);
            }
        }
    }
}

/// Feeds `stream` to a decoder, cut at `cuts`, and checks every frame it yields.
fn decode_stream(stream: &[u8], max: u32, cuts: &[usize]) {
    let decoder = FrameDecoder::new(max);
    let mut buffer = BytesMut::new();
    let mut fed = 0;
    for &cut in cuts {
        buffer.extend_from_slice(&stream[fed..cut]);
        fed = cut;
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(frame)) => check_frame(&frame, max),
                Ok(None) => break,
                // The connection is closed on any error: nothing more to decode.
                Err(error) => {
                    check_error(&error, max);
                    return;
                }
            }
        }
        assert!(
            buffer.capacity() <= fed + SLACK_BYTES,
            "decoder holds {} bytes after receiving {fed}: it allocated from an announced length",
            buffer.capacity()
        );
    }
}

/// A decoded frame is consistent and round-trips.
fn check_frame(frame: &RaftFrame, max: u32) {
    frame
        .validate()
        .expect("the decoder returned a frame that does not validate");
    check_configurations(frame);
    let encoded = frame
        .encode(max)
        .expect("a frame that was decoded under the maximum must encode under it");
    let mut buffer = BytesMut::from(&encoded[..]);
    let again = FrameDecoder::new(max)
        .decode(&mut buffer)
        .expect("re-encoded frame must decode")
        .expect("re-encoded frame is complete");
    assert_eq!(&again, frame, "decode(encode(frame)) != frame");
    assert!(buffer.is_empty());
}

/// Configurations carried by entries and snapshots keep the invariant every constructor
/// enforces.
fn check_configurations(frame: &RaftFrame) {
    let check = |configuration: &concord::core::ConfigurationEntry<concord::core::PeerId>| {
        for part in std::iter::once(&configuration.current).chain(&configuration.old) {
            assert!(
                part.voters().is_disjoint(part.learners()),
                "decoded a configuration with a node both voter and learner: {configuration}"
            );
        }
    };
    match frame.message() {
        Some(concord::core::Message::Append(request)) => {
            for entry in &request.entries {
                if let EntryKind::Configuration(configuration) = &entry.kind {
                    check(configuration);
                }
            }
        }
        Some(concord::core::Message::InstallSnapshot(request)) => {
            check(&request.meta.configuration);
        }
        _ => {}
    }
}

fn check_error(error: &WireError, max: u32) {
    if let WireError::TooLarge { length, max: said } = error {
        assert_eq!(*said, max);
        assert!(*length > u64::from(max));
    }
    // Every other error is a typed refusal: fine.
}

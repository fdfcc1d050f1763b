//! The client-protocol codec (`src/service/wire.rs`): hostile bytes from a client (as a
//! request) or from a server (as a reply) must decode into a typed error or a value.

use concord::service::{encode_frame, read_frame, FrameError, ServiceReply, ServiceRequest};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Small enough that the fuzzer hits the length limit.
const SMALL_MAX_BYTES: u32 = 256;
const LARGE_MAX_BYTES: u32 = concord::service::DEFAULT_MAX_SERVICE_FRAME_BYTES;

/// The first byte picks request or reply and whether a correct header is put in front of
/// the rest (so the fuzzer reaches the body decoder without learning the length field).
pub fn run(data: &[u8]) {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let framed;
    let bytes = if mode & 2 == 0 {
        input
    } else {
        let mut with_header = Vec::with_capacity(input.len() + 5);
        let length = u32::try_from(input.len() + 1).unwrap_or(u32::MAX);
        with_header.extend_from_slice(&length.to_be_bytes());
        with_header.push(concord::service::SERVICE_WIRE_VERSION);
        with_header.extend_from_slice(input);
        framed = with_header;
        &framed[..]
    };
    for max in [SMALL_MAX_BYTES, LARGE_MAX_BYTES] {
        if mode & 1 == 0 {
            decode_all::<ServiceRequest>(bytes, max);
        } else {
            decode_all::<ServiceReply>(bytes, max);
        }
    }
}

/// Reads frames off `bytes` until an error (a real connection is closed on the first).
fn decode_all<T: Serialize + DeserializeOwned + PartialEq + Debug>(bytes: &[u8], max: u32) {
    let mut reader = bytes;
    loop {
        let before = reader.len();
        match ready(read_frame::<_, T>(&mut reader, max)) {
            Ok(message) => {
                let frame = encode_frame(&message);
                let again: T = ready(read_frame(&mut &frame[..], u32::MAX))
                    .expect("a decoded message must re-encode into a decodable frame");
                assert_eq!(again, message, "decode(encode(message)) != message");
                assert!(reader.len() < before, "a frame consumed no bytes");
            }
            Err(FrameError::BadLength { length, max: said }) => {
                assert_eq!(said, max);
                assert!(length == 0 || length > max);
                return;
            }
            Err(FrameError::Io(_) | FrameError::Version(_) | FrameError::Decode(_)) => return,
        }
    }
}

/// Polls a future that reads from a byte slice: such a reader is always ready, so one
/// poll must finish it.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("reading from a byte slice returned Pending"),
    }
}

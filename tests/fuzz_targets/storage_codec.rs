//! The storage record decoders (`src/storage/codec.rs`): whatever a disk hands back —
//! bit rot, a torn write, another program's bytes — decodes into a value or a
//! `DecodeError`.

use concord::storage::codec::{
    decode_entry, decode_entry_log_id, decode_hard_state, decode_log_id, encode_entry,
    encode_hard_state, encode_log_id, is_torn_entry,
};

/// The first byte picks whether the rest is a raw record, or a record body that gets a
/// correct checksum appended (bit rot with a matching CRC is astronomically rare, but a
/// buggy or hostile writer produces exactly that, and without it the fuzzer would never
/// get past the checksum).
pub fn run(data: &[u8]) {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let sealed;
    let record = if mode & 1 == 0 {
        input
    } else {
        let mut with_crc = input.to_vec();
        with_crc.extend_from_slice(&crc32c::crc32c(input).to_le_bytes());
        sealed = with_crc;
        &sealed[..]
    };
    check_record(record);
}

fn check_record(record: &[u8]) {
    let torn = is_torn_entry(record);
    match decode_entry(record) {
        Ok(entry) => {
            assert!(!torn, "a record that decodes was judged torn");
            assert_eq!(
                decode_entry_log_id(record),
                Ok(entry.meta.log_id),
                "the log-id-only decoder disagrees with the full one"
            );
            let encoded = encode_entry(&entry).expect("a decoded entry must re-encode");
            assert_eq!(
                decode_entry(&encoded).as_ref(),
                Ok(&entry),
                "decode(encode(entry)) != entry"
            );
        }
        Err(_) => {
            // The cheap decoder may accept a record the full one refuses (it reads only
            // the header), never the other way round: nothing to check here.
            let _ = decode_entry_log_id(record);
        }
    }
    if let Ok(state) = decode_hard_state(record) {
        let encoded = encode_hard_state(&state).expect("a decoded hard state must re-encode");
        assert_eq!(decode_hard_state(&encoded), Ok(state));
    }
    if let Ok(log_id) = decode_log_id(record) {
        assert_eq!(decode_log_id(&encode_log_id(log_id)), Ok(log_id));
    }
}

//! Lowercase hex without allocation.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

fn digit(nibble: u8) -> u8 {
    DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0')
}

/// Writes `bytes` as lowercase hex into `out` (which must be twice as long).
pub(crate) fn encode_into(bytes: &[u8; 32], out: &mut [u8; 64]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        if let [hi, lo] = pair {
            *hi = digit(byte >> 4);
            *lo = digit(byte & 0x0f);
        }
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes exactly 64 hex digits into 32 bytes.
pub(crate) fn decode_32(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *byte = (nibble(*hi)? << 4) | nibble(*lo)?;
    }
    Some(out)
}

//! Standard base64 (RFC 4648 section 4: `A-Z a-z 0-9 + /`, `=` padding), the form Standard
//! Webhooks uses for `whsec_` secrets and `v1,` signatures. Decoding is strict: padding must
//! be canonical and unused trailing bits zero, so every value has exactly one encoding.
//! A few dozen lines here instead of the `base64` crate keeps several KB out of every
//! component that verifies signatures.

/// The value of one base64 character, or `None` for anything else (including `=`).
const fn value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Decodes `input` into `out`, returning the number of bytes written; `None` for input that
/// is not canonical padded base64 or does not fit `out`.
pub(crate) fn decode_into(input: &[u8], out: &mut [u8]) -> Option<usize> {
    if !input.len().is_multiple_of(4) {
        return None;
    }
    let mut written = 0;
    let quads = input.len() / 4;
    for (index, quad) in input.chunks_exact(4).enumerate() {
        let last = index + 1 == quads;
        // Padding only at the very end: `xx==` or `xxx=`.
        let pad = match quad {
            [_, _, b'=', b'='] if last => 2,
            [_, _, _, b'='] if last => 1,
            _ => 0,
        };
        let mut bits = 0u32;
        for &c in quad.iter().take(4 - pad) {
            bits = (bits << 6) | u32::from(value(c)?);
        }
        bits <<= 6 * pad;
        let bytes = bits.to_be_bytes();
        let produced = bytes.get(1..4 - pad)?;
        // Canonical: the bits padding leaves unused must be zero.
        if bytes
            .get(4 - pad..)
            .is_some_and(|rest| rest.iter().any(|b| *b != 0))
        {
            return None;
        }
        out.get_mut(written..written + produced.len())?
            .copy_from_slice(produced);
        written += produced.len();
    }
    Some(written)
}

/// Decodes `input` into a new vector.
#[cfg(feature = "jwt")]
pub(crate) fn decode(input: &[u8]) -> Option<alloc::vec::Vec<u8>> {
    let mut out = alloc::vec![0u8; input.len() / 4 * 3];
    let len = decode_into(input, &mut out)?;
    out.truncate(len);
    Some(out)
}

/// Encodes `input` into `out`, returning the number of characters written; `None` when
/// `out` is too short (it needs `4 * ceil(len / 3)`).
pub(crate) fn encode_into(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut written = 0;
    for chunk in input.chunks(3) {
        let mut bytes = [0u8; 3];
        bytes.get_mut(..chunk.len())?.copy_from_slice(chunk);
        let [a, b, c] = bytes;
        let bits = u32::from_be_bytes([0, a, b, c]);
        let quad = out.get_mut(written..written + 4)?;
        for (i, slot) in quad.iter_mut().enumerate() {
            *slot = if i <= chunk.len() {
                let index = (bits >> (18 - 6 * i)) & 0x3f;
                *ALPHABET.get(index as usize)?
            } else {
                b'='
            };
        }
        written += 4;
    }
    Some(written)
}

/// base64url without padding (RFC 4648 section 5), the JWT encoding.
#[cfg(feature = "jwt")]
pub(crate) fn encode_url_no_pad(input: &[u8]) -> alloc::string::String {
    let mut out = alloc::vec![0u8; 4 * input.len().div_ceil(3)];
    let written = encode_into(input, &mut out).unwrap_or(0);
    out.truncate(written);
    while out.last() == Some(&b'=') {
        out.pop();
    }
    out.iter()
        .map(|&c| match c {
            b'+' => '-',
            b'/' => '_',
            c => char::from(c),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    fn decode_all(input: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0u8; input.len()];
        decode_into(input, &mut out).and_then(|n| out.get(..n).map(<[u8]>::to_vec))
    }

    #[test]
    fn rfc4648_vectors() {
        let vectors: [(&[u8], &[u8]); 7] = [
            (b"", b""),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b"fooba", b"Zm9vYmE="),
            (b"foobar", b"Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            let mut out = [0u8; 8];
            let n = encode_into(plain, &mut out).unwrap_or(usize::MAX);
            assert_eq!(out.get(..n), Some(encoded));
            assert_eq!(decode_all(encoded).as_deref(), Some(plain));
        }
    }

    /// Every length up to 64 and every byte value round-trip, and agree with the `base64`
    /// crate's STANDARD engine both ways.
    #[test]
    fn agrees_with_the_base64_crate() {
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..=64 {
            for start in [0, 1, 100, 250, 400] {
                let Some(plain) = data.get(start..start + len) else {
                    continue;
                };
                let theirs = STANDARD.encode(plain);
                let mut ours = vec![0u8; 4 * len.div_ceil(3)];
                let n = encode_into(plain, &mut ours).unwrap_or(usize::MAX);
                assert_eq!(ours.get(..n), Some(theirs.as_bytes()));
                assert_eq!(decode_all(theirs.as_bytes()).as_deref(), Some(plain));
            }
        }
    }

    #[test]
    fn rejects_what_the_strict_engine_rejects() {
        for bad in [
            &b"Zg"[..],
            b"Zg=",
            b"Zh==",
            b"Zm9=",
            b"Z===",
            b"====",
            b"Zg==Zg==",
            b"Zm9v\n",
            b"Zm-v",
            b"Zm_v",
            b"Zm9v=",
            b"=m9v",
            b"Zm=v",
        ] {
            assert!(STANDARD.decode(bad).is_err(), "{bad:?}");
            assert_eq!(decode_all(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn url_safe_without_padding_agrees_with_the_base64_crate() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let data: Vec<u8> = (0..=255u8).collect();
        for len in 0..=64 {
            for start in [0, 100, 190] {
                let plain = data.get(start..start + len).unwrap_or_default();
                assert_eq!(encode_url_no_pad(plain), URL_SAFE_NO_PAD.encode(plain));
            }
        }
    }

    #[test]
    fn output_too_small_is_refused() {
        let mut out = [0u8; 2];
        assert_eq!(decode_into(b"Zm9v", &mut out), None);
        assert_eq!(encode_into(b"foo", &mut out), None);
    }
}

//! The one constant-time comparison of shared tokens (bearer tokens, `X-Pulser-Secret`).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether `sent` equals `expected`, in time that depends on neither their contents nor
/// their lengths: both sides are hashed with SHA-256 first and the digests compared in
/// constant time (a plain `ct_eq` on the raw bytes returns early on a length mismatch,
/// which tells an attacker the token's length).
#[must_use]
pub fn token_eq(expected: &[u8], sent: &[u8]) -> bool {
    bool::from(Sha256::digest(expected).ct_eq(&Sha256::digest(sent)))
}

#[cfg(test)]
mod tests {
    use super::token_eq;

    #[test]
    fn equal_tokens_match_and_everything_else_does_not() {
        assert!(token_eq(b"s3cret", b"s3cret"));
        assert!(token_eq(b"", b""));
        assert!(!token_eq(b"s3cret", b"s3creT"));
        assert!(!token_eq(b"s3cret", b"s3cret "));
        assert!(!token_eq(b"s3cret", b"s3cre"));
        assert!(!token_eq(b"s3cret", b""));
    }
}

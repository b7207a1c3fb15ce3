//! The one constant-time comparison of shared tokens (bearer tokens, `X-Pulser-Secret`), and
//! the bearer scheme that carries them.

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

/// Why an `Authorization` value did not prove the bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// The value is not `Bearer <token>`.
    NotBearer,
    /// The token does not match.
    WrongToken,
}

/// The token of an `Authorization` value (`Bearer <token>`, scheme in any case, surrounding
/// whitespace ignored), for a caller that checks it against several.
///
/// # Errors
/// [`BearerError::NotBearer`] when the value is not `Bearer <token>`.
pub fn bearer_token(value: &[u8]) -> Result<&[u8], BearerError> {
    value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
        .and_then(|_| value.get(7..))
        .map(<[u8]>::trim_ascii)
        .filter(|token| !token.is_empty())
        .ok_or(BearerError::NotBearer)
}

/// Checks an `Authorization` value (`Bearer <token>`, scheme in any case, surrounding
/// whitespace ignored) against `expected` with [`token_eq`].
///
/// # Errors
/// [`BearerError`].
pub fn verify_bearer(value: &[u8], expected: &[u8]) -> Result<(), BearerError> {
    if token_eq(expected, bearer_token(value)?) {
        Ok(())
    } else {
        Err(BearerError::WrongToken)
    }
}

#[cfg(test)]
mod tests {
    use super::{BearerError, token_eq, verify_bearer};

    #[test]
    fn a_bearer_value_carries_its_token_in_any_case_of_the_scheme() {
        assert_eq!(verify_bearer(b"Bearer t0k", b"t0k"), Ok(()));
        assert_eq!(verify_bearer(b"bearer  t0k ", b"t0k"), Ok(()));
        assert_eq!(verify_bearer(b"BEARER t0k", b"t0k"), Ok(()));
        assert_eq!(
            verify_bearer(b"Bearer t0K", b"t0k"),
            Err(BearerError::WrongToken)
        );
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_not_bearer() {
        for value in [
            &b"Basic dTpw"[..],
            b"Bearer",
            b"Bearer ",
            b"Bearer    ",
            b"t0k",
            b"",
        ] {
            assert_eq!(verify_bearer(value, b"t0k"), Err(BearerError::NotBearer));
        }
    }

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

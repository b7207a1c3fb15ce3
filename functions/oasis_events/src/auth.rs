//! Who may read: a caller with a read key (`OASIS_READ_KEY`), or one with their own Supabase
//! access token, which PostgREST verifies and reads with under RLS (the `authenticated`
//! select policy). The service-role key is used only after a read key matched.
//!
//! The token comes as `Authorization: Bearer <token>`; the feed also takes it as the
//! `access_token` query parameter, because a browser's `EventSource` cannot set headers.

use pulser_runtime::pipeline::Refusal;
use pulser_signing::{bearer_token, token_eq};

/// The header carrying the token.
pub(crate) const AUTHORIZATION: &str = "authorization";

/// A caller, as far as the function can tell before PostgREST answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reader {
    /// Proved the read key at this position of the list.
    ReadKey(usize),
    /// Sent something shaped like a JWT: PostgREST decides.
    AccessToken(String),
}

impl Reader {
    /// The key a rate limit counts this caller under: which read key, or a digest of the
    /// token (never the token itself: keys may be logged or listed by a store).
    #[must_use]
    pub(crate) fn client(&self) -> String {
        match self {
            Self::ReadKey(index) => format!("key-{index}"),
            Self::AccessToken(token) => {
                let digest = pulser_signing::sha256_hex(token.as_bytes());
                format!("jwt-{}", digest.as_str().get(..32).unwrap_or_default())
            }
        }
    }
}

fn refused(reason: &str) -> Refusal {
    Refusal::unauthorized(Some(AUTHORIZATION), reason)
}

/// Whether `token` has a JWT's shape: three base64url segments.
fn jwt_shaped(token: &str) -> bool {
    let mut segments = token.split('.');
    let (header, payload) = (segments.next(), segments.next());
    header.is_some_and(|h| !h.is_empty())
        && payload.is_some_and(|p| !p.is_empty())
        && segments.next().is_some()
        && segments.next().is_none()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Who the request's credentials name. `query_token` is the feed's `access_token`.
///
/// # Errors
/// [`Refusal::Unauthorized`] naming `authorization` when there is no token, it is not a
/// bearer token, or it neither matches a read key nor is shaped like an access token.
pub(crate) fn reader(
    headers: &http::HeaderMap,
    query_token: Option<&str>,
    read_keys: &[String],
) -> Result<Reader, Refusal> {
    let token = match (headers.get(AUTHORIZATION), query_token) {
        (Some(value), _) => bearer_token(value.as_bytes())
            .ok()
            .and_then(|t| core::str::from_utf8(t).ok())
            .ok_or_else(|| refused("header `authorization` must be `Bearer <token>`"))?,
        (None, Some(token)) => token,
        (None, None) => {
            return Err(refused(
                "send `authorization: Bearer <token>`: an OASIS read key or a Supabase access token",
            ));
        }
    };
    // Every key is compared, so the time taken does not say which one matched.
    let matched = read_keys
        .iter()
        .enumerate()
        .fold(None, |found, (index, key)| {
            let equal = token_eq(key.as_bytes(), token.as_bytes());
            found.or(equal.then_some(index))
        });
    if let Some(index) = matched {
        return Ok(Reader::ReadKey(index));
    }
    if jwt_shaped(token) {
        return Ok(Reader::AccessToken(token.to_owned()));
    }
    Err(refused(
        "the token is neither an OASIS read key nor a Supabase access token",
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn bearer(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(AUTHORIZATION, value.parse().unwrap());
        headers
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYXV0aGVudGljYXRlZCJ9.c2ln";

    #[test]
    fn a_read_key_from_the_list_or_a_jwt_shaped_token() {
        let keys = vec!["old-key".to_owned(), "new-key".to_owned()];
        assert_eq!(
            reader(&bearer("Bearer new-key"), None, &keys),
            Ok(Reader::ReadKey(1))
        );
        assert_eq!(
            reader(&bearer(&format!("bearer {JWT}")), None, &keys),
            Ok(Reader::AccessToken(JWT.into()))
        );
        assert_eq!(
            reader(&http::HeaderMap::new(), Some("old-key"), &keys),
            Ok(Reader::ReadKey(0))
        );
    }

    #[test]
    fn anything_else_is_refused_naming_the_header() {
        let keys = vec!["k".to_owned()];
        for headers in [
            http::HeaderMap::new(),
            bearer("Basic azpr"),
            bearer("Bearer nope"),
        ] {
            let refusal = reader(&headers, None, &keys).unwrap_err();
            assert_eq!(refusal.status(), 401);
            assert_eq!(refusal.details().header, Some(AUTHORIZATION));
        }
        // With no read key configured, a key-shaped token proves nothing.
        assert!(reader(&bearer("Bearer k"), None, &[]).is_err());
    }

    #[test]
    fn the_client_of_a_token_is_a_digest_never_the_token() {
        let client = Reader::AccessToken(JWT.into()).client();
        assert!(client.starts_with("jwt-") && client.len() == 36, "{client}");
        assert!(!client.contains(JWT));
        assert_eq!(Reader::ReadKey(2).client(), "key-2");
    }
}

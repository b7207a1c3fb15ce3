//! Who may push: the Supabase database webhook and the drain scheduler with
//! `Authorization: Bearer <PUSH_WEBHOOK_TOKEN>`, or a direct caller that signs the raw body
//! like Odoo does for `odoo_event_ingest` (hex `x-signature` or Standard Webhooks).

use core::fmt;

use pulser_signing::{BearerError, SecretSet, SignatureError, Signed, StandardWebhook, headers};

/// The header carrying the bearer token (the name `http::header::AUTHORIZATION` matches).
pub(crate) const AUTHORIZATION: &str = "authorization";

/// How a request to the push route authenticates, decided by its headers alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// `authorization` is present: the database webhook.
    DatabaseWebhook,
    /// A signature header is present: a direct `{action, args}` call.
    Signed,
}

/// Why a request was not authenticated. Never carries a token or signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum AuthError {
    /// Neither a bearer token nor a signature.
    NoCredentials,
    /// The drain needs the bearer token; none was sent.
    MissingBearer,
    /// `authorization` is not `Bearer <token>`.
    NotBearer,
    /// The bearer token does not match.
    WrongToken,
    /// The signature did not verify.
    Signature(SignatureError),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCredentials => f.write_str(
                "send `authorization: Bearer <PUSH_WEBHOOK_TOKEN>` (database webhook) or sign the body (`x-signature` or Standard Webhooks)",
            ),
            Self::MissingBearer => f.write_str("missing header `authorization`: Bearer token required"),
            Self::NotBearer => f.write_str("header `authorization` must be `Bearer <token>`"),
            Self::WrongToken => f.write_str("the bearer token in `authorization` does not match"),
            Self::Signature(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AuthError {}

impl AuthError {
    /// The header at fault, if one is.
    #[must_use]
    pub(crate) fn header(&self) -> Option<&'static str> {
        match self {
            Self::NoCredentials => None,
            Self::MissingBearer | Self::NotBearer | Self::WrongToken => Some(AUTHORIZATION),
            Self::Signature(e) => e.header(),
        }
    }
}

fn standard(request_headers: &http::HeaderMap) -> StandardWebhook<'_> {
    let raw = |name: &str| pulser_runtime::reply::header(request_headers, name);
    StandardWebhook {
        id: raw(headers::WEBHOOK_ID),
        timestamp: raw(headers::WEBHOOK_TIMESTAMP),
        signature: raw(headers::WEBHOOK_SIGNATURE),
    }
}

/// Which credentials the request carries.
///
/// # Errors
/// [`AuthError::NoCredentials`] when it carries none.
pub(crate) fn caller(request_headers: &http::HeaderMap) -> Result<Caller, AuthError> {
    if request_headers.contains_key(AUTHORIZATION) {
        Ok(Caller::DatabaseWebhook)
    } else if request_headers.contains_key(headers::X_SIGNATURE)
        || standard(request_headers).is_present()
    {
        Ok(Caller::Signed)
    } else {
        Err(AuthError::NoCredentials)
    }
}

/// Checks `Authorization: Bearer <token>` against `expected` with
/// [`pulser_signing::verify_bearer`] (constant time, lengths do not leak either).
///
/// # Errors
/// [`AuthError::MissingBearer`], [`AuthError::NotBearer`] or [`AuthError::WrongToken`].
pub(crate) fn verify_bearer(
    request_headers: &http::HeaderMap,
    expected: &[u8],
) -> Result<(), AuthError> {
    let value = request_headers
        .get(AUTHORIZATION)
        .ok_or(AuthError::MissingBearer)?;
    pulser_signing::verify_bearer(value.as_bytes(), expected).map_err(|e| match e {
        BearerError::NotBearer => AuthError::NotBearer,
        BearerError::WrongToken => AuthError::WrongToken,
    })
}

/// How a direct call proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verified<'h>(Signed<'h>);

impl<'h> Verified<'h> {
    /// The verified Standard Webhooks `webhook-id`, when that scheme signed the call: stable
    /// across redeliveries, so it serves as the call's idempotency key.
    #[must_use]
    pub(crate) fn webhook_id(&self) -> Option<&'h str> {
        match self.0 {
            Signed::Standard { id } => Some(id),
            Signed::Hex => None,
        }
    }
}

/// Verifies the body signature: the Standard Webhooks headers when any is present (±300 s
/// at `now`), else the hex HMAC in `x-signature`.
///
/// # Errors
/// [`AuthError::Signature`] naming the header at fault.
pub(crate) fn verify_signature<'h>(
    request_headers: &'h http::HeaderMap,
    body: &[u8],
    secrets: &SecretSet,
    now: u64,
) -> Result<Verified<'h>, AuthError> {
    secrets
        .verify_hex_or_standard(
            headers::X_SIGNATURE,
            |name| pulser_runtime::reply::header(request_headers, name),
            body,
            i64::try_from(now).unwrap_or(i64::MAX),
        )
        .map(Verified)
        .map_err(AuthError::Signature)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use pulser_signing::Secret;

    use super::*;

    fn map(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut out = http::HeaderMap::new();
        for (name, value) in pairs {
            out.insert(*name, value.parse().unwrap());
        }
        out
    }

    #[test]
    fn bearer_matches() {
        let h = map(&[("authorization", "Bearer tok-123")]);
        assert_eq!(verify_bearer(&h, b"tok-123"), Ok(()));
        let h = map(&[("authorization", "bearer   tok-123 ")]);
        assert_eq!(verify_bearer(&h, b"tok-123"), Ok(()));
    }

    #[test]
    fn bearer_absent() {
        assert_eq!(
            verify_bearer(&http::HeaderMap::new(), b"t"),
            Err(AuthError::MissingBearer)
        );
    }

    #[test]
    fn bearer_wrong() {
        let h = map(&[("authorization", "Bearer tok-124")]);
        assert_eq!(verify_bearer(&h, b"tok-123"), Err(AuthError::WrongToken));
    }

    #[test]
    fn bearer_prefix_of_the_token() {
        let h = map(&[("authorization", "Bearer tok")]);
        assert_eq!(verify_bearer(&h, b"tok-123"), Err(AuthError::WrongToken));
    }

    #[test]
    fn basic_scheme_is_not_bearer() {
        let h = map(&[("authorization", "Basic dG9rLTEyMw==")]);
        assert_eq!(verify_bearer(&h, b"tok-123"), Err(AuthError::NotBearer));
    }

    #[test]
    fn empty_bearer() {
        let h = map(&[("authorization", "Bearer ")]);
        assert_eq!(verify_bearer(&h, b"tok-123"), Err(AuthError::NotBearer));
    }

    #[test]
    fn caller_is_decided_by_headers() {
        assert_eq!(
            caller(&map(&[("authorization", "Bearer x")])),
            Ok(Caller::DatabaseWebhook)
        );
        assert_eq!(caller(&map(&[("x-signature", "ab")])), Ok(Caller::Signed));
        assert_eq!(caller(&map(&[("webhook-id", "m")])), Ok(Caller::Signed));
        assert_eq!(
            caller(&http::HeaderMap::new()),
            Err(AuthError::NoCredentials)
        );
    }

    #[test]
    fn signature_with_a_rotated_secret() {
        let set = SecretSet::parse("new-secret-0123456,old-secret-0123456").unwrap();
        let sig = Secret::parse("old-secret-0123456").unwrap().sign_hex(b"{}");
        let h = map(&[("x-signature", sig.as_str())]);
        assert_eq!(
            verify_signature(&h, b"{}", &set, 0).unwrap().webhook_id(),
            None
        );
    }

    #[test]
    fn signature_mismatch_names_the_header() {
        let set = SecretSet::parse("test-secret-012345").unwrap();
        let sig = Secret::parse("other").unwrap().sign_hex(b"{}");
        let err =
            verify_signature(&map(&[("x-signature", sig.as_str())]), b"{}", &set, 0).unwrap_err();
        assert_eq!(err.header(), Some("x-signature"));
    }
}

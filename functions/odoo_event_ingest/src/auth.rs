//! Who may send events: whoever holds a secret of `EDGE_HMAC_SECRET`, proven over the raw
//! body before anything parses it.

use pulser_signing::{SecretSet, SignatureError, Signed, headers};

/// A request whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    /// The Standard Webhooks `webhook-id` (stable across redeliveries), when that scheme
    /// signed the request.
    pub(crate) webhook_id: Option<String>,
}

/// Verifies the Standard Webhooks headers when any of them is present (then the ±300 s
/// window applies at `now`), else the hex HMAC in `x-signature` (optionally `sha256=`).
///
/// # Errors
/// The [`SignatureError`] naming the header at fault; a request without either scheme is
/// `MissingHeader { header: "x-signature" }`.
pub(crate) fn verify(
    request_headers: &http::HeaderMap,
    body: &[u8],
    secrets: &SecretSet,
    now: u64,
) -> Result<Verified, SignatureError> {
    let signed = secrets.verify_hex_or_standard(
        headers::X_SIGNATURE,
        |name| pulser_runtime::reply::header(request_headers, name),
        body,
        i64::try_from(now).unwrap_or(i64::MAX),
    )?;
    Ok(Verified {
        webhook_id: match signed {
            Signed::Standard { id } => Some(id.to_owned()),
            Signed::Hex => None,
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use pulser_signing::Secret;

    use super::*;

    // The Standard Webhooks vector that shared/signing/tests/vectors.rs also checks.
    const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const MSG_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: u64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn map(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut out = http::HeaderMap::new();
        for (name, value) in pairs {
            out.insert(*name, value.parse().unwrap());
        }
        out
    }

    fn standard(id: &str, ts: &str, sig: &str) -> http::HeaderMap {
        map(&[
            ("webhook-id", id),
            ("webhook-timestamp", ts),
            ("webhook-signature", sig),
        ])
    }

    #[test]
    fn hex_signature_from_any_secret_of_the_set() {
        let set = SecretSet::parse("new-secret-0123456, old-secret-0123456").unwrap();
        let sig = Secret::parse("old-secret-0123456").unwrap().sign_hex(b"{}");
        let h = map(&[("x-signature", sig.as_str())]);
        assert_eq!(
            verify(&h, b"{}", &set, 0),
            Ok(Verified { webhook_id: None })
        );
        let h = map(&[("x-signature", &sig.prefixed())]);
        assert!(verify(&h, b"{}", &set, 0).is_ok());
    }

    #[test]
    fn standard_webhook_yields_its_id() {
        let set = SecretSet::parse(WHSEC).unwrap();
        let h = standard(MSG_ID, &TS.to_string(), SIG);
        assert_eq!(
            verify(&h, BODY, &set, TS + 5),
            Ok(Verified {
                webhook_id: Some(MSG_ID.into())
            })
        );
    }

    #[test]
    fn unsigned_request_names_x_signature() {
        let set = SecretSet::parse("test-secret-012345").unwrap();
        assert_eq!(
            verify(&http::HeaderMap::new(), b"{}", &set, 0),
            Err(SignatureError::MissingHeader {
                header: "x-signature"
            })
        );
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let set = SecretSet::parse("right-secret-01234").unwrap();
        let sig = Secret::parse("wrong").unwrap().sign_hex(b"{}");
        let h = map(&[("x-signature", sig.as_str())]);
        assert_eq!(
            verify(&h, b"{}", &set, 0),
            Err(SignatureError::Mismatch {
                header: "x-signature"
            })
        );
    }

    #[test]
    fn any_standard_header_selects_that_scheme() {
        // A valid hex signature does not rescue a half-present Standard Webhooks set.
        let set = SecretSet::parse("test-secret-012345").unwrap();
        let sig = Secret::parse("test-secret-012345").unwrap().sign_hex(b"{}");
        let h = map(&[("x-signature", sig.as_str()), ("webhook-id", "msg_1")]);
        assert_eq!(
            verify(&h, b"{}", &set, 0),
            Err(SignatureError::MissingHeader {
                header: "webhook-timestamp"
            })
        );
    }

    #[test]
    fn standard_webhook_outside_the_window() {
        let set = SecretSet::parse(WHSEC).unwrap();
        let h = standard(MSG_ID, &TS.to_string(), SIG);
        assert_eq!(
            verify(&h, BODY, &set, TS + 301),
            Err(SignatureError::TimestampTooOld {
                header: "webhook-timestamp"
            })
        );
    }
}

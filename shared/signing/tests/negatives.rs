#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Every way a signature is rejected, one named test each.

use pulser_signing::headers::{
    WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, X_HUB_SIGNATURE_256, X_SIGNATURE,
};
use pulser_signing::{Secret, SecretSet, SignatureError, StandardWebhook};

const BODY: &[u8] = b"{\"event_type\":\"invoice.posted\"}";
const TS: i64 = 1_700_000_000;

fn secret() -> Secret {
    Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
}

fn good_hex() -> String {
    secret().sign_hex(BODY).prefixed()
}

fn standard(sig: &str, ts: &str) -> (String, String, String) {
    ("msg_1".to_owned(), ts.to_owned(), sig.to_owned())
}

fn verify_standard(parts: &(String, String, String), now: i64) -> Result<(), SignatureError> {
    let webhook = StandardWebhook {
        id: Some(parts.0.as_bytes()),
        timestamp: Some(parts.1.as_bytes()),
        signature: Some(parts.2.as_bytes()),
    };
    secret().verify_standard(&webhook, BODY, now)
}

fn good_standard_sig() -> String {
    secret().sign_standard("msg_1", TS, BODY).to_string()
}

#[test]
fn hex_missing_header() {
    let err = secret().verify_hex(X_SIGNATURE, None, BODY).unwrap_err();
    assert_eq!(
        err,
        SignatureError::MissingHeader {
            header: X_SIGNATURE
        }
    );
}

#[test]
fn hex_empty_header() {
    let err = secret()
        .verify_hex(X_SIGNATURE, Some(b""), BODY)
        .unwrap_err();
    assert!(
        matches!(
            err,
            SignatureError::MalformedHeader {
                header: X_SIGNATURE,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn hex_bare_prefix() {
    let err = secret()
        .verify_hex(X_HUB_SIGNATURE_256, Some(b"sha256="), BODY)
        .unwrap_err();
    assert!(
        matches!(err, SignatureError::MalformedHeader { .. }),
        "{err:?}"
    );
}

#[test]
fn hex_truncated_signature() {
    let good = good_hex();
    let truncated = &good[..good.len() - 1];
    let err = secret()
        .verify_hex(X_HUB_SIGNATURE_256, Some(truncated.as_bytes()), BODY)
        .unwrap_err();
    assert!(
        matches!(err, SignatureError::MalformedHeader { .. }),
        "{err:?}"
    );
}

#[test]
fn hex_non_hex_characters() {
    let bad = format!("sha256={}", "zz".repeat(32));
    let err = secret()
        .verify_hex(X_HUB_SIGNATURE_256, Some(bad.as_bytes()), BODY)
        .unwrap_err();
    assert!(
        matches!(err, SignatureError::MalformedHeader { .. }),
        "{err:?}"
    );
}

#[test]
fn hex_wrong_secret() {
    let other = Secret::parse("another secret").unwrap().sign_hex(BODY);
    let err = secret()
        .verify_hex(X_SIGNATURE, Some(other.as_str().as_bytes()), BODY)
        .unwrap_err();
    assert_eq!(
        err,
        SignatureError::Mismatch {
            header: X_SIGNATURE
        }
    );
}

#[test]
fn hex_tampered_body() {
    let good = good_hex();
    let err = secret()
        .verify_hex(X_SIGNATURE, Some(good.as_bytes()), b"{}")
        .unwrap_err();
    assert_eq!(
        err,
        SignatureError::Mismatch {
            header: X_SIGNATURE
        }
    );
}

#[test]
fn hex_non_utf8_body_signs_and_verifies() {
    let body: &[u8] = &[0xff, 0xfe, 0x00, 0x80, b'{'];
    let sig = secret().sign_hex(body);
    secret()
        .verify_hex(X_SIGNATURE, Some(sig.as_str().as_bytes()), body)
        .unwrap();
    let err = secret()
        .verify_hex(X_SIGNATURE, Some(sig.as_str().as_bytes()), &body[1..])
        .unwrap_err();
    assert_eq!(
        err,
        SignatureError::Mismatch {
            header: X_SIGNATURE
        }
    );
}

#[test]
fn hex_rotated_out_secret_is_rejected() {
    let set = SecretSet::parse("new-secret-0123456").unwrap();
    let old = Secret::parse("old-secret-0123456").unwrap().sign_hex(BODY);
    let err = set
        .verify_hex(X_SIGNATURE, Some(old.as_str().as_bytes()), BODY)
        .unwrap_err();
    assert_eq!(
        err,
        SignatureError::Mismatch {
            header: X_SIGNATURE
        }
    );
}

#[test]
fn standard_missing_id() {
    let sig = good_standard_sig();
    let webhook = StandardWebhook {
        id: None,
        timestamp: Some(b"1700000000"),
        signature: Some(sig.as_bytes()),
    };
    let err = secret().verify_standard(&webhook, BODY, TS).unwrap_err();
    assert_eq!(err, SignatureError::MissingHeader { header: WEBHOOK_ID });
}

#[test]
fn standard_missing_timestamp() {
    let sig = good_standard_sig();
    let webhook = StandardWebhook {
        id: Some(b"msg_1"),
        timestamp: None,
        signature: Some(sig.as_bytes()),
    };
    let err = secret().verify_standard(&webhook, BODY, TS).unwrap_err();
    assert_eq!(
        err,
        SignatureError::MissingHeader {
            header: WEBHOOK_TIMESTAMP
        }
    );
}

#[test]
fn standard_missing_signature() {
    let webhook = StandardWebhook {
        id: Some(b"msg_1"),
        timestamp: Some(b"1700000000"),
        signature: None,
    };
    let err = secret().verify_standard(&webhook, BODY, TS).unwrap_err();
    assert_eq!(
        err,
        SignatureError::MissingHeader {
            header: WEBHOOK_SIGNATURE
        }
    );
}

#[test]
fn standard_bare_v1_comma() {
    let err = verify_standard(&standard("v1,", "1700000000"), TS).unwrap_err();
    assert!(
        matches!(
            err,
            SignatureError::MalformedHeader {
                header: WEBHOOK_SIGNATURE,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn standard_truncated_signature() {
    let good = good_standard_sig();
    let truncated = &good[..good.len() - 4];
    let err = verify_standard(&standard(truncated, "1700000000"), TS).unwrap_err();
    assert!(
        matches!(
            err,
            SignatureError::MalformedHeader {
                header: WEBHOOK_SIGNATURE,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn standard_unknown_version_only() {
    let good = good_standard_sig().replacen("v1,", "v2,", 1);
    let err = verify_standard(&standard(&good, "1700000000"), TS).unwrap_err();
    assert!(
        matches!(err, SignatureError::MalformedHeader { .. }),
        "{err:?}"
    );
}

#[test]
fn standard_wrong_secret() {
    let other = Secret::parse("whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldA==").unwrap();
    let sig = other.sign_standard("msg_1", TS, BODY).to_string();
    let err = verify_standard(&standard(&sig, "1700000000"), TS).unwrap_err();
    assert_eq!(
        err,
        SignatureError::Mismatch {
            header: WEBHOOK_SIGNATURE
        }
    );
}

#[test]
fn standard_timestamp_301_seconds_old() {
    let err = verify_standard(&standard(&good_standard_sig(), "1700000000"), TS + 301).unwrap_err();
    assert_eq!(
        err,
        SignatureError::TimestampTooOld {
            header: WEBHOOK_TIMESTAMP
        }
    );
}

#[test]
fn standard_timestamp_301_seconds_ahead() {
    let err = verify_standard(&standard(&good_standard_sig(), "1700000000"), TS - 301).unwrap_err();
    assert_eq!(
        err,
        SignatureError::TimestampInFuture {
            header: WEBHOOK_TIMESTAMP
        }
    );
}

#[test]
fn standard_timestamp_window_edges_accept() {
    verify_standard(&standard(&good_standard_sig(), "1700000000"), TS + 300).unwrap();
    verify_standard(&standard(&good_standard_sig(), "1700000000"), TS - 300).unwrap();
}

#[test]
fn standard_negative_timestamp() {
    let err = verify_standard(&standard(&good_standard_sig(), "-1700000000"), TS).unwrap_err();
    assert!(
        matches!(
            err,
            SignatureError::MalformedHeader {
                header: WEBHOOK_TIMESTAMP,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn standard_non_numeric_timestamp() {
    let err = verify_standard(&standard(&good_standard_sig(), "17e8"), TS).unwrap_err();
    assert!(
        matches!(
            err,
            SignatureError::MalformedHeader {
                header: WEBHOOK_TIMESTAMP,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn standard_timestamp_is_part_of_the_signed_content() {
    // Same signature, timestamp moved by one second (still in the window): must not verify.
    let err = verify_standard(&standard(&good_standard_sig(), "1700000001"), TS).unwrap_err();
    assert_eq!(
        err,
        SignatureError::Mismatch {
            header: WEBHOOK_SIGNATURE
        }
    );
}

#[test]
fn standard_second_of_three_signatures_valid() {
    let junk1 = secret().sign_standard("other", TS, BODY).to_string();
    let junk2 = Secret::from_bytes(b"k")
        .sign_standard("msg_1", TS, BODY)
        .to_string();
    let header = format!("{junk1} {} {junk2}", good_standard_sig());
    verify_standard(&standard(&header, "1700000000"), TS).unwrap();
}

#[test]
fn standard_ignoring_timestamp_is_explicit() {
    let parts = standard(&good_standard_sig(), "1700000000");
    let webhook = StandardWebhook {
        id: Some(parts.0.as_bytes()),
        timestamp: Some(parts.1.as_bytes()),
        signature: Some(parts.2.as_bytes()),
    };
    secret()
        .verify_standard_ignoring_timestamp(&webhook, BODY)
        .unwrap();
    assert!(
        secret()
            .verify_standard(&webhook, BODY, TS + 10_000)
            .is_err()
    );
}

#[test]
fn standard_non_utf8_body() {
    let body: &[u8] = &[0xc3, 0x28, 0xa0, 0xa1];
    let sig = secret().sign_standard("msg_1", TS, body).to_string();
    let webhook = StandardWebhook {
        id: Some(b"msg_1"),
        timestamp: Some(b"1700000000"),
        signature: Some(sig.as_bytes()),
    };
    secret().verify_standard(&webhook, body, TS).unwrap();
}

#[test]
fn empty_secret_list_is_a_config_error() {
    let err = SecretSet::parse(" , ").unwrap_err();
    assert_eq!(err, SignatureError::NoSecrets);
    assert!(err.is_config_error());
}

#[test]
fn whsec_secret_with_bad_base64_is_rejected() {
    let err = Secret::parse("whsec_***").unwrap_err();
    assert!(
        matches!(err, SignatureError::InvalidSecret { .. }),
        "{err:?}"
    );
}

#[test]
fn error_messages_name_the_header() {
    let err = secret()
        .verify_hex(X_HUB_SIGNATURE_256, None, BODY)
        .unwrap_err();
    assert_eq!(err.to_string(), "missing header `x-hub-signature-256`");
    assert_eq!(err.header(), Some(X_HUB_SIGNATURE_256));
}

/// Inbound and outbound legs must not share a key (else an outbound signature would verify
/// inbound): `overlaps` finds any common secret,
/// whatever its position or spelling (`whsec_` base64 of the same bytes is the same key).
#[test]
fn secret_sets_overlap_only_when_they_share_a_key() {
    let inbound = SecretSet::parse("inbound-new-012345,inbound-old-012345").unwrap();
    assert!(!inbound.overlaps(&SecretSet::parse("outbound-new-01234,outbound-old-01234").unwrap()));
    assert!(inbound.overlaps(&SecretSet::parse("outbound-new-01234,inbound-old-012345").unwrap()));
    // "inbound-new-012345" in base64.
    assert!(inbound.overlaps(&SecretSet::parse("whsec_aW5ib3VuZC1uZXctMDEyMzQ1").unwrap()));
}

/// A configured secret shorter than 16 bytes is refused: a guessable one, and the pieces of a
/// secret that contains a comma, which the list splits. `whsec_` gives such a secret whole.
#[test]
fn a_secret_list_entry_shorter_than_16_bytes_is_refused() {
    for list in [
        "s",
        "long-enough-secret,x",
        "0123456789abcde",
        "whsec_MDEyMzQ1Njc4OWFiY2Rl",
    ] {
        assert!(
            matches!(
                SecretSet::parse(list),
                Err(SignatureError::InvalidSecret { .. })
            ),
            "{list}"
        );
    }
    assert!(SecretSet::parse("0123456789abcdef").is_ok());
    // "key,with,commas!" (16 bytes) survives only as base64.
    assert!(SecretSet::parse("key,with,commas!").is_err());
    assert!(SecretSet::parse("whsec_a2V5LHdpdGgsY29tbWFzIQ==").is_ok());
}

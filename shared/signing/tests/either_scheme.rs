#![allow(clippy::unwrap_used)]
//! `SecretSet::verify_hex_or_standard`: the scheme choice the Odoo legs share.

use pulser_signing::{Secret, SecretSet, SignatureError, Signed};

const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;

fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a [u8]> {
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_bytes())
    }
}

#[test]
fn standard_headers_yield_the_webhook_id() {
    let set = SecretSet::parse(WHSEC).unwrap();
    let headers = [
        ("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
        ("webhook-timestamp", "1649367553"),
        (
            "webhook-signature",
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        ),
    ];
    assert_eq!(
        set.verify_hex_or_standard("x-signature", lookup(&headers), BODY, 1_649_367_553),
        Ok(Signed::Standard {
            id: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"
        })
    );
}

#[test]
fn hex_header_from_a_rotated_secret() {
    let set = SecretSet::parse("new-secret-0123456,old-secret-0123456").unwrap();
    let sig = Secret::parse("old-secret-0123456").unwrap().sign_hex(BODY);
    let headers = [("x-signature", sig.as_str())];
    assert_eq!(
        set.verify_hex_or_standard("x-signature", lookup(&headers), BODY, 0),
        Ok(Signed::Hex)
    );
}

#[test]
fn neither_scheme_names_the_hex_header() {
    let set = SecretSet::parse("test-secret-012345").unwrap();
    assert_eq!(
        set.verify_hex_or_standard("x-signature", lookup(&[]), BODY, 0),
        Err(SignatureError::MissingHeader {
            header: "x-signature"
        })
    );
}

#[test]
fn half_present_standard_set_is_not_rescued_by_hex() {
    let set = SecretSet::parse("test-secret-012345").unwrap();
    let sig = Secret::parse("test-secret-012345").unwrap().sign_hex(BODY);
    let headers = [("x-signature", sig.as_str()), ("webhook-id", "msg_1")];
    assert_eq!(
        set.verify_hex_or_standard("x-signature", lookup(&headers), BODY, 0),
        Err(SignatureError::MissingHeader {
            header: "webhook-timestamp"
        })
    );
}

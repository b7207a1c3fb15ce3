#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Known-answer tests: RFC 4231, GitHub's documented example, the Standard Webhooks example.

use pulser_signing::{Secret, SecretSet, StandardWebhook, headers};

struct Vector {
    name: String,
    key: Vec<u8>,
    data: Vec<u8>,
    mac: String,
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex in vector file"))
        .collect()
}

fn rfc4231() -> Vec<Vector> {
    let text = include_str!("data/rfc4231-hmac-sha256.txt");
    let mut vectors = Vec::new();
    let mut current: Option<Vector> = None;
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            vectors.extend(current.take());
            current = Some(Vector {
                name: name.into(),
                key: vec![],
                data: vec![],
                mac: String::new(),
            });
            continue;
        }
        let (field, value) = line.split_once(" = ").expect("`field = value` line");
        let v = current.as_mut().expect("field before first [case]");
        match field {
            "key" => v.key = unhex(value),
            "data" => v.data = unhex(value),
            "mac" => v.mac = value.to_owned(),
            other => panic!("unknown field {other}"),
        }
    }
    vectors.extend(current);
    vectors
}

#[test]
fn rfc4231_hmac_sha256_vectors() {
    let vectors = rfc4231();
    assert_eq!(vectors.len(), 7, "the RFC has seven SHA-256 cases");
    for v in &vectors {
        let hex = Secret::from_bytes(&v.key).sign_hex(&v.data);
        assert!(
            hex.as_str().starts_with(&v.mac),
            "{} failed: got {hex}, want {}",
            v.name,
            v.mac
        );
        if v.mac.len() == 64 {
            Secret::from_bytes(&v.key)
                .verify_hex(headers::X_SIGNATURE, Some(v.mac.as_bytes()), &v.data)
                .unwrap_or_else(|e| panic!("{} does not verify: {e}", v.name));
        }
    }
}

const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

#[test]
fn github_documented_vector_signs() {
    let sig = Secret::parse(GITHUB_SECRET)
        .unwrap()
        .sign_hex(b"Hello, World!");
    assert_eq!(sig.prefixed(), GITHUB_SIGNATURE);
}

#[test]
fn github_documented_vector_verifies_with_and_without_prefix() {
    let secret = Secret::parse(GITHUB_SECRET).unwrap();
    let bare = GITHUB_SIGNATURE.trim_start_matches("sha256=");
    for value in [GITHUB_SIGNATURE, bare] {
        secret
            .verify_hex(
                headers::X_HUB_SIGNATURE_256,
                Some(value.as_bytes()),
                b"Hello, World!",
            )
            .unwrap();
    }
}

#[test]
fn uppercase_hex_is_accepted() {
    let secret = Secret::parse(GITHUB_SECRET).unwrap();
    let upper = GITHUB_SIGNATURE
        .trim_start_matches("sha256=")
        .to_uppercase();
    secret
        .verify_hex(
            headers::X_PULSER_SIGNATURE,
            Some(upper.as_bytes()),
            b"Hello, World!",
        )
        .unwrap();
}

const WH_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const WH_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const WH_TS: i64 = 1_649_367_553;
const WH_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const WH_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

#[test]
fn standard_webhooks_vector_signs() {
    let secret = Secret::parse(WH_SECRET).unwrap();
    assert_eq!(secret.sign_standard(WH_ID, WH_TS, WH_BODY).as_str(), WH_SIG);
}

#[test]
fn standard_webhooks_vector_verifies_at_its_timestamp() {
    let secret = Secret::parse(WH_SECRET).unwrap();
    let webhook = StandardWebhook {
        id: Some(WH_ID.as_bytes()),
        timestamp: Some(b"1649367553"),
        signature: Some(WH_SIG.as_bytes()),
    };
    secret.verify_standard(&webhook, WH_BODY, WH_TS).unwrap();
    secret
        .verify_standard(&webhook, WH_BODY, WH_TS + 300)
        .unwrap();
    secret
        .verify_standard(&webhook, WH_BODY, WH_TS - 300)
        .unwrap();
}

#[test]
fn secret_set_signs_with_first_and_verifies_with_any() {
    let set = SecretSet::parse(" new-secret-0123456 , old-secret-0123456 ,").unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(
        set.signer().sign_hex(b"x"),
        Secret::parse("new-secret-0123456").unwrap().sign_hex(b"x")
    );
    let old = Secret::parse("old-secret-0123456").unwrap().sign_hex(b"x");
    set.verify_hex(headers::X_SIGNATURE, Some(old.as_str().as_bytes()), b"x")
        .unwrap();
}

#[test]
fn secret_set_mixes_whsec_and_plain_secrets() {
    let set = SecretSet::parse(&format!("plain-secret-01234,{WH_SECRET}")).unwrap();
    let webhook = StandardWebhook {
        id: Some(WH_ID.as_bytes()),
        timestamp: Some(b"1649367553"),
        signature: Some(WH_SIG.as_bytes()),
    };
    set.verify_standard(&webhook, WH_BODY, WH_TS).unwrap();
}

#[test]
fn debug_output_never_shows_secrets() {
    let secret = Secret::parse("super-secret-value").unwrap();
    let set = SecretSet::parse("super-secret-value,other-secret-value").unwrap();
    let printed = format!("{secret:?} {set:?}");
    assert!(!printed.contains("super-secret"), "{printed}");
    assert!(printed.contains("redacted"), "{printed}");
}

/// FIPS 180-2 examples: the content digest is plain SHA-256 in lower-case hex.
#[test]
fn sha256_hex_matches_the_fips_examples() {
    assert_eq!(
        pulser_signing::sha256_hex(b"abc").as_str(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        pulser_signing::sha256_hex(b"").as_str(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

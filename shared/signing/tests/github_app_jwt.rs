#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The GitHub App JWT, checked by an independent verifier: the `openssl` command line
//! (RS256 = RSASSA-PKCS1-v1_5 with SHA-256 over `header.payload`), not jwt-simple.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use pulser_signing::github_app::{
    GithubAppKey, JwtError, app_jwt_from_signature, app_jwt_signing_input, pkcs8_der_from_setting,
};

const NOW: u64 = 1_700_000_000;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

/// Verifies `token` with `openssl dgst -verify` against the public key; panics loudly when
/// openssl is missing (install it: `apt-get install openssl`).
fn openssl_verifies(token: &str) -> bool {
    let (signed, signature) = token.rsplit_once('.').expect("three JWT parts");
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // One directory per call: tests run in parallel and tokens can share a length.
    let dir = std::env::temp_dir().join(format!(
        "pulser-jwt-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let msg = dir.join("msg");
    let sig = dir.join("sig");
    std::fs::write(&msg, signed).unwrap();
    std::fs::write(&sig, URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(data("github-app-test-key.pub.pem"))
        .arg("-signature")
        .arg(&sig)
        .arg(&msg)
        .output()
        .expect("the openssl command is required for this test (apt-get install openssl)");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stdout).contains("Verified OK")
}

fn decode_part(token: &str, index: usize) -> serde_json::Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[test]
fn pkcs1_key_mints_a_token_openssl_verifies() {
    let key = GithubAppKey::from_pem(&read("github-app-test-key.pkcs1.pem")).unwrap();
    let token = key.mint_jwt("123456", NOW).unwrap();
    assert!(openssl_verifies(&token), "openssl rejected {token}");
}

#[test]
fn pkcs8_key_mints_a_token_openssl_verifies() {
    let key = GithubAppKey::from_pem(&read("github-app-test-key.pkcs8.pem")).unwrap();
    let token = key.mint_jwt("Iv23liClientId", NOW).unwrap();
    assert!(openssl_verifies(&token));
    assert_eq!(decode_part(&token, 1)["iss"], "Iv23liClientId");
}

#[test]
fn claims_follow_githubs_rules() {
    let key = GithubAppKey::from_pem(&read("github-app-test-key.pkcs1.pem")).unwrap();
    let token = key.mint_jwt("123456", NOW).unwrap();
    let header = decode_part(&token, 0);
    assert_eq!(header["alg"], "RS256");
    let claims = decode_part(&token, 1);
    assert_eq!(claims["iat"], NOW - 60);
    assert_eq!(claims["exp"], NOW + 540);
    assert_eq!(claims["iss"], "123456");
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert!(
        exp - iat <= 600,
        "GitHub refuses tokens that live over 10 minutes"
    );
    assert!(claims.get("nbf").is_none());
}

#[test]
fn a_tampered_token_fails_the_independent_verifier() {
    let key = GithubAppKey::from_pem(&read("github-app-test-key.pkcs1.pem")).unwrap();
    let token = key.mint_jwt("123456", NOW).unwrap();
    let forged = key.mint_jwt("654321", NOW).unwrap();
    let mixed = format!(
        "{}.{}",
        forged.rsplit_once('.').unwrap().0,
        token.rsplit_once('.').unwrap().1
    );
    assert!(!openssl_verifies(&mixed));
}

#[test]
fn base64_wrapped_pem_is_accepted() {
    let wrapped = STANDARD.encode(read("github-app-test-key.pkcs1.pem"));
    let key = GithubAppKey::from_setting(&wrapped).unwrap();
    assert!(openssl_verifies(&key.mint_jwt("1", NOW).unwrap()));
    let key = GithubAppKey::from_setting(&read("github-app-test-key.pkcs8.pem")).unwrap();
    assert!(openssl_verifies(&key.mint_jwt("1", NOW).unwrap()));
}

#[test]
fn pem_with_escaped_newlines_is_accepted() {
    let escaped = read("github-app-test-key.pkcs1.pem").replace('\n', "\\n");
    let key = GithubAppKey::from_setting(&escaped).unwrap();
    assert!(openssl_verifies(&key.mint_jwt("1", NOW).unwrap()));
}

#[test]
fn garbage_key_is_rejected() {
    assert_eq!(
        GithubAppKey::from_setting("not a key").unwrap_err(),
        JwtError::InvalidKey
    );
    assert_eq!(
        GithubAppKey::from_pem(
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"
        )
        .unwrap_err(),
        JwtError::InvalidKey
    );
}

#[test]
fn empty_issuer_is_rejected() {
    let key = GithubAppKey::from_pem(&read("github-app-test-key.pkcs1.pem")).unwrap();
    assert_eq!(key.mint_jwt(" ", NOW).unwrap_err(), JwtError::EmptyIssuer);
}

#[test]
fn key_debug_is_redacted() {
    let key = GithubAppKey::from_pem(&read("github-app-test-key.pkcs1.pem")).unwrap();
    assert_eq!(format!("{key:?}"), "GithubAppKey([redacted])");
}

/// Signs `message` with `openssl dgst -sha256 -sign` using a DER key, the way a host with
/// native RSA (WebCrypto) would: openssl must accept our PKCS#8 bytes as a private key.
fn openssl_signs_with_der(der: &[u8], message: &[u8]) -> Vec<u8> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pulser-der-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, msg) = (dir.join("key.der"), dir.join("msg"));
    std::fs::write(&key, der).unwrap();
    std::fs::write(&msg, message).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-keyform", "DER", "-sign"])
        .arg(&key)
        .arg(&msg)
        .output()
        .expect("the openssl command is required for this test (apt-get install openssl)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "openssl refused the PKCS#8 DER: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn pkcs1_is_rewrapped_into_the_same_pkcs8_openssl_writes() {
    let from_pkcs1 = pkcs8_der_from_setting(&read("github-app-test-key.pkcs1.pem")).unwrap();
    let from_pkcs8 = pkcs8_der_from_setting(&read("github-app-test-key.pkcs8.pem")).unwrap();
    assert_eq!(from_pkcs1, from_pkcs8);
    let wrapped = STANDARD.encode(read("github-app-test-key.pkcs1.pem"));
    assert_eq!(pkcs8_der_from_setting(&wrapped).unwrap(), from_pkcs1);
    let escaped = read("github-app-test-key.pkcs1.pem").replace('\n', "\\n");
    assert_eq!(pkcs8_der_from_setting(&escaped).unwrap(), from_pkcs1);
}

#[test]
fn a_natively_signed_token_verifies_and_equals_the_rust_one() {
    for file in [
        "github-app-test-key.pkcs1.pem",
        "github-app-test-key.pkcs8.pem",
    ] {
        let der = pkcs8_der_from_setting(&read(file)).unwrap();
        let input = app_jwt_signing_input("123456", NOW).unwrap();
        let token = app_jwt_from_signature(&input, &openssl_signs_with_der(&der, input.as_bytes()));
        assert!(openssl_verifies(&token), "openssl rejected {token}");
        // The claims jwt-simple's token carries, under an RS256 JWT header.
        let rust = GithubAppKey::from_pem(&read(file))
            .unwrap()
            .mint_jwt("123456", NOW)
            .unwrap();
        assert_eq!(decode_part(&token, 0)["alg"], "RS256");
        assert_eq!(decode_part(&token, 0)["typ"], "JWT");
        assert_eq!(decode_part(&token, 1), decode_part(&rust, 1));
    }
}

#[test]
fn native_signing_input_escapes_the_issuer_and_refuses_an_empty_one() {
    let input = app_jwt_signing_input("a\"b\\c", NOW).unwrap();
    assert_eq!(decode_part(&format!("{input}.x"), 1)["iss"], "a\"b\\c");
    assert_eq!(app_jwt_signing_input(" ", NOW), Err(JwtError::EmptyIssuer));
}

#[test]
fn pkcs8_der_refuses_what_is_not_an_rsa_private_key_pem() {
    let public = read("github-app-test-key.pub.pem");
    let truncated =
        read("github-app-test-key.pkcs1.pem").replace("-----END RSA PRIVATE KEY-----", "");
    for bad in [
        "",
        "not a key",
        public.as_str(),
        truncated.as_str(),
        "-----BEGIN RSA PRIVATE KEY-----\n!!!!\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
    ] {
        assert_eq!(
            pkcs8_der_from_setting(bad),
            Err(JwtError::InvalidKey),
            "{bad}"
        );
    }
}

//! GitHub App authentication: the RS256 JWT an app presents to exchange for an installation
//! token (<https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app>).

use std::fmt;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use jwt_simple::prelude::{JWTClaims, NoCustomClaims, RS256KeyPair, RSAKeyPairLike, UnixTimeStamp};

/// Seconds the `iat` claim is back-dated, for clock drift (GitHub's recommendation).
pub const IAT_BACKDATE_SECS: u64 = 60;
/// Seconds from `now` to `exp`; GitHub allows at most 10 minutes after `iat`.
pub const EXP_AFTER_SECS: u64 = 540;

/// Why a GitHub App key or token could not be produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    /// The private key is neither a PEM (PKCS#1 or PKCS#8 RSA) nor base64 of one.
    InvalidKey,
    /// The issuer (app id or client id) is empty.
    EmptyIssuer,
    /// Signing failed inside the RSA implementation.
    Signing,
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidKey => {
                "GitHub App private key is not an RSA PEM (PKCS#1 or PKCS#8), plain or base64"
            }
            Self::EmptyIssuer => "GitHub App id / client id is empty",
            Self::Signing => "RS256 signing failed",
        })
    }
}

impl std::error::Error for JwtError {}

/// A GitHub App's private key. `Debug` prints `[redacted]`.
pub struct GithubAppKey {
    key: RS256KeyPair,
}

impl fmt::Debug for GithubAppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GithubAppKey([redacted])")
    }
}

impl GithubAppKey {
    /// Loads a PEM key: `BEGIN RSA PRIVATE KEY` (PKCS#1, what GitHub hands out) or
    /// `BEGIN PRIVATE KEY` (PKCS#8).
    ///
    /// # Errors
    /// [`JwtError::InvalidKey`] when it is not an RSA private key in either form.
    pub fn from_pem(pem: &str) -> Result<Self, JwtError> {
        // Keys pasted into env settings often arrive with literal `\n`.
        let pem = pem.trim().replace("\\n", "\n");
        RS256KeyPair::from_pem(&pem)
            .map(|key| Self { key })
            .map_err(|_| JwtError::InvalidKey)
    }

    /// Loads a key from a setting that holds either the PEM itself or base64 of it
    /// (`GITHUB_APP_PRIVATE_KEY_BASE64`).
    ///
    /// # Errors
    /// [`JwtError::InvalidKey`] when neither form yields an RSA private key.
    pub fn from_setting(value: &str) -> Result<Self, JwtError> {
        Self::from_pem(&pem_of_setting(value)?)
    }

    /// Mints the app JWT: `{"iat": now-60, "exp": now+540, "iss": issuer}`, RS256.
    ///
    /// `issuer` is the app id (`"123456"`) or the client id (`"Iv23li..."`); `now` is unix
    /// seconds, passed in.
    ///
    /// # Errors
    /// [`JwtError::EmptyIssuer`] or [`JwtError::Signing`].
    pub fn mint_jwt(&self, issuer: &str, now: u64) -> Result<String, JwtError> {
        if issuer.trim().is_empty() {
            return Err(JwtError::EmptyIssuer);
        }
        let claims = app_claims(issuer, now);
        self.key.sign(claims).map_err(|_| JwtError::Signing)
    }
}

/// The PEM text of a setting that holds the PEM itself (literal `\\n` allowed) or base64 of it.
fn pem_of_setting(value: &str) -> Result<String, JwtError> {
    let value = value.trim();
    if value.starts_with("-----BEGIN") || value.starts_with("\\n-----BEGIN") {
        return Ok(value.replace("\\n", "\n"));
    }
    let compact: Vec<u8> = value.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let decoded = crate::b64::decode(&compact).ok_or(JwtError::InvalidKey)?;
    String::from_utf8(decoded).map_err(|_| JwtError::InvalidKey)
}

/// The `rsaEncryption` AlgorithmIdentifier (OID 1.2.840.113549.1.1.1, NULL parameters).
const RSA_ALGORITHM_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// A DER length.
fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// Wraps a PKCS#1 `RSAPrivateKey` into a PKCS#8 `PrivateKeyInfo` (RFC 5208).
fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    let mut octets = vec![0x04];
    der_len(pkcs1.len(), &mut octets);
    octets.extend_from_slice(pkcs1);
    let content_len = 3 + RSA_ALGORITHM_ID.len() + octets.len();
    let mut out = vec![0x30];
    der_len(content_len, &mut out);
    out.extend_from_slice(&[0x02, 0x01, 0x00]);
    out.extend_from_slice(&RSA_ALGORITHM_ID);
    out.extend_from_slice(&octets);
    out
}

/// The app's key from its setting as PKCS#8 DER, the form WebCrypto's `importKey("pkcs8")`
/// takes. Only the PEM armour is read (PKCS#1 is re-wrapped): no RSA arithmetic happens here,
/// so a host with native RSA spends no CPU on the key in Rust.
///
/// # Errors
/// [`JwtError::InvalidKey`] when the setting is not a `RSA PRIVATE KEY` or `PRIVATE KEY` PEM
/// (plain or base64).
pub fn pkcs8_der_from_setting(value: &str) -> Result<Vec<u8>, JwtError> {
    let pem = pem_of_setting(value)?;
    let (label, rest) = pem
        .trim()
        .strip_prefix("-----BEGIN ")
        .and_then(|r| r.split_once("-----"))
        .ok_or(JwtError::InvalidKey)?;
    let end = format!("-----END {label}-----");
    let body = rest
        .split(end.as_str())
        .next()
        .ok_or(JwtError::InvalidKey)?;
    if !rest.contains(end.as_str()) {
        return Err(JwtError::InvalidKey);
    }
    let compact: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let der = crate::b64::decode(&compact).ok_or(JwtError::InvalidKey)?;
    if der.first() != Some(&0x30) {
        return Err(JwtError::InvalidKey);
    }
    match label {
        "RSA PRIVATE KEY" => Ok(pkcs1_to_pkcs8(&der)),
        "PRIVATE KEY" => Ok(der),
        _ => Err(JwtError::InvalidKey),
    }
}

/// Appends `value` as a JSON string.
fn json_string(value: &str, out: &mut String) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The bytes an app JWT's RS256 signature covers: `base64url(header).base64url(claims)` with
/// header `{"alg":"RS256","typ":"JWT"}` and the claims [`GithubAppKey::mint_jwt`] uses
/// (`iat = now-60`, `exp = now+540`, `iss`). For hosts that sign natively (WebCrypto); finish
/// with [`app_jwt_from_signature`].
///
/// # Errors
/// [`JwtError::EmptyIssuer`].
pub fn app_jwt_signing_input(issuer: &str, now: u64) -> Result<String, JwtError> {
    if issuer.trim().is_empty() {
        return Err(JwtError::EmptyIssuer);
    }
    let mut claims = format!(
        "{{\"iat\":{},\"exp\":{},\"iss\":",
        now.saturating_sub(IAT_BACKDATE_SECS),
        now.saturating_add(EXP_AFTER_SECS)
    );
    json_string(issuer, &mut claims);
    claims.push('}');
    Ok(format!(
        "{}.{}",
        crate::b64::encode_url_no_pad(br#"{"alg":"RS256","typ":"JWT"}"#),
        crate::b64::encode_url_no_pad(claims.as_bytes())
    ))
}

/// The compact JWT from its signing input and the RS256 signature over it.
#[must_use]
pub fn app_jwt_from_signature(signing_input: &str, signature: &[u8]) -> String {
    format!(
        "{signing_input}.{}",
        crate::b64::encode_url_no_pad(signature)
    )
}

fn app_claims(issuer: &str, now: u64) -> JWTClaims<NoCustomClaims> {
    JWTClaims {
        issued_at: Some(UnixTimeStamp::from_secs(
            now.saturating_sub(IAT_BACKDATE_SECS),
        )),
        expires_at: Some(UnixTimeStamp::from_secs(now.saturating_add(EXP_AFTER_SECS))),
        invalid_before: None,
        issuer: Some(issuer.to_string()),
        subject: None,
        audiences: None,
        jwt_id: None,
        nonce: None,
        custom: NoCustomClaims {},
    }
}

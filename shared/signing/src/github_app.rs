//! GitHub App authentication: the RS256 JWT an app presents to exchange for an installation
//! token (<https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app>).

use std::fmt;
use std::string::{String, ToString};
use std::vec::Vec;

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
        let value = value.trim();
        if value.starts_with("-----BEGIN") || value.starts_with("\\n-----BEGIN") {
            return Self::from_pem(value);
        }
        let compact: Vec<u8> = value.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        let decoded = crate::b64::decode(&compact).ok_or(JwtError::InvalidKey)?;
        let pem = String::from_utf8(decoded).map_err(|_| JwtError::InvalidKey)?;
        Self::from_pem(&pem)
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

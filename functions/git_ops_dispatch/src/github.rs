//! The GitHub App leg: an RS256 app JWT exchanged for an installation token (cached until a
//! minute before it expires), then `POST /repos/{owner}/{repo}/dispatches`.

use core::time::Duration;

use pulser_runtime::time::UnixTime;
use pulser_runtime::{Level, OutboundError, Platform, Response};
use pulser_signing::github_app::{
    GithubAppKey, JwtError, app_jwt_from_signature, app_jwt_signing_input, pkcs8_der_from_setting,
};
use serde_json::{Value, json};

/// `Accept` GitHub documents for its REST API.
pub const ACCEPT: &str = "application/vnd.github+json";
/// The REST API version this endpoint speaks.
pub const API_VERSION: &str = "2022-11-28";
/// Header carrying it.
pub const X_GITHUB_API_VERSION: &str = "x-github-api-version";
/// GitHub refuses requests without a user agent.
pub const USER_AGENT: &str = "pulser-edge-git-ops-dispatch";
/// How long each GitHub call may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// A cached token is used until this many seconds before it expires.
pub const TOKEN_MARGIN_SECS: u64 = 60;
/// A dispatch refused this soon after minting is retried once with a fresh token.
pub const FRESH_TOKEN_SECS: u64 = 10;

/// Everything the App leg needs (from config).
#[derive(Debug)]
pub struct App {
    /// `GITHUB_API_URL` without a trailing slash.
    pub api_url: String,
    /// `iss`: app id or client id.
    pub issuer: String,
    /// `GITHUB_INSTALLATION_ID`.
    pub installation_id: String,
    /// `GITHUB_REPO_OWNER`.
    pub owner: String,
    /// `GITHUB_REPO_NAME`.
    pub repo: String,
    /// The app's private key.
    pub key: AppKey,
}

/// The app's private key as configured, and as PKCS#8 DER for hosts that sign natively.
/// `Debug` prints `[redacted]`.
pub struct AppKey {
    setting: String,
    pkcs8: Vec<u8>,
}

impl core::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AppKey([redacted])")
    }
}

impl AppKey {
    /// Reads the PEM armour of `GITHUB_APP_PRIVATE_KEY_BASE64` (plain or base64 PEM, PKCS#1
    /// or PKCS#8); the RSA key itself is parsed only where it is used.
    ///
    /// # Errors
    /// [`JwtError::InvalidKey`] when the setting is not an RSA private key PEM.
    pub fn from_setting(setting: String) -> Result<Self, JwtError> {
        let pkcs8 = pkcs8_der_from_setting(&setting)?;
        Ok(Self { setting, pkcs8 })
    }

    /// The app JWT for `issuer` at `now`: signed by the host when it has native RSA
    /// (WebCrypto on Workers), else by jwt-simple's pure-Rust RSA.
    async fn mint(
        &self,
        platform: &impl Platform,
        issuer: &str,
        now: u64,
    ) -> Result<String, GithubError> {
        let failed = |e: JwtError| GithubError::Jwt(e.to_string());
        let input = app_jwt_signing_input(issuer, now).map_err(failed)?;
        let (jwt, signer) = match platform.sign_rs256(&self.pkcs8, input.as_bytes()).await {
            Some(Ok(signature)) => (app_jwt_from_signature(&input, &signature), "host"),
            Some(Err(reason)) => return Err(GithubError::Jwt(reason)),
            None => (
                GithubAppKey::from_setting(&self.setting)
                    .and_then(|key| key.mint_jwt(issuer, now))
                    .map_err(failed)?,
                "rust",
            ),
        };
        platform.log(Level::Info, "GitHub App JWT minted", &[("signer", signer)]);
        Ok(jwt)
    }
}

/// Why the GitHub leg failed.
#[derive(Debug)]
pub enum GithubError {
    /// The token exchange did not give a token: GitHub's status (None when unreachable) and
    /// its message.
    TokenExchange(Option<u16>, String),
    /// The dispatch was not accepted.
    Dispatch(Option<u16>, String),
    /// The JWT could not be made (a key problem).
    Jwt(String),
}

/// One installation token.
#[derive(Debug, Clone)]
struct Token {
    cache_key: String,
    value: String,
    expires_at: u64,
    minted_at: u64,
}

/// Tokens live in the platform's cache (Spin: the default key-value store; Workers: isolate
/// memory; WASI: instance memory, fresh per request under the edge host and `wasmtime serve`).
/// The store key names the installation; the value repeats the full cache key (API URL, app,
/// installation) and is ignored unless it matches, so two apps or two API URLs never share a
/// token. Value: `cache_key \n expires_at \n minted_at \n token`.
fn store_key(installation_id: &str) -> String {
    format!("pulser-edge/github-installation-token/{installation_id}")
}

fn cached(platform: &impl Platform, app: &App, now: u64) -> Option<Token> {
    let bytes = platform.cache_get(&store_key(&app.installation_id))?;
    let text = String::from_utf8(bytes).ok()?;
    let mut lines = text.split('\n');
    let (key, expires, minted, value) =
        (lines.next()?, lines.next()?, lines.next()?, lines.next()?);
    let token = Token {
        cache_key: key.to_owned(),
        value: value.to_owned(),
        expires_at: expires.parse().ok()?,
        minted_at: minted.parse().ok()?,
    };
    (token.cache_key == app.cache_key()
        && !token.value.is_empty()
        && token.expires_at > now + TOKEN_MARGIN_SECS)
        .then_some(token)
}

fn remember(platform: &impl Platform, app: &App, token: &Token) {
    let text = format!(
        "{}\n{}\n{}\n{}",
        token.cache_key, token.expires_at, token.minted_at, token.value
    );
    platform.cache_put(&store_key(&app.installation_id), text.as_bytes());
}

fn forget(platform: &impl Platform, app: &App) {
    platform.cache_delete(&store_key(&app.installation_id));
}

fn api_request(url: String, authorization: &str, body: Vec<u8>) -> Option<pulser_runtime::Request> {
    let mut builder = http::Request::post(url)
        .header(http::header::ACCEPT, ACCEPT)
        .header(X_GITHUB_API_VERSION, API_VERSION)
        .header(http::header::USER_AGENT, USER_AGENT)
        .header(http::header::AUTHORIZATION, authorization);
    if !body.is_empty() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    builder.body(body).ok()
}

fn message_of(response: &Response) -> String {
    serde_json::from_slice::<Value>(response.body())
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| format!("GitHub answered {}", response.status().as_u16()))
}

fn transport(error: &OutboundError) -> String {
    format!("GitHub could not be reached: {error}")
}

impl App {
    fn cache_key(&self) -> String {
        format!("{}|{}|{}", self.api_url, self.issuer, self.installation_id)
    }

    async fn exchange(
        &self,
        platform: &impl Platform,
        clock_offset: i64,
    ) -> Result<Result<Token, Response>, GithubError> {
        let now = platform.now();
        let signed_at = now.saturating_add_signed(clock_offset);
        let jwt = self.key.mint(platform, &self.issuer, signed_at).await?;
        let url = format!(
            "{}/app/installations/{}/access_tokens",
            self.api_url, self.installation_id
        );
        let request = api_request(url, &format!("Bearer {jwt}"), Vec::new()).ok_or_else(|| {
            GithubError::TokenExchange(None, "GITHUB_API_URL is not a valid URL".into())
        })?;
        let response = platform
            .send(request, TIMEOUT)
            .await
            .map_err(|e| GithubError::TokenExchange(None, transport(&e)))?;
        if response.status().as_u16() != 201 {
            return Ok(Err(response));
        }
        let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        let value = body.get("token").and_then(Value::as_str);
        let expires = body
            .get("expires_at")
            .and_then(Value::as_str)
            .and_then(UnixTime::parse_rfc3339)
            .map(UnixTime::as_secs);
        match (value, expires) {
            (Some(value), Some(expires)) => Ok(Ok(Token {
                cache_key: self.cache_key(),
                value: value.to_owned(),
                // Kept in our clock: GitHub's expiry shifted by the measured offset.
                expires_at: expires.saturating_add_signed(-clock_offset),
                minted_at: now,
            })),
            _ => Err(GithubError::TokenExchange(
                Some(201),
                "the token answer lacks token or expires_at".into(),
            )),
        }
    }

    /// A valid installation token: the cached one, else a fresh exchange; a JWT refused for
    /// its `iat`/`exp` is re-signed once with the clock offset GitHub's `Date` reveals.
    async fn token(&self, platform: &impl Platform, fresh: bool) -> Result<Token, GithubError> {
        if !fresh && let Some(token) = cached(platform, self, platform.now()) {
            return Ok(token);
        }
        let refused = match self.exchange(platform, 0).await? {
            Ok(token) => {
                remember(platform, self, &token);
                return Ok(token);
            }
            Err(refused) => refused,
        };
        let offset = refused
            .headers()
            .get(http::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(UnixTime::parse_http_date)
            .map(UnixTime::as_secs)
            .map(|github_now| {
                i64::try_from(github_now).unwrap_or(0) - i64::try_from(platform.now()).unwrap_or(0)
            });
        let message = message_of(&refused);
        let skewed = refused.status().as_u16() == 401
            && (message.contains("'iat'") || message.contains("'exp'"))
            && offset.is_some_and(|o| o.abs() > 30);
        if let (true, Some(offset)) = (skewed, offset) {
            platform.log(
                Level::Warn,
                "GitHub refused the app JWT for its time claims; re-signing with GitHub's clock",
                &[("offset_secs", &offset.to_string())],
            );
            match self.exchange(platform, offset).await? {
                Ok(token) => {
                    remember(platform, self, &token);
                    return Ok(token);
                }
                Err(again) => {
                    return Err(GithubError::TokenExchange(
                        Some(again.status().as_u16()),
                        message_of(&again),
                    ));
                }
            }
        }
        Err(GithubError::TokenExchange(
            Some(refused.status().as_u16()),
            message,
        ))
    }

    /// Sends the dispatch (expects 204); a 401 is retried once with a freshly minted token.
    ///
    /// # Errors
    /// [`GithubError`] naming the step that failed.
    pub async fn dispatch(
        &self,
        platform: &impl Platform,
        event_type: &str,
        client_payload: &serde_json::Map<String, Value>,
    ) -> Result<(), GithubError> {
        let body = json!({"event_type": event_type, "client_payload": client_payload})
            .to_string()
            .into_bytes();
        let url = format!(
            "{}/repos/{}/{}/dispatches",
            self.api_url, self.owner, self.repo
        );
        let mut token = self.token(platform, false).await?;
        for attempt in 0..2 {
            let request = api_request(
                url.clone(),
                &format!("Bearer {}", token.value),
                body.clone(),
            )
            .ok_or_else(|| GithubError::Dispatch(None, "invalid repository URL".into()))?;
            let response = platform
                .send(request, TIMEOUT)
                .await
                .map_err(|e| GithubError::Dispatch(None, transport(&e)))?;
            let status = response.status().as_u16();
            if status == 204 {
                return Ok(());
            }
            if status == 401 && attempt == 0 {
                let young = platform.now().saturating_sub(token.minted_at) <= FRESH_TOKEN_SECS;
                platform.log(
                    Level::Warn,
                    "GitHub refused the installation token; retrying once with a fresh one",
                    &[("fresh", if young { "true" } else { "false" })],
                );
                forget(platform, self);
                token = self.token(platform, true).await?;
                continue;
            }
            let message = if status == 404 {
                format!(
                    "{}: the app is not installed on {}/{} or lacks contents:write",
                    message_of(&response),
                    self.owner,
                    self.repo
                )
            } else {
                message_of(&response)
            };
            return Err(GithubError::Dispatch(Some(status), message));
        }
        Err(GithubError::Dispatch(Some(401), "Bad credentials".into()))
    }
}

//! The GitHub App leg: an RS256 app JWT exchanged for an installation token (cached until a
//! minute before it expires), then `POST /repos/{owner}/{repo}/dispatches`.

use core::time::Duration;

use pulser_runtime::{Level, OutboundError, Platform, Response};
use pulser_signing::github_app::{
    GithubAppKey, JwtError, app_jwt_from_signature, app_jwt_signing_input, pkcs8_der_from_setting,
};
use serde_json::Value;

use crate::error::GithubError;
use crate::token::{self, Answer, Dispatched, Exchanged, Token};

/// `Accept` GitHub documents for its REST API.
pub(crate) const ACCEPT: &str = "application/vnd.github+json";
/// The REST API version this endpoint speaks.
pub(crate) const API_VERSION: &str = "2022-11-28";
/// Header carrying it.
pub(crate) const X_GITHUB_API_VERSION: &str = "x-github-api-version";
/// GitHub refuses requests without a user agent.
pub(crate) const USER_AGENT: &str = "pulser-edge-git-ops-dispatch";
/// How long each GitHub call may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
/// A dispatch refused this soon after minting is retried once with a fresh token.
pub(crate) const FRESH_TOKEN_SECS: u64 = 10;

/// Everything the App leg needs (from config).
#[derive(Debug)]
pub(crate) struct App {
    /// `GITHUB_API_URL` without a trailing slash.
    pub(crate) api_url: String,
    /// `iss`: app id or client id.
    pub(crate) issuer: String,
    /// `GITHUB_INSTALLATION_ID`.
    pub(crate) installation_id: String,
    /// `GITHUB_REPO_OWNER`.
    pub(crate) owner: String,
    /// `GITHUB_REPO_NAME`.
    pub(crate) repo: String,
    /// The app's private key.
    pub(crate) key: AppKey,
}

/// The app's private key as configured, and as PKCS#8 DER for hosts that sign natively.
/// `Debug` prints `[redacted]`.
pub(crate) struct AppKey {
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
    pub(crate) fn from_setting(setting: &str) -> Result<Self, JwtError> {
        let pkcs8 = pkcs8_der_from_setting(setting)?;
        Ok(Self {
            setting: setting.to_owned(),
            pkcs8,
        })
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

/// Tokens live in the platform's cache (Spin: the default key-value store; Workers: isolate
/// memory; WASI: instance memory, kept for later requests by the edge host's `reuse`, fresh
/// per request under `wasmtime serve`).
/// The store key names the installation; the value repeats the full cache key (API URL, app,
/// installation, repository) and is ignored unless it matches, so two apps, two API URLs or
/// two repositories never share a token. Value: `cache_key \n expires_at \n minted_at \n token`.
fn store_key(installation_id: &str) -> String {
    format!("pulser-edge/github-installation-token/{installation_id}")
}

fn cached(platform: &impl Platform, app: &App) -> Option<Token> {
    let bytes = platform.cache_get(&store_key(&app.installation_id))?;
    Token::usable(&bytes, &app.cache_key(), platform.now())
}

fn remember(platform: &impl Platform, app: &App, token: &Token) {
    platform.cache_put(&store_key(&app.installation_id), token.encode().as_bytes());
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

fn answer(response: &Response) -> Answer<'_> {
    Answer {
        status: response.status().as_u16(),
        date: response
            .headers()
            .get(http::header::DATE)
            .and_then(|d| d.to_str().ok()),
        body: response.body(),
    }
}

fn transport(error: &OutboundError) -> String {
    format!("GitHub could not be reached: {error}")
}

/// A dispatch that timed out or lost its connection may have reached GitHub; one the host
/// never sent (refused destination, unreachable, unexpressible) surely did not.
fn unanswered_or_unsent(error: &OutboundError) -> GithubError {
    match error {
        OutboundError::Timeout | OutboundError::Connection(_) => {
            GithubError::DispatchUnanswered(format!("GitHub did not answer the dispatch: {error}"))
        }
        _ => GithubError::Dispatch(None, transport(error)),
    }
}

impl App {
    /// API URL, app, installation and repository: a token is scoped to one repository.
    fn cache_key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.api_url, self.issuer, self.installation_id, self.repo
        )
    }

    /// The token exchange's body: the token reaches only `GITHUB_REPO_NAME`, with only
    /// `contents: write` (what `repository_dispatch` needs), so a leaked token can do little.
    /// Built as maps, not with `json!` (see [`App::dispatch`]).
    fn token_scope(&self) -> Vec<u8> {
        let mut permissions = serde_json::Map::new();
        permissions.insert("contents".into(), "write".into());
        let mut scope = serde_json::Map::new();
        scope.insert(
            "repositories".into(),
            Value::Array(vec![self.repo.as_str().into()]),
        );
        scope.insert("permissions".into(), permissions.into());
        Value::Object(scope).to_string().into_bytes()
    }

    /// One exchange of an app JWT signed `clock_offset` seconds off our clock.
    async fn exchange(
        &self,
        platform: &impl Platform,
        clock_offset: i64,
    ) -> Result<Exchanged, GithubError> {
        let now = platform.now();
        let jwt = self
            .key
            .mint(
                platform,
                &self.issuer,
                now.saturating_add_signed(clock_offset),
            )
            .await?;
        let url = format!(
            "{}/app/installations/{}/access_tokens",
            self.api_url, self.installation_id
        );
        let request =
            api_request(url, &format!("Bearer {jwt}"), self.token_scope()).ok_or_else(|| {
                GithubError::TokenExchange(None, "GITHUB_API_URL is not a valid URL".into())
            })?;
        let response = platform
            .send(request, TIMEOUT)
            .await
            .map_err(|e| GithubError::TokenExchange(None, transport(&e)))?;
        Ok(token::exchanged(
            &answer(&response),
            &self.cache_key(),
            now,
            clock_offset,
        ))
    }

    /// A valid installation token: the cached one, else a fresh exchange; a JWT refused for
    /// its `iat`/`exp` is re-signed once with the clock offset GitHub's `Date` reveals.
    async fn token(&self, platform: &impl Platform, fresh: bool) -> Result<Token, GithubError> {
        if !fresh && let Some(token) = cached(platform, self) {
            return Ok(token);
        }
        let mut outcome = self.exchange(platform, 0).await?;
        if let Exchanged::Resign(offset) = outcome {
            platform.log(
                Level::Warn,
                "GitHub refused the app JWT for its time claims; re-signing with GitHub's clock",
                &[("offset_secs", &offset.to_string())],
            );
            outcome = self.exchange(platform, offset).await?;
        }
        match outcome {
            Exchanged::Token(token) => {
                remember(platform, self, &token);
                Ok(token)
            }
            Exchanged::Refused(error) => Err(error),
            Exchanged::Resign(_) => Err(GithubError::TokenExchange(
                Some(401),
                "GitHub refused the re-signed app JWT".into(),
            )),
        }
    }

    /// Sends the dispatch (expects 204); a 401 is retried once with a freshly minted token.
    ///
    /// # Errors
    /// [`GithubError`] naming the step that failed; [`GithubError::DispatchUnanswered`] when
    /// the dispatch itself went out and no answer came back.
    pub(crate) async fn dispatch(
        &self,
        platform: &impl Platform,
        event_type: &str,
        client_payload: &serde_json::Map<String, Value>,
    ) -> Result<(), GithubError> {
        // Built as a map, not with `json!`, which would link serde's value serializer.
        let mut body = serde_json::Map::new();
        body.insert("event_type".into(), event_type.into());
        body.insert("client_payload".into(), client_payload.clone().into());
        let body = Value::Object(body).to_string().into_bytes();
        let url = format!(
            "{}/repos/{}/{}/dispatches",
            self.api_url, self.owner, self.repo
        );
        let repository = self.repository();
        let mut token = self.token(platform, false).await?;
        let mut attempt = 0;
        loop {
            let request = api_request(
                url.clone(),
                &format!("Bearer {}", token.value),
                body.clone(),
            )
            .ok_or_else(|| GithubError::Dispatch(None, "invalid repository URL".into()))?;
            let response = platform
                .send(request, TIMEOUT)
                .await
                .map_err(|e| unanswered_or_unsent(&e))?;
            match token::dispatched(&answer(&response), attempt, &repository) {
                Dispatched::Sent => return Ok(()),
                Dispatched::Failed(error) => return Err(error),
                Dispatched::RetryFresh => {
                    let young = platform.now().saturating_sub(token.minted_at) <= FRESH_TOKEN_SECS;
                    platform.log(
                        Level::Warn,
                        "GitHub refused the installation token; retrying once with a fresh one",
                        &[("fresh", if young { "true" } else { "false" })],
                    );
                    forget(platform, self);
                    token = self.token(platform, true).await?;
                    attempt += 1;
                }
            }
        }
    }

    /// `owner/repo`.
    pub(crate) fn repository(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

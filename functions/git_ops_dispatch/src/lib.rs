#![warn(missing_docs)]
//! `POST /pulser/git-ops`: a signed Odoo request becomes a GitHub `repository_dispatch`
//! through a GitHub App.
//!
//! 1. `POST` only (405), JSON only (415), at most 64 KiB (413).
//! 2. `X-Pulser-Signature: sha256=<hex>` over the raw body with `PULSER_WEBHOOK_SECRET` (a
//!    rotation list); an `X-Pulser-Secret` header, when sent, must equal one of the secrets
//!    (constant time). 401 `unauthorized` otherwise.
//! 3. [`request::parse`]: `{branch, message, kv_key?, kv_value?}` -> `git-ops`, or
//!    `{event_type: "deploy_pulse_hub", environment, image_tag, service, odoo_user?}`; 422
//!    naming the field; GitHub's limits checked before anything is sent.
//! 4. [`github::App::dispatch`]: app JWT -> installation token (cached) -> dispatch (204).
//!
//! Answers 202 `{"ok": true, "event_type", "repository", "correlation_id"}`. Errors are
//! mapped in one place, [`DispatchError::into_response`].

use core::fmt;

use pulser_runtime::{Level, Platform, Request, Response, error_response, reply};
use pulser_signing::{SecretSet, SignatureError, headers};
use serde_json::json;
use subtle::ConstantTimeEq;

pub mod clock;
pub mod github;
pub mod request;

use github::{App, AppKey, GithubError};
use request::Invalid;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pulser_runtime::export!(handle, max_body = 64 * 1024);

/// Setting: the secrets Odoo signs with (comma-separated; any verifies).
pub const PULSER_WEBHOOK_SECRET: &str = "PULSER_WEBHOOK_SECRET";
/// Optional header that must equal one of the secrets when sent.
pub const X_PULSER_SECRET: &str = "x-pulser-secret";
/// Settings of the GitHub App leg.
pub const GITHUB_APP_ID: &str = "GITHUB_APP_ID";
/// Alternative issuer: the app's client id.
pub const GITHUB_CLIENT_ID: &str = "GITHUB_CLIENT_ID";
/// The installation whose token is used.
pub const GITHUB_INSTALLATION_ID: &str = "GITHUB_INSTALLATION_ID";
/// The app key: base64 of a PEM (PKCS#1 or PKCS#8), or the PEM itself.
pub const GITHUB_APP_PRIVATE_KEY_BASE64: &str = "GITHUB_APP_PRIVATE_KEY_BASE64";
/// Repository owner.
pub const GITHUB_REPO_OWNER: &str = "GITHUB_REPO_OWNER";
/// Repository name.
pub const GITHUB_REPO_NAME: &str = "GITHUB_REPO_NAME";
/// API base, default `https://api.github.com`.
pub const GITHUB_API_URL: &str = "GITHUB_API_URL";

/// Why a request was not dispatched.
#[derive(Debug)]
#[non_exhaustive]
pub enum DispatchError {
    /// Not `POST`.
    MethodNotAllowed,
    /// Not JSON.
    UnsupportedMediaType,
    /// Over 64 KiB.
    TooLarge,
    /// A required setting has no value.
    MissingConfig(&'static str),
    /// A setting cannot be used; the reason never contains its value.
    InvalidConfig(&'static str, String),
    /// Bad or missing signature.
    Unauthorized(SignatureError),
    /// `X-Pulser-Secret` sent but wrong.
    WrongSharedSecret,
    /// Not JSON (serde's position, never the content).
    InvalidJson(String),
    /// A field failed validation.
    Invalid(Invalid),
    /// The GitHub leg failed.
    Github(GithubError),
}

impl fmt::Display for DispatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MethodNotAllowed => f.write_str("this endpoint accepts POST only"),
            Self::UnsupportedMediaType => f.write_str("content-type must be application/json"),
            Self::TooLarge => write!(f, "request body exceeds {MAX_BODY_BYTES} bytes"),
            Self::MissingConfig(name) => write!(f, "the setting {name} is not configured"),
            Self::InvalidConfig(name, reason) => {
                write!(f, "the setting {name} is invalid: {reason}")
            }
            Self::Unauthorized(e) => write!(f, "{e}"),
            Self::WrongSharedSecret => write!(f, "{X_PULSER_SECRET} does not match"),
            Self::InvalidJson(e) => write!(f, "body is not valid JSON: {e}"),
            Self::Invalid(e) => write!(f, "{e}"),
            Self::Github(GithubError::TokenExchange(_, m) | GithubError::Dispatch(_, m)) => {
                f.write_str(m)
            }
            Self::Github(GithubError::Jwt(m)) => {
                write!(f, "the GitHub App JWT could not be made: {m}")
            }
        }
    }
}

impl DispatchError {
    /// The `error` code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooLarge => "payload_too_large",
            Self::MissingConfig(_) => "missing_config",
            Self::InvalidConfig(..) | Self::Github(GithubError::Jwt(_)) => "invalid_config",
            Self::Unauthorized(_) | Self::WrongSharedSecret => "unauthorized",
            Self::InvalidJson(_) => "invalid_json",
            Self::Invalid(_) => "validation_failed",
            Self::Github(GithubError::TokenExchange(..)) => "token_exchange_failed",
            Self::Github(GithubError::Dispatch(..)) => "dispatch_failed",
        }
    }

    /// The one place errors become HTTP answers.
    #[must_use]
    pub fn into_response(self) -> Response {
        let message = self.to_string();
        match &self {
            Self::MethodNotAllowed => reply::method_not_allowed("POST"),
            Self::MissingConfig(name) => reply::missing_config(name),
            Self::Invalid(invalid) => reply::json(
                422,
                &json!({"error": self.code(), "field": invalid.field, "message": message}),
            ),
            Self::Github(
                GithubError::TokenExchange(status, _) | GithubError::Dispatch(status, _),
            ) => reply::json(
                502,
                &json!({"error": self.code(), "github_status": status, "message": message}),
            ),
            _ => {
                let status = match self {
                    Self::UnsupportedMediaType => 415,
                    Self::TooLarge => 413,
                    Self::Unauthorized(_) | Self::WrongSharedSecret => 401,
                    Self::InvalidJson(_) => 400,
                    _ => 500,
                };
                error_response(status, self.code(), &message)
            }
        }
    }
}

/// The endpoint; every answer carries `x-correlation-id`.
pub async fn handle(request: Request, platform: &impl Platform) -> Response {
    let correlation_id = reply::correlation_id(&request, platform);
    let response = match dispatch(&request, platform, &correlation_id).await {
        Ok(response) => response,
        Err(error) => {
            let level = match error {
                DispatchError::MissingConfig(_)
                | DispatchError::InvalidConfig(..)
                | DispatchError::Github(_) => Level::Error,
                _ => Level::Warn,
            };
            platform.log(
                level,
                "git_ops_dispatch refused a request",
                &[
                    ("error", error.code()),
                    ("message", &error.to_string()),
                    ("correlation_id", &correlation_id),
                ],
            );
            error.into_response()
        }
    };
    reply::with_correlation_id(response, &correlation_id)
}

fn required(platform: &impl Platform, name: &'static str) -> Result<String, DispatchError> {
    platform
        .config(name)
        .ok_or(DispatchError::MissingConfig(name))
}

fn authenticate(request: &Request, secrets_setting: &str) -> Result<(), DispatchError> {
    let secrets = SecretSet::parse(secrets_setting)
        .map_err(|e| DispatchError::InvalidConfig(PULSER_WEBHOOK_SECRET, e.to_string()))?;
    secrets
        .verify_hex(
            headers::X_PULSER_SIGNATURE,
            request
                .headers()
                .get(headers::X_PULSER_SIGNATURE)
                .map(http::HeaderValue::as_bytes),
            request.body(),
        )
        .map_err(DispatchError::Unauthorized)?;
    if let Some(sent) = request.headers().get(X_PULSER_SECRET) {
        let matched = secrets_setting
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .fold(false, |found, secret| {
                bool::from(secret.as_bytes().ct_eq(sent.as_bytes())) | found
            });
        if !matched {
            return Err(DispatchError::WrongSharedSecret);
        }
    }
    Ok(())
}

fn app(platform: &impl Platform) -> Result<App, DispatchError> {
    let issuer = platform
        .config(GITHUB_APP_ID)
        .or_else(|| platform.config(GITHUB_CLIENT_ID))
        .ok_or(DispatchError::MissingConfig(GITHUB_APP_ID))?;
    let installation_id = required(platform, GITHUB_INSTALLATION_ID)?;
    let key = AppKey::from_setting(required(platform, GITHUB_APP_PRIVATE_KEY_BASE64)?)
        .map_err(|e| DispatchError::InvalidConfig(GITHUB_APP_PRIVATE_KEY_BASE64, e.to_string()))?;
    let owner = required(platform, GITHUB_REPO_OWNER)?;
    let repo = required(platform, GITHUB_REPO_NAME)?;
    let api_url = platform
        .config(GITHUB_API_URL)
        .unwrap_or_else(|| "https://api.github.com".to_owned())
        .trim_end_matches('/')
        .to_owned();
    Ok(App {
        api_url,
        issuer,
        installation_id,
        owner,
        repo,
        key,
    })
}

async fn dispatch(
    request: &Request,
    platform: &impl Platform,
    correlation_id: &str,
) -> Result<Response, DispatchError> {
    if request.method() != http::Method::POST {
        return Err(DispatchError::MethodNotAllowed);
    }
    if !reply::is_json(request) {
        return Err(DispatchError::UnsupportedMediaType);
    }
    if request.body().len() > MAX_BODY_BYTES {
        return Err(DispatchError::TooLarge);
    }
    authenticate(request, &required(platform, PULSER_WEBHOOK_SECRET)?)?;
    let body: serde_json::Value = serde_json::from_slice(request.body())
        .map_err(|e| DispatchError::InvalidJson(e.to_string()))?;
    let dispatch = request::parse(&body, correlation_id, &clock::rfc3339(platform.now()))
        .map_err(DispatchError::Invalid)?;
    let app = app(platform)?;
    app.dispatch(platform, dispatch.event_type, &dispatch.client_payload)
        .await
        .map_err(DispatchError::Github)?;
    let repository = format!("{}/{}", app.owner, app.repo);
    platform.log(
        Level::Info,
        "repository_dispatch sent",
        &[
            ("event_type", dispatch.event_type),
            ("repository", &repository),
            ("correlation_id", correlation_id),
        ],
    );
    Ok(reply::json(
        202,
        &json!({
            "ok": true,
            "event_type": dispatch.event_type,
            "repository": repository,
            "correlation_id": correlation_id,
        }),
    ))
}

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
//! Answers 202 `{"ok": true, "event_type", "repository", "correlation_id"}`. Refusals follow
//! the shared contract ([`pulser_runtime::pipeline`]); the function's own are in
//! [`error::DispatchError`].

use pulser_runtime::pipeline::{self, Error, Refusal, Spec};
use pulser_runtime::time::rfc3339;
use pulser_runtime::{Level, Platform, Request, Response, reply};
use pulser_signing::{SecretSet, headers};
use serde_json::json;

pub mod error;
pub mod github;
pub mod request;

use error::DispatchError;
use github::{App, AppKey};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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

/// The pipeline's view of this function: one JSON route, at most 64 KiB.
pub const SPEC: Spec = Spec {
    name: "git_ops_dispatch",
    max_body: MAX_BODY_BYTES,
    accepts: pipeline::json_only,
};

pulser_runtime::function!(SPEC, dispatch);

fn required(platform: &impl Platform, name: &'static str) -> Result<String, Refusal> {
    platform.config(name).ok_or(Refusal::MissingConfig(name))
}

fn authenticate(request: &Request, secrets_setting: &str) -> Result<(), Refusal> {
    let secrets = SecretSet::parse(secrets_setting).map_err(|e| Refusal::InvalidConfig {
        name: PULSER_WEBHOOK_SECRET,
        reason: e.to_string(),
    })?;
    secrets
        .verify_hex(
            headers::X_PULSER_SIGNATURE,
            request
                .headers()
                .get(headers::X_PULSER_SIGNATURE)
                .map(http::HeaderValue::as_bytes),
            request.body(),
        )
        .map_err(|e| Refusal::unauthorized(e.header(), e))?;
    if let Some(sent) = request.headers().get(X_PULSER_SECRET) {
        // Every secret is compared (no early exit), each with the one constant-time policy.
        let matched = secrets_setting
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .fold(false, |found, secret| {
                pulser_signing::token_eq(secret.as_bytes(), sent.as_bytes()) | found
            });
        if !matched {
            return Err(Refusal::unauthorized(
                Some(X_PULSER_SECRET),
                format!("{X_PULSER_SECRET} does not match"),
            ));
        }
    }
    Ok(())
}

fn app(platform: &impl Platform) -> Result<App, Refusal> {
    let issuer = platform
        .config(GITHUB_APP_ID)
        .or_else(|| platform.config(GITHUB_CLIENT_ID))
        .ok_or(Refusal::MissingConfig(GITHUB_APP_ID))?;
    let installation_id = required(platform, GITHUB_INSTALLATION_ID)?;
    let key =
        AppKey::from_setting(required(platform, GITHUB_APP_PRIVATE_KEY_BASE64)?).map_err(|e| {
            Refusal::InvalidConfig {
                name: GITHUB_APP_PRIVATE_KEY_BASE64,
                reason: e.to_string(),
            }
        })?;
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
) -> Result<Response, Error<DispatchError>> {
    authenticate(request, &required(platform, PULSER_WEBHOOK_SECRET)?)?;
    let body: serde_json::Value =
        serde_json::from_slice(request.body()).map_err(|e| Refusal::InvalidJson(e.to_string()))?;
    let dispatch = request::parse(&body, correlation_id, &rfc3339(platform.now()))
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

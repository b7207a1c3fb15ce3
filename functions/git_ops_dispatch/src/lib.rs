#![warn(missing_docs, unreachable_pub)]
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
//! 4. The GitHub App leg (`github`, deciding in `token`): app JWT -> installation token
//!    (cached) -> dispatch (204).
//!
//! Every setting of [`settings::TABLE`] is read before the request is looked at, so a
//! missing or unusable one is a 500 naming it whatever the request.
//!
//! Answers 202 `{"ok": true, "event_type", "repository", "correlation_id"}`. Refusals follow
//! the shared contract ([`pulser_runtime::pipeline`]); the function's own are in
//! [`error::DispatchError`].

use pulser_runtime::pipeline::{self, Error, Refusal, Spec};
use pulser_runtime::time::rfc3339;
use pulser_runtime::{Level, Platform, Request, Response, reply};
use serde_json::json;

mod auth;
mod error;
mod github;
mod request;
pub mod settings;
mod token;

use error::DispatchError;
use settings::Settings;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The pipeline's view of this function: one JSON route, at most 64 KiB.
pub const SPEC: Spec = Spec {
    name: "git_ops_dispatch",
    max_body: MAX_BODY_BYTES,
    accepts: pipeline::json_only,
};

pulser_runtime::function!(SPEC, dispatch);

async fn dispatch(
    request: &Request,
    platform: &impl Platform,
    correlation_id: &str,
) -> Result<Response, Error<DispatchError>> {
    let settings = Settings::from_platform(platform)?;
    auth::verify(request.headers(), request.body(), &settings)?;
    let body: serde_json::Value =
        serde_json::from_slice(request.body()).map_err(|e| Refusal::InvalidJson(e.to_string()))?;
    let dispatch = request::parse(&body, correlation_id, &rfc3339(platform.now()))
        .map_err(DispatchError::Invalid)?;
    let app = &settings.app;
    app.dispatch(platform, dispatch.event_type, &dispatch.client_payload)
        .await
        .map_err(DispatchError::Github)?;
    let repository = app.repository();
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

#![warn(missing_docs, unreachable_pub)]
//! `POST /pulser/git-ops`: a signed Odoo request becomes a GitHub `repository_dispatch`
//! through a GitHub App, at most once per `request_id`.
//!
//! 1. `POST` only (405), JSON only (415), at most 64 KiB (413).
//! 2. `X-Pulser-Signature: sha256=<hex>` over the raw body with `PULSER_WEBHOOK_SECRET` (a
//!    rotation list); an `X-Pulser-Secret` header, when sent, must equal one of the secrets
//!    (constant time). 401 `unauthorized` otherwise.
//! 3. [`request::parse`]: `request_id` (the caller's idempotency key) and `timestamp` (when
//!    it signed), then `{branch, message, kv_key?, kv_value?}` -> `git-ops`, or
//!    `{event_type: "deploy_pulse_hub", environment, image_tag, service, odoo_user?}`; 422
//!    naming the field (a branch is a branch name, not `HEAD` or `refs/...`, under
//!    `GITOPS_BRANCH_PREFIX` when set; no control characters in text fields but a
//!    message's newlines and tabs); GitHub's limits checked before anything is sent.
//! 4. `window::check`: signed more than 300 s away from the platform clock is 401
//!    `stale_request`, so a captured request cannot be replayed later.
//! 5. `store::claim`: the `git_ops_dispatch` row of the `request_id` (`record`) is
//!    inserted `dispatching`, or an id seen before is answered from its row (200 duplicate,
//!    409 in progress or outcome unknown, 422 for another request under the same id), or a
//!    `failed` one is claimed again. Only the request holding the claim goes on.
//! 6. The GitHub App leg (`github`, deciding in `token`): app JWT -> installation token
//!    scoped to `GITHUB_REPO_NAME` and `contents: write` (cached) -> dispatch (204); then
//!    `store::finish` records the outcome on the row.
//!
//! The secrets are read first, to authenticate the caller; every other setting of
//! [`settings::TABLE`] after, so a missing or unusable one is a 500 naming it to an
//! authenticated caller only (an unauthenticated one gets 401).
//!
//! Answers 202 `{"ok": true, "event_type", "repository", "correlation_id"}`. Refusals follow
//! the shared contract ([`pulser_runtime::pipeline`]); the function's own are in
//! [`error::DispatchError`].

use pulser_runtime::pipeline::{self, Error, Refusal, Spec};
use pulser_runtime::{Level, Platform, Request, Response, reply};

mod auth;
mod error;
mod github;
mod record;
mod request;
pub mod settings;
mod store;
mod token;
mod window;

use error::DispatchError;
use record::Verdict;
use settings::{Credentials, Settings};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The pipeline's view of this function: one JSON route, at most 64 KiB.
pub const SPEC: Spec = Spec {
    name: "git_ops_dispatch",
    route: "/pulser/git-ops",
    version: env!("CARGO_PKG_VERSION"),
    settings: settings::TABLE,
    max_body: MAX_BODY_BYTES,
    accepts: pipeline::json_only,
};

pulser_runtime::function!(SPEC, dispatch);

/// The correlation id this dispatch carries to GitHub and into its row (a `uuid` column):
/// the request's when it is a UUID, else a fresh one.
fn dispatch_correlation_id(correlation_id: &str, platform: &impl Platform) -> String {
    if reply::is_uuid(correlation_id) {
        correlation_id.to_ascii_lowercase()
    } else {
        reply::uuid_v4(platform)
    }
}

async fn dispatch(
    request: &Request,
    platform: &impl Platform,
    correlation_id: &str,
) -> Result<Response, Error<DispatchError>> {
    // Only the secrets are read before the caller is authenticated: what else is
    // configured (or missing) is nobody else's business.
    auth::verify(
        request.headers(),
        request.body(),
        &Credentials::from_platform(platform)?,
    )?;
    let settings = Settings::from_platform(platform)?;
    let body: serde_json::Value =
        serde_json::from_slice(request.body()).map_err(|e| Refusal::InvalidJson(e.to_string()))?;
    let correlation_id = dispatch_correlation_id(correlation_id, platform);
    let dispatch = request::parse(&body, &correlation_id, &settings.branch_prefix)
        .map_err(DispatchError::Invalid)?;
    window::check(dispatch.signed_at, platform.now()).map_err(DispatchError::Stale)?;
    let repository = settings.app.repository();
    match store::claim(platform, &settings.db, &dispatch, &correlation_id).await? {
        Verdict::Dispatch => {}
        Verdict::Duplicate { correlation_id } => {
            return Ok(answer(
                platform,
                &dispatch,
                &repository,
                &correlation_id,
                false,
            ));
        }
        Verdict::InProgress => return Err(DispatchError::InProgress(dispatch.request_id).into()),
        Verdict::OutcomeUnknown => {
            return Err(DispatchError::OutcomeUnknown(dispatch.request_id).into());
        }
        Verdict::DifferentRequest => {
            return Err(DispatchError::Invalid(request::Invalid {
                field: "request_id",
                reason: "was already used for a different request: send a new request_id",
            })
            .into());
        }
    }
    let sent = settings
        .app
        .dispatch(platform, dispatch.event_type, &dispatch.client_payload)
        .await;
    store::finish(platform, &settings.db, &dispatch, &correlation_id, &sent).await;
    sent.map_err(DispatchError::Github)?;
    Ok(answer(
        platform,
        &dispatch,
        &repository,
        &correlation_id,
        true,
    ))
}

/// The answer (logged) to a request dispatched now (202), or before under `correlation_id`
/// (200 `duplicate`, nothing sent).
fn answer(
    platform: &impl Platform,
    dispatch: &request::Dispatch,
    repository: &str,
    correlation_id: &str,
    sent_now: bool,
) -> Response {
    platform.log(
        Level::Info,
        if sent_now {
            "repository_dispatch sent"
        } else {
            "repository_dispatch already sent for this request_id; not sent again"
        },
        &[
            ("event_type", dispatch.event_type),
            ("repository", repository),
            ("request_id", &dispatch.request_id),
            ("correlation_id", correlation_id),
        ],
    );
    let mut body = serde_json::Map::new();
    body.insert("ok".into(), true.into());
    if !sent_now {
        body.insert("duplicate".into(), true.into());
        body.insert("status".into(), "dispatched".into());
    }
    body.insert("event_type".into(), dispatch.event_type.into());
    body.insert("repository".into(), repository.into());
    body.insert("correlation_id".into(), correlation_id.into());
    reply::json(if sent_now { 202 } else { 200 }, &body.into())
}

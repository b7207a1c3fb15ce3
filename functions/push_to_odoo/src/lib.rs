#![warn(missing_docs, unreachable_pub)]
//! `POST /push_to_odoo` and `POST /push_to_odoo/drain`: drives `odoo_action_outbox` rows to
//! Odoo's `/api/agent/apply`, each exactly once per claim.
//!
//! - **Database webhook** (`authorization: Bearer <PUSH_WEBHOOK_TOKEN>`, compared in
//!   constant time): Supabase's body for an `INSERT` on the outbox pushes that row; `UPDATE`
//!   and `DELETE` are acknowledged and ignored; other tables or types are 422.
//! - **Direct call** (body signed like `odoo_event_ingest`: `x-signature` or Standard
//!   Webhooks): `{action, args, request_id?, correlation_id?}` inserts a row keyed by its
//!   idempotency key (`request_id`, else `webhook:<webhook-id>`; one is required), then
//!   pushes it the same way; a key already stored inserts nothing (`"duplicate": true`).
//! - **Drain** (`/drain`, same bearer): pushes due rows, oldest first, bounded by
//!   `OUTBOX_DRAIN_LIMIT` and by `PUSH_DEADLINE_MS` (no row is claimed that one delivery
//!   could not finish in time): `queued` rows whose `next_attempt_at` has passed and rows
//!   stuck in `sent` longer than `OUTBOX_LEASE_SECS`.
//! - **Cron Trigger** (Workers only, [`drain_on_schedule`]): the same drain, started by the
//!   runtime's scheduler; there is no caller, so no bearer, and the outcome goes to the log.
//!
//! Every push claims the row first with a conditional PATCH ([`outbox`]); a row another
//! delivery holds is reported as `"claimed": false` and nothing is sent. The action is checked
//! against the allow-list ([`action`]), then Odoo is called with the signed body ([`odoo`])
//! and the outcome recorded: `applied`, `error`, or back to `queued` with backoff. Answers are
//! 200 with the row's id and final status. The setting that authenticates the caller
//! is read first, every other one of [`settings::TABLE`] after, so a missing or unusable one
//! is a 500 naming it to an authenticated caller only. Refusals
//! follow the shared contract
//! ([`pulser_runtime::pipeline`]); the function's own are in [`error::PushError`].

use pulser_runtime::pipeline::{self, Accept, Error, Refusal, Spec};
use pulser_runtime::{Level, Platform, Request, Response, reply};
use serde_json::{Value, json};

mod action;
mod auth;
mod delivery;
mod error;
mod odoo;
mod outbox;
mod schedule;
pub mod settings;
mod trigger;

pub use delivery::POSTGREST_TIMEOUT;
pub use schedule::drain_on_schedule;

use auth::Caller;
use error::PushError;
use settings::Settings;
use trigger::WebhookEvent;

/// Largest request body accepted (bytes).
pub const MAX_BODY_BYTES: usize = pulser_runtime::DEFAULT_MAX_BODY_BYTES;
/// The drain's path below the push route.
pub const DRAIN_PATH: &str = "/drain";
/// The push route.
pub const PUSH_PREFIX: &str = "/push_to_odoo";
/// The routes, as a 404 names them.
const ROUTES: &str = "POST /push_to_odoo or /push_to_odoo/drain, GET /push_to_odoo/health";

/// The two routes of this function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/push_to_odoo` (or `/` where the function has a host of its own, as on Workers).
    Push,
    /// `/push_to_odoo/drain` (or `/drain`).
    Drain,
}

impl Route {
    /// The route for the path below `/push_to_odoo` ([`pipeline::below_route`]); `None` for
    /// any other path. Only the whole path counts: `/push_to_odoo/x/drain` is not the drain.
    /// (`GET /push_to_odoo/health` is the pipeline's, see [`health_details`].)
    #[must_use]
    pub fn of(below: &str) -> Option<Self> {
        match below {
            "" => Some(Self::Push),
            DRAIN_PATH => Some(Self::Drain),
            _ => None,
        }
    }

    /// The route of a request.
    #[must_use]
    pub fn of_request(request: &Request) -> Option<Self> {
        Self::of(pipeline::below_route(&SPEC, request.uri().path()))
    }
}

/// The pipeline's view of this function: the push route takes JSON, the drain any body.
pub const SPEC: Spec = Spec {
    name: "push_to_odoo",
    route: PUSH_PREFIX,
    version: env!("CARGO_PKG_VERSION"),
    settings: settings::TABLE,
    max_body: MAX_BODY_BYTES,
    accepts,
};

fn accepts(below: &str) -> Accept {
    match Route::of(below) {
        Some(Route::Push) => Accept::Json,
        Some(Route::Drain) => Accept::Any,
        None => Accept::NotFound(ROUTES),
    }
}

pulser_runtime::function!(SPEC, serve, health = health_details);
pulser_runtime::export_scheduled!(drain_on_schedule);

async fn serve(
    request: &Request,
    platform: &impl Platform,
    correlation_id: &str,
) -> Result<Response, Error<PushError>> {
    let route = Route::of_request(request).ok_or(Refusal::NotFound(ROUTES))?;
    let headers = request.headers();
    // Each caller is authenticated with only the setting its check needs; everything else
    // is read after, so an unauthenticated caller learns nothing of the configuration.
    if route == Route::Drain {
        bearer(platform, headers)?;
        let reports = drain(platform).await?;
        let rows: Vec<Value> = reports.iter().map(delivery::Report::to_json).collect();
        return Ok(reply::json(
            200,
            &json!({"count": rows.len(), "rows": rows}),
        ));
    }

    match auth::caller(headers).map_err(unauthorized)? {
        Caller::DatabaseWebhook => {
            bearer(platform, headers)?;
            let settings = Settings::from_platform(platform)?;
            match trigger::database_webhook(request.body()).map_err(PushError::InvalidBody)? {
                WebhookEvent::Ignored { kind } => {
                    platform.log(Level::Info, "database webhook ignored", &[("type", kind)]);
                    Ok(reply::json(200, &json!({"ignored": true, "type": kind})))
                }
                WebhookEvent::Insert { id } => {
                    let report = delivery::push_queued(platform, &settings, id).await?;
                    Ok(reply::json(200, &report.to_json()))
                }
            }
        }
        Caller::Signed => {
            let secrets = settings::inbound_secrets(platform)?;
            let signed = auth::verify_signature(headers, request.body(), &secrets, platform.now())
                .map_err(unauthorized)?;
            let settings = Settings::from_platform(platform)?;
            let call = trigger::direct_call(request.body(), signed.webhook_id())
                .map_err(PushError::InvalidBody)?;
            let correlation = match &call.correlation_id {
                Some(id) => id.clone(),
                None if reply::is_uuid(correlation_id) => correlation_id.to_ascii_lowercase(),
                None => reply::uuid_v4(platform),
            };
            let report = delivery::push_direct(platform, &settings, &call, &correlation).await?;
            Ok(reply::json(200, &report.to_json()))
        }
    }
}

/// What `GET /push_to_odoo/health` (unauthenticated, [`pipeline::health`]) adds: whether the
/// destination is paused (rows wait because Odoo refused the caller or the URL) and which
/// settings to check then. Nothing else is said: no row, no reason text, no setting value.
async fn health_details(
    platform: &impl Platform,
) -> Result<serde_json::Map<String, Value>, Refusal> {
    let db = pulser_supabase::Postgrest::from_platform(platform)?;
    let paused = delivery::destination_paused(platform, &db).await?;
    let mut destination = serde_json::Map::new();
    destination.insert("paused".into(), paused.into());
    if paused {
        destination.insert(
            "check".into(),
            "Odoo refused the caller or the URL (401, 403, 404 or a redirect): fix ODOO_API_TOKEN, ODOO_SIGNING_SECRET or ODOO_BASE_URL; the rows wait and are retried every 5 minutes".into(),
        );
    }
    let mut details = serde_json::Map::new();
    details.insert("destination".into(), destination.into());
    Ok(details)
}

/// The drain, whoever starts it: `POST /drain` once its bearer is checked, or the Workers
/// Cron Trigger ([`drain_on_schedule`]). Every setting it needs is read here, after the
/// caller (if any) is authenticated.
async fn drain(platform: &impl Platform) -> Result<Vec<delivery::Report>, Refusal> {
    let settings = Settings::from_platform(platform)?;
    delivery::drain(platform, &settings).await
}

/// The bearer check shared by the webhook and the drain.
fn bearer(platform: &impl Platform, headers: &http::HeaderMap) -> Result<(), Refusal> {
    let token = settings::webhook_token(platform)?;
    auth::verify_bearer(headers, token.expose()).map_err(unauthorized)
}

fn unauthorized(e: auth::AuthError) -> Refusal {
    Refusal::unauthorized(e.header(), e)
}

#[cfg(test)]
mod tests {
    use super::Route;

    fn route(path: &str) -> Option<Route> {
        Route::of_request(
            &http::Request::post(path)
                .body(Vec::new())
                .unwrap_or_default(),
        )
    }

    #[test]
    fn routes() {
        assert_eq!(route("/push_to_odoo"), Some(Route::Push));
        assert_eq!(route("/push_to_odoo/"), Some(Route::Push));
        assert_eq!(route("/"), Some(Route::Push));
        assert_eq!(route("/push_to_odoo/drain"), Some(Route::Drain));
        assert_eq!(route("/drain"), Some(Route::Drain));
        assert_eq!(route("/push_to_odoo/other"), None);
        // Only the whole path names a route.
        assert_eq!(route("/push_to_odoo/x/drain"), None);
        assert_eq!(route("/x/drain"), None);
        assert_eq!(route("/push_to_odoo/drain/x"), None);
        assert_eq!(route("/push_to_odoox"), None);
        assert_eq!(route("/push_to_odoo/drain/"), Some(Route::Drain));
    }
}

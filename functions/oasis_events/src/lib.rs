#![warn(missing_docs, unreachable_pub)]
//! The OASIS read side over `oasis_events`: pages of events and a live feed.
//!
//! | route | answers |
//! |---|---|
//! | `GET /api/v1/oasis/events?vtid=&source=&kind=&status=&limit=&cursor=` | `{"events": [...], "next_cursor": "<id>" \| null}`, newest first |
//! | `GET /events?...` | the same (the seed's second name for it) |
//! | `GET /api/v1/devhub/feed` | `text/event-stream`: what is new since `Last-Event-ID` ([`feed`]) |
//! | `OPTIONS` on each | a CORS preflight ([`cors`]) |
//!
//! 1. `GET`, `HEAD` or `OPTIONS` only (405 with `Allow` naming them: the pipeline leaves the
//!    method of a read route to the flow); the browser's `Origin`, when sent,
//!    must be one of `OASIS_CORS_ORIGINS` (403 `origin_not_allowed`); a preflight from one
//!    is answered 204 without credentials.
//! 2. The query string is checked first ([`query`]: 400 `unknown_parameter` or
//!    `invalid_parameter` naming it; `limit` is capped at [`query::MAX_LIMIT`]).
//! 3. The caller proves a read key or brings a Supabase access token ([`auth`]: 401), and
//!    spends one request of its rate limit ([`limit`]: 429 with `retry-after`).
//! 4. One PostgREST select; for the feed, repeated every [`feed::POLL`] while nothing is new,
//!    up to `OASIS_FEED_WAIT_MS`.
//!
//! Every answer, refusals included, carries the CORS headers of an allowed origin, so a
//! console can read a 401 or a 429 as JSON.

use pulser_runtime::pipeline::{self, Accept, Error, Spec};
use pulser_runtime::{Platform, Request, Response, reply};
use serde_json::{Value, json};

mod auth;
mod cors;
mod error;
pub mod feed;
pub mod limit;
pub mod query;
pub mod settings;
pub mod store;

use error::OasisError;
use query::{Filter, Read};
use settings::{Access, Settings};

/// The live feed's path (outside [`SPEC`]'s route, as the seed has it).
pub const FEED_PATH: &str = "/api/v1/devhub/feed";

/// The routes, for the 404 of any other path.
const ROUTES: &str = "GET /api/v1/oasis/events, /events or /api/v1/devhub/feed";

/// The pipeline's view of this function: reads only, no body.
pub const SPEC: Spec = Spec {
    name: "oasis_events",
    route: "/api/v1/oasis",
    version: env!("CARGO_PKG_VERSION"),
    settings: settings::TABLE,
    // Reads take no body; a small one (a client that sends `{}`) is read and ignored.
    max_body: 4096,
    accepts,
};

fn read_of(below: &str) -> Option<Read> {
    match below {
        "/events" => Some(Read::Events),
        FEED_PATH => Some(Read::Feed),
        _ => None,
    }
}

fn accepts(below: &str) -> Accept {
    match read_of(below) {
        Some(_) => Accept::Read,
        None => Accept::NotFound(ROUTES),
    }
}

pulser_runtime::function!(SPEC, serve);

/// The pipeline's flow: [`read`], then the CORS headers on whatever it answered. A refusal
/// is turned into its answer here ([`pipeline::respond`], which logs it) rather than by the
/// pipeline after the flow, so it carries them too.
async fn serve(
    request: &Request,
    platform: &impl Platform,
    correlation_id: &str,
) -> Result<Response, Error<OasisError>> {
    let access = Access::from_platform(platform)?;
    let origin = cors::origin(request, &access.origins);
    let allowed = origin.as_ref().ok().copied().flatten();
    let result = match origin {
        Err(refused) => Err(refused.into()),
        Ok(Some(_)) if request.method() == http::Method::OPTIONS => Ok(cors::preflight()),
        Ok(_) => read(request, platform, &access).await,
    };
    let header = match &result {
        Err(Error::Domain(OasisError::RateLimited)) => Some((
            http::header::RETRY_AFTER,
            http::HeaderValue::from(limit::retry_after(platform.now())),
        )),
        Err(Error::Domain(OasisError::MethodNotAllowed)) => Some((
            http::header::ALLOW,
            http::HeaderValue::from_static(cors::METHODS),
        )),
        _ => None,
    };
    let mut response = pipeline::respond(&SPEC, platform, correlation_id, result);
    if let Some((name, value)) = header {
        response.headers_mut().insert(name, value);
    }
    Ok(cors::apply(response, allowed))
}

async fn read(
    request: &Request,
    platform: &impl Platform,
    access: &Access,
) -> Result<Response, Error<OasisError>> {
    let read = read_of(pipeline::below_route(&SPEC, request.uri().path()))
        .ok_or(pipeline::Refusal::NotFound(ROUTES))?;
    // The pipeline leaves the method of an `Accept::Read` route to the flow. A preflight
    // without `Origin` is no preflight.
    if !matches!(*request.method(), http::Method::GET | http::Method::HEAD) {
        return Err(OasisError::MethodNotAllowed.into());
    }
    let filter = query::parse(request.uri().query(), read)?;
    let reader = auth::reader(
        request.headers(),
        filter.access_token.as_deref(),
        &access.read_keys,
    )?;
    let settings = &Settings::from_platform(platform)?;
    limit::admit(platform, &reader.client(), settings.rate_limit).await?;
    match read {
        Read::Events => events(platform, settings, &reader, &filter).await,
        Read::Feed => {
            let after = feed::last_event_id(request.headers())?;
            live(platform, settings, &reader, &filter, after).await
        }
    }
}

/// One page, newest first, and the cursor of the next when there is one.
async fn events(
    platform: &impl Platform,
    settings: &Settings,
    reader: &auth::Reader,
    filter: &Filter,
) -> Result<Response, Error<OasisError>> {
    let mut rows = store::rows(platform, settings, reader, &query::page(filter)).await?;
    let more = rows.len() > usize::from(filter.limit);
    rows.truncate(usize::from(filter.limit));
    let next_cursor = rows
        .last()
        .filter(|_| more)
        .and_then(|row| row.get("id"))
        .and_then(Value::as_u64)
        .map(|id| id.to_string());
    let mut response = reply::json(200, &json!({"events": rows, "next_cursor": next_cursor}));
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// The feed's answer: what is new after `after` (without it, the newest few), waiting for
/// something new up to the configured wait.
async fn live(
    platform: &impl Platform,
    settings: &Settings,
    reader: &auth::Reader,
    filter: &Filter,
    after: Option<u64>,
) -> Result<Response, Error<OasisError>> {
    let query = query::feed(filter, after);
    let polls = settings.feed_wait.as_millis() / feed::POLL.as_millis().max(1);
    let mut rows = store::rows(platform, settings, reader, &query).await?;
    for _ in 0..polls {
        if !rows.is_empty() {
            break;
        }
        platform.sleep(feed::POLL).await;
        rows = store::rows(platform, settings, reader, &query).await?;
    }
    if after.is_none() {
        rows.reverse();
    }
    let mut response = http::Response::new(feed::body(&rows));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(feed::EVENT_STREAM),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

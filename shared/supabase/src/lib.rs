#![warn(missing_docs)]
//! Supabase as the pulser-edge functions reach it: over HTTP only.
//!
//! [`Postgrest`] builds requests for Supabase's REST API (PostgREST at
//! `{SUPABASE_URL}/rest/v1`, or `SUPABASE_REST_URL` when set) carrying the `service_role` key
//! as both `apikey` and bearer token; [`realtime_broadcast`] builds a Realtime REST broadcast.
//! Nothing here performs I/O: requests are values a flow hands to
//! [`pulser_runtime::Platform::send`], and [`Outcome::of`] classifies the answer.
//!
//! ```
//! use pulser_supabase::{Insert, Postgrest};
//! let db = Postgrest::new("http://127.0.0.1:54321/rest/v1", "service-role-jwt");
//! let request = db
//!     .insert("audit_event", br#"{"source":"odoo"}"#.to_vec(), &Insert::ignore_duplicates("source,event_id"))
//!     .unwrap();
//! assert_eq!(
//!     request.uri(),
//!     "http://127.0.0.1:54321/rest/v1/audit_event?on_conflict=source%2Cevent_id"
//! );
//! assert_eq!(
//!     request.headers()["prefer"],
//!     "resolution=ignore-duplicates,return=representation"
//! );
//! ```

use core::fmt;

use pulser_runtime::Platform;
use pulser_runtime::pipeline::Refusal;

/// The settings this crate reads, for each function's settings table.
pub mod config {
    use pulser_runtime::settings::Setting;

    /// The project URL (`https://<ref>.supabase.co`); not needed when `SUPABASE_REST_URL`
    /// is set.
    pub const SUPABASE_URL: Setting = Setting::unless("SUPABASE_URL", "SUPABASE_REST_URL");
    /// Optional override of the REST base (default `{SUPABASE_URL}/rest/v1`).
    pub const SUPABASE_REST_URL: Setting = Setting::default("SUPABASE_REST_URL", "");
    /// The `service_role` key (a JWT).
    pub const SUPABASE_SERVICE_ROLE_KEY: Setting = Setting::secret("SUPABASE_SERVICE_ROLE_KEY");
    /// All three, in the order a function's table lists them.
    pub const SETTINGS: [Setting; 3] = [SUPABASE_URL, SUPABASE_REST_URL, SUPABASE_SERVICE_ROLE_KEY];
}

/// Header names PostgREST and Supabase's gateway read.
pub mod headers {
    /// Supabase's API gateway key header.
    pub const APIKEY: &str = "apikey";
    /// PostgREST preferences (`return=`, `resolution=`, `count=`).
    pub const PREFER: &str = "prefer";
}

/// A request could not be built (a table name or URL that is not valid in a URI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRequest(pub String);

impl fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid PostgREST request: {}", self.0)
    }
}

impl std::error::Error for InvalidRequest {}

/// The PostgREST endpoint and the key that authorises it.
#[derive(Clone)]
pub struct Postgrest {
    rest_url: String,
    /// The `apikey` header (Supabase's gateway wants the project's anon or service key;
    /// PostgREST itself ignores it).
    apikey: String,
    /// The bearer token PostgREST takes the role from.
    bearer: String,
}

impl fmt::Debug for Postgrest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postgrest")
            .field("rest_url", &self.rest_url)
            .field("keys", &"[redacted]")
            .finish()
    }
}

/// How an insert treats rows that hit a unique key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert<'a> {
    /// Columns of the unique key (`on_conflict=`), comma-separated.
    pub on_conflict: Option<&'a str>,
    /// `resolution=ignore-duplicates`: conflicting rows are skipped, not errors.
    pub ignore_duplicates: bool,
    /// Columns to return (`select=`); `None` returns every column.
    pub select: Option<&'a str>,
}

impl<'a> Insert<'a> {
    /// A plain insert returning the stored rows.
    #[must_use]
    pub fn plain() -> Self {
        Self {
            on_conflict: None,
            ignore_duplicates: false,
            select: None,
        }
    }

    /// An idempotent insert: rows that collide on `on_conflict` are skipped and absent from
    /// the returned representation.
    #[must_use]
    pub fn ignore_duplicates(on_conflict: &'a str) -> Self {
        Self {
            on_conflict: Some(on_conflict),
            ignore_duplicates: true,
            select: None,
        }
    }

    /// Returns only `columns`.
    #[must_use]
    pub fn returning(mut self, columns: &'a str) -> Self {
        self.select = Some(columns);
        self
    }
}

impl Postgrest {
    /// A client for the REST base `rest_url` (no trailing slash needed).
    #[must_use]
    pub fn new(rest_url: &str, service_role_key: &str) -> Self {
        Self {
            rest_url: rest_url.trim_end_matches('/').to_owned(),
            apikey: service_role_key.to_owned(),
            bearer: service_role_key.to_owned(),
        }
    }

    /// The same endpoint as the caller whose Supabase access token is `access_token`:
    /// PostgREST verifies it and applies RLS as its role (`authenticated`), so the function
    /// reads no more than that caller may. `apikey` is the project's anon key, which
    /// Supabase's gateway requires beside the token; `None` sends the token there too (a bare
    /// PostgREST ignores the header).
    #[must_use]
    pub fn on_behalf_of(&self, access_token: &str, apikey: Option<&str>) -> Self {
        Self {
            rest_url: self.rest_url.clone(),
            apikey: apikey.unwrap_or(access_token).to_owned(),
            bearer: access_token.to_owned(),
        }
    }

    /// Reads `SUPABASE_REST_URL` (else `{SUPABASE_URL}/rest/v1`) and
    /// `SUPABASE_SERVICE_ROLE_KEY` from the platform.
    ///
    /// # Errors
    /// [`Refusal::MissingConfig`] naming the first absent setting.
    pub fn from_platform(platform: &impl Platform) -> Result<Self, Refusal> {
        let rest_url = match config::SUPABASE_REST_URL.optional(platform) {
            Some(url) => url,
            None => format!(
                "{}/rest/v1",
                config::SUPABASE_URL.read(platform)?.trim_end_matches('/')
            ),
        };
        let key = config::SUPABASE_SERVICE_ROLE_KEY.read(platform)?;
        Ok(Self::new(&rest_url, &key))
    }

    /// The REST base URL (no secret in it).
    #[must_use]
    pub fn rest_url(&self) -> &str {
        &self.rest_url
    }

    fn request(
        &self,
        method: http::Method,
        path_and_query: &str,
        prefer: Option<&str>,
        body: Vec<u8>,
    ) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("{}/{path_and_query}", self.rest_url))
            .header(headers::APIKEY, &self.apikey)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.bearer),
            )
            .header(http::header::ACCEPT, "application/json");
        if !body.is_empty() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        if let Some(prefer) = prefer {
            builder = builder.header(headers::PREFER, prefer);
        }
        // The error names what was wrong with the URI; it never contains the key.
        builder
            .body(body)
            .map_err(|_| InvalidRequest(format!("{path_and_query} is not a valid request path")))
    }

    /// `POST /{table}`: inserts the JSON object or array `body`, returning the stored rows.
    ///
    /// # Errors
    /// [`InvalidRequest`] when `table` or the REST URL make no valid URI.
    pub fn insert(
        &self,
        table: &str,
        body: Vec<u8>,
        options: &Insert<'_>,
    ) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
        let mut query = Query::default();
        if let Some(columns) = options.on_conflict {
            query.push("on_conflict", columns);
        }
        if let Some(columns) = options.select {
            query.push("select", columns);
        }
        let prefer = if options.ignore_duplicates {
            "resolution=ignore-duplicates,return=representation"
        } else {
            "return=representation"
        };
        self.request(
            http::Method::POST,
            &format!("{table}{}", query.finish()),
            Some(prefer),
            body,
        )
    }

    /// `PATCH /{table}?{filter}`: updates the rows matching `filter` (see [`Query`]) with the
    /// JSON object `body` and returns them, so an empty array means nothing matched.
    ///
    /// # Errors
    /// [`InvalidRequest`] when the parts make no valid URI.
    pub fn update(
        &self,
        table: &str,
        filter: &Query,
        body: Vec<u8>,
    ) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
        self.request(
            http::Method::PATCH,
            &format!("{table}{}", filter.finish()),
            Some("return=representation"),
            body,
        )
    }

    /// `GET /{table}?{query}`: reads rows.
    ///
    /// # Errors
    /// [`InvalidRequest`] when the parts make no valid URI.
    pub fn select(
        &self,
        table: &str,
        query: &Query,
    ) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
        self.request(
            http::Method::GET,
            &format!("{table}{}", query.finish()),
            None,
            Vec::new(),
        )
    }

    /// `POST /rpc/{function}` with the JSON object `body`.
    ///
    /// # Errors
    /// [`InvalidRequest`] when the parts make no valid URI.
    pub fn rpc(
        &self,
        function: &str,
        body: Vec<u8>,
    ) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
        self.request(http::Method::POST, &format!("rpc/{function}"), None, body)
    }
}

/// A PostgREST query string, built pair by pair with every value percent-encoded.
///
/// ```
/// use pulser_supabase::Query;
/// let mut q = Query::default();
/// q.push("id", "eq.5").push("status", "eq.queued");
/// assert_eq!(q.finish(), "?id=eq.5&status=eq.queued");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(String);

impl Query {
    /// Appends `key=value`, encoding `value`.
    pub fn push(&mut self, key: &str, value: &str) -> &mut Self {
        self.0.push(if self.0.is_empty() { '?' } else { '&' });
        self.0.push_str(key);
        self.0.push('=');
        percent_encode_into(value, &mut self.0);
        self
    }

    /// The query with its leading `?`, or empty.
    #[must_use]
    pub fn finish(&self) -> &str {
        &self.0
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and the PostgREST
/// operator characters `.`, `(`, `)`, `*`.
fn percent_encode_into(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'(' | b')' | b'*')
        {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(hex_upper(byte >> 4));
            out.push(hex_upper(byte & 0x0f));
        }
    }
}

fn hex_upper(nibble: u8) -> char {
    char::from(if nibble < 10 {
        b'0' + nibble
    } else {
        b'A' + nibble - 10
    })
}

/// `POST {SUPABASE_URL}/realtime/v1/api/broadcast`: one message per `(event, payload)` on
/// `channel`, authorised with the service-role key. A `private` message reaches only
/// subscribers that join the channel as private and pass the `realtime.messages` policies;
/// a public one reaches anyone holding the project's anon key.
///
/// # Errors
/// [`InvalidRequest`] when the URL makes no valid URI.
pub fn realtime_broadcast(
    supabase_url: &str,
    service_role_key: &str,
    channel: &str,
    private: bool,
    messages: &[(&str, &serde_json::Value)],
) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
    let messages: Vec<serde_json::Value> = messages
        .iter()
        .map(|(event, payload)| {
            serde_json::json!({ "topic": channel, "event": event, "payload": payload, "private": private })
        })
        .collect();
    let body = serde_json::json!({ "messages": messages }).to_string();
    http::Request::post(format!(
        "{}/realtime/v1/api/broadcast",
        supabase_url.trim_end_matches('/')
    ))
    .header(headers::APIKEY, service_role_key)
    .header(
        http::header::AUTHORIZATION,
        format!("Bearer {service_role_key}"),
    )
    .header(http::header::CONTENT_TYPE, "application/json")
    .body(body.into_bytes())
    .map_err(|_| InvalidRequest("SUPABASE_URL is not a valid URL".into()))
}

/// What a PostgREST answer means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// 2xx: the body is the returned representation.
    Ok,
    /// 409: a unique or check constraint refused the write; carries PostgREST's message.
    Conflict(String),
    /// 5xx, 429 or 503: the database is unavailable; retry later.
    Unavailable(u16),
    /// Any other 4xx: the request itself is wrong (a bug or a schema mismatch).
    Rejected(u16, String),
}

impl Outcome {
    /// Classifies a PostgREST response by status, extracting PostgREST's `message` (never
    /// the request) for the error cases.
    #[must_use]
    pub fn of(response: &http::Response<Vec<u8>>) -> Self {
        let status = response.status().as_u16();
        let message = || {
            serde_json::from_slice::<serde_json::Value>(response.body())
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| format!("PostgREST answered {status}"))
        };
        match status {
            200..=299 => Self::Ok,
            409 => Self::Conflict(message()),
            429 | 500..=599 => Self::Unavailable(status),
            _ => Self::Rejected(status, message()),
        }
    }
}

/// Why a PostgREST call did not succeed, as a caller acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// Not reached, timed out, or answered 5xx/429: retry later (a 503 for the caller).
    Unavailable(String),
    /// Answered another non-2xx status: the request itself is wrong (a bug or a schema
    /// mismatch); carries PostgREST's `message`.
    Rejected(String),
    /// A write went out and no answer came back (timeout, connection lost mid-request): it
    /// may have committed. Only [`written`] says this; the caller repeats the same keyed
    /// write, which then takes effect once.
    Unknown(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(reason) => write!(f, "PostgREST unavailable: {reason}"),
            Self::Rejected(message) => write!(f, "PostgREST refused the request: {message}"),
            Self::Unknown(reason) => write!(f, "PostgREST did not answer a write: {reason}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Classifies what [`pulser_runtime::Platform::send`] returned for a PostgREST request: the
/// response when it is 2xx, else a [`StoreError`]. Messages never contain the request.
///
/// # Errors
/// [`StoreError::Unavailable`] for a transport failure, 5xx or 429;
/// [`StoreError::Rejected`] for any other non-2xx status (409 included).
pub fn succeeded(
    result: Result<http::Response<Vec<u8>>, pulser_runtime::OutboundError>,
) -> Result<http::Response<Vec<u8>>, StoreError> {
    let response = result.map_err(|e| StoreError::Unavailable(e.to_string()))?;
    match Outcome::of(&response) {
        Outcome::Ok => Ok(response),
        Outcome::Unavailable(status) => Err(StoreError::Unavailable(format!(
            "PostgREST answered {status}"
        ))),
        Outcome::Conflict(message) | Outcome::Rejected(_, message) => {
            Err(StoreError::Rejected(message))
        }
    }
}

/// [`succeeded`] for a write (insert, update): a transport failure after the request may have
/// left (a timeout, a lost connection) is [`StoreError::Unknown`], because PostgREST may have
/// committed it; only a destination that could not be reached, one the host refused, or a
/// request it could not express is surely not stored. A 5xx or 429 is an answer: PostgREST rolled the transaction back.
///
/// # Errors
/// As [`succeeded`], with [`StoreError::Unknown`] for timeouts and connection failures.
pub fn written(
    result: Result<http::Response<Vec<u8>>, pulser_runtime::OutboundError>,
) -> Result<http::Response<Vec<u8>>, StoreError> {
    use pulser_runtime::OutboundError;
    match result {
        Err(e @ (OutboundError::Timeout | OutboundError::Connection(_))) => {
            Err(StoreError::Unknown(e.to_string()))
        }
        other => succeeded(other),
    }
}

/// The one mapping of storage failures onto the shared refusals: unavailable is a 503 (the
/// caller retries), rejected a 502.
impl From<StoreError> for pulser_runtime::pipeline::Refusal {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(reason) => Self::StoreUnavailable(reason),
            StoreError::Rejected(message) => Self::StoreRejected(message),
            StoreError::Unknown(reason) => Self::StoreOutcomeUnknown(reason),
        }
    }
}

impl<D> From<StoreError> for pulser_runtime::pipeline::Error<D> {
    fn from(e: StoreError) -> Self {
        Self::Common(e.into())
    }
}

/// A PostgREST request that cannot be built has a base URL that cannot carry it.
impl From<InvalidRequest> for pulser_runtime::pipeline::Refusal {
    fn from(e: InvalidRequest) -> Self {
        config::SUPABASE_URL.invalid(&e)
    }
}

impl<D> From<InvalidRequest> for pulser_runtime::pipeline::Error<D> {
    fn from(e: InvalidRequest) -> Self {
        Self::Common(e.into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use pulser_runtime::testing::FakePlatform;

    #[test]
    fn rest_url_defaults_to_supabase_url() {
        let p = FakePlatform::new(0)
            .with_config("SUPABASE_URL", "https://ref.supabase.co/")
            .with_config("SUPABASE_SERVICE_ROLE_KEY", "k");
        assert_eq!(
            Postgrest::from_platform(&p).unwrap().rest_url(),
            "https://ref.supabase.co/rest/v1"
        );
    }

    #[test]
    fn rest_url_override_wins() {
        let p = FakePlatform::new(0)
            .with_config("SUPABASE_URL", "https://ref.supabase.co")
            .with_config("SUPABASE_REST_URL", "http://127.0.0.1:3000/")
            .with_config("SUPABASE_SERVICE_ROLE_KEY", "k");
        assert_eq!(
            Postgrest::from_platform(&p).unwrap().rest_url(),
            "http://127.0.0.1:3000"
        );
    }

    #[test]
    fn missing_settings_are_named() {
        let p = FakePlatform::new(0).with_config("SUPABASE_SERVICE_ROLE_KEY", "k");
        assert_eq!(
            Postgrest::from_platform(&p).unwrap_err(),
            Refusal::MissingConfig("SUPABASE_URL")
        );
        let p = FakePlatform::new(0).with_config("SUPABASE_URL", "http://x");
        assert_eq!(
            Postgrest::from_platform(&p).unwrap_err(),
            Refusal::MissingConfig("SUPABASE_SERVICE_ROLE_KEY")
        );
    }

    #[test]
    fn key_is_sent_as_apikey_and_bearer_and_never_debug_printed() {
        let db = Postgrest::new("http://db/rest/v1", "sekrit");
        let r = db.select("t", &Query::default()).unwrap();
        assert_eq!(r.headers()["apikey"], "sekrit");
        assert_eq!(r.headers()["authorization"], "Bearer sekrit");
        assert!(r.headers().get("content-type").is_none());
        assert!(!format!("{db:?}").contains("sekrit"));
    }

    #[test]
    fn update_is_a_filtered_patch_returning_rows() {
        let db = Postgrest::new("http://db/rest/v1", "k");
        let mut filter = Query::default();
        filter.push("id", "eq.7").push("status", "eq.queued");
        let r = db
            .update("odoo_action_outbox", &filter, b"{}".to_vec())
            .unwrap();
        assert_eq!(r.method(), http::Method::PATCH);
        assert_eq!(
            r.uri(),
            "http://db/rest/v1/odoo_action_outbox?id=eq.7&status=eq.queued"
        );
        assert_eq!(r.headers()["prefer"], "return=representation");
        assert_eq!(r.headers()["content-type"], "application/json");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        let mut q = Query::default();
        q.push("next_attempt_at", "lte.2026-11-23T10:00:00+00:00")
            .push("order", "id.asc");
        assert_eq!(
            q.finish(),
            "?next_attempt_at=lte.2026-11-23T10%3A00%3A00%2B00%3A00&order=id.asc"
        );
    }

    #[test]
    fn broadcast_body_has_one_message_per_event() {
        let payload = serde_json::json!({"id": 1});
        let r = realtime_broadcast(
            "https://ref.supabase.co",
            "k",
            "audit",
            true,
            &[("insert", &payload)],
        )
        .unwrap();
        assert_eq!(r.uri(), "https://ref.supabase.co/realtime/v1/api/broadcast");
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"messages":[{"topic":"audit","event":"insert","payload":{"id":1},"private":true}]})
        );
    }

    #[test]
    fn succeeded_sorts_transport_failures_and_statuses() {
        use pulser_runtime::OutboundError;
        let resp = |status: u16, body: &str| {
            Ok(http::Response::builder()
                .status(status)
                .body(body.as_bytes().to_vec())
                .unwrap())
        };
        assert_eq!(succeeded(resp(201, "[]")).unwrap().body(), b"[]");
        assert_eq!(
            succeeded(Err(OutboundError::Timeout)).unwrap_err(),
            StoreError::Unavailable("timed out".into())
        );
        assert_eq!(
            succeeded(Err(OutboundError::Connection("refused".into()))).unwrap_err(),
            StoreError::Unavailable("connection failed: refused".into())
        );
        assert_eq!(
            succeeded(resp(502, "")).unwrap_err(),
            StoreError::Unavailable("PostgREST answered 502".into())
        );
        assert_eq!(
            succeeded(resp(429, "")).unwrap_err(),
            StoreError::Unavailable("PostgREST answered 429".into())
        );
        assert_eq!(
            succeeded(resp(400, r#"{"message":"bad column"}"#)).unwrap_err(),
            StoreError::Rejected("bad column".into())
        );
        assert_eq!(
            succeeded(resp(409, r#"{"message":"dup"}"#)).unwrap_err(),
            StoreError::Rejected("dup".into())
        );
    }

    #[test]
    fn a_write_without_an_answer_is_unknown_but_a_refused_destination_stored_nothing() {
        use pulser_runtime::OutboundError;
        assert_eq!(
            written(Err(OutboundError::Timeout)).unwrap_err(),
            StoreError::Unknown("timed out".into())
        );
        assert_eq!(
            written(Err(OutboundError::Connection("reset".into()))).unwrap_err(),
            StoreError::Unknown("connection failed: reset".into())
        );
        assert_eq!(
            written(Err(OutboundError::Unreachable("connection-refused".into()))).unwrap_err(),
            StoreError::Unavailable("unreachable: connection-refused".into())
        );
        assert_eq!(
            written(Err(OutboundError::Forbidden("db".into()))).unwrap_err(),
            StoreError::Unavailable("destination not allowed: db".into())
        );
        let rolled_back = http::Response::builder()
            .status(503)
            .body(Vec::new())
            .unwrap();
        assert_eq!(
            written(Ok(rolled_back)).unwrap_err(),
            StoreError::Unavailable("PostgREST answered 503".into())
        );
        assert_eq!(
            pulser_runtime::pipeline::Refusal::from(StoreError::Unknown("timed out".into())).code(),
            "store_outcome_unknown"
        );
    }

    #[test]
    fn outcomes() {
        let resp = |status: u16, body: &str| {
            http::Response::builder()
                .status(status)
                .body(body.as_bytes().to_vec())
                .unwrap()
        };
        assert_eq!(Outcome::of(&resp(201, "[]")), Outcome::Ok);
        assert_eq!(
            Outcome::of(&resp(409, r#"{"message":"dup"}"#)),
            Outcome::Conflict("dup".into())
        );
        assert_eq!(Outcome::of(&resp(503, "")), Outcome::Unavailable(503));
        assert_eq!(
            Outcome::of(&resp(400, "nope")),
            Outcome::Rejected(400, "PostgREST answered 400".into())
        );
    }
}

//! Odoo's `POST /api/agent/apply`: the signed request for a claimed row, and what its answer
//! means for the row.

use core::fmt;
use core::time::Duration;

use pulser_runtime::pipeline::Refusal;
use pulser_runtime::{OutboundError, Response, reply};
use pulser_signing::{SecretSet, headers};
use serde::Serialize;
use serde_json::Value;

use crate::outbox::Claimed;
use crate::settings::{ODOO_API_TOKEN, ODOO_BASE_URL};

/// Path of the apply endpoint under `ODOO_BASE_URL`.
pub(crate) const APPLY_PATH: &str = "/api/agent/apply";
/// Header carrying `ODOO_API_TOKEN`.
pub(crate) const X_API_KEY: &str = "x-api-key";
/// Header carrying the row's idempotency key (also the body's `idempotency_key` and the
/// Standard Webhooks `webhook-id`).
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest excerpt of an Odoo error body kept (characters).
pub(crate) const MAX_EXCERPT_CHARS: usize = 300;

/// Where and how to call Odoo.
#[derive(Clone)]
pub(crate) struct Odoo {
    apply_url: http::Uri,
    api_key: http::HeaderValue,
    signer: SecretSet,
    timeout: Duration,
}

impl fmt::Debug for Odoo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Odoo")
            .field("apply_url", &self.apply_url)
            .field("api_key", &"[redacted]")
            .field("signer", &self.signer)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Odoo {
    /// Checks the settings once, so building a request later cannot fail.
    ///
    /// # Errors
    /// [`Refusal::InvalidConfig`] naming `ODOO_BASE_URL` (not an absolute http(s) URL) or
    /// `ODOO_API_TOKEN` (not a valid header value).
    pub(crate) fn new(
        base_url: &str,
        api_key: &str,
        signer: SecretSet,
        timeout: Duration,
    ) -> Result<Self, Refusal> {
        let apply_url: http::Uri = format!("{}{APPLY_PATH}", base_url.trim_end_matches('/'))
            .parse()
            .ok()
            .filter(|uri: &http::Uri| {
                matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
            })
            .ok_or_else(|| ODOO_BASE_URL.invalid(&"must be an absolute http(s) URL"))?;
        let mut api_key = http::HeaderValue::from_str(api_key)
            .map_err(|_| ODOO_API_TOKEN.invalid(&"must be printable ASCII"))?;
        api_key.set_sensitive(true);
        Ok(Self {
            apply_url,
            api_key,
            signer,
            timeout,
        })
    }

    /// How long Odoo gets to answer.
    #[must_use]
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `POST {ODOO_BASE_URL}/api/agent/apply` with body
    /// `{"action":..,"args":{..},"correlation_id":..,"idempotency_key":..}` and
    /// `content-type`, `x-api-key`, `x-correlation-id`, `idempotency-key`, and two signatures
    /// of exactly those body bytes with the first secret of `ODOO_SIGNING_SECRET`: `x-signature`
    /// (lower-case hex HMAC-SHA256, the seed's scheme) and Standard Webhooks
    /// (`webhook-id` = the idempotency key, `webhook-timestamp` = `now`, `webhook-signature`),
    /// so an Odoo that checks either scheme works. The key is the row's and never changes, so
    /// an Odoo that remembers applied keys applies each row once however often it is retried.
    ///
    /// # Errors
    /// [`Unbuildable`] when the row's correlation id or key is not a valid header value.
    pub(crate) fn request(
        &self,
        row: &Claimed,
        now: u64,
    ) -> Result<http::Request<Vec<u8>>, Unbuildable> {
        #[derive(Serialize)]
        struct Apply<'a> {
            action: &'a str,
            args: &'a Value,
            correlation_id: &'a str,
            idempotency_key: &'a str,
        }
        let body = serde_json::to_vec(&Apply {
            action: &row.action,
            args: &row.args,
            correlation_id: &row.correlation_id,
            idempotency_key: &row.idempotency_key,
        })
        .map_err(|e| Unbuildable(e.to_string()))?;
        let signer = self.signer.signer();
        let timestamp = i64::try_from(now).unwrap_or(i64::MAX);
        let standard = signer.sign_standard(&row.idempotency_key, timestamp, &body);
        http::Request::post(self.apply_url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(X_API_KEY, self.api_key.clone())
            .header(headers::X_SIGNATURE, signer.sign_hex(&body).as_str())
            .header(headers::WEBHOOK_ID, row.idempotency_key.as_str())
            .header(headers::WEBHOOK_TIMESTAMP, timestamp)
            .header(headers::WEBHOOK_SIGNATURE, standard.as_str())
            .header(IDEMPOTENCY_KEY, row.idempotency_key.as_str())
            .header(reply::CORRELATION_ID, row.correlation_id.as_str())
            .body(body)
            .map_err(|_| {
                Unbuildable(
                    "the row's correlation_id or idempotency_key is not a valid header value"
                        .into(),
                )
            })
    }
}

/// The request for a row could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unbuildable(pub String);

impl fmt::Display for Unbuildable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot build the Odoo request: {}", self.0)
    }
}

impl std::error::Error for Unbuildable {}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Odoo answered 2xx.
    Applied,
    /// Odoo refused this row for good (a 4xx other than 401/403/404/408/425/429, or a 3xx).
    Rejected(String),
    /// Odoo refused the caller, not the row: 401 or 403 (a rotated `ODOO_API_TOKEN` or
    /// secret) or 404 (a wrong `ODOO_BASE_URL`). Every row would fail the same way until an
    /// operator fixes the setting, so rows wait instead of failing.
    Paused(String),
    /// Worth retrying: timeout, connection failure, 5xx, 408, 425, 429.
    Transient(String),
}

impl Delivery {
    /// Classifies the result of sending the request to Odoo with `timeout`.
    #[must_use]
    pub(crate) fn of(result: &Result<Response, OutboundError>, timeout: Duration) -> Self {
        match result {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    return Self::Applied;
                }
                let reason = format!(
                    "odoo answered {}: {}",
                    status.as_u16(),
                    excerpt(response.body())
                );
                if status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429) {
                    Self::Transient(reason)
                } else if status.is_redirection() || matches!(status.as_u16(), 401 | 403 | 404) {
                    // A redirect is never followed (it would carry x-api-key elsewhere): the
                    // URL is wrong, like a 404, and every row would fail the same way.
                    Self::Paused(reason)
                } else {
                    Self::Rejected(reason)
                }
            }
            Err(OutboundError::Timeout) => Self::Transient(format!(
                "odoo did not answer within {} ms",
                timeout.as_millis()
            )),
            Err(other) => Self::Transient(format!("odoo unreachable: {other}")),
        }
    }
}

/// Odoo's `message` (or `error`) when the body is JSON carrying one, else the body as text;
/// at most [`MAX_EXCERPT_CHARS`] characters.
fn excerpt(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("error"))
                .and_then(Value::as_str)
        })
        .map_or_else(|| String::from_utf8_lossy(body).into_owned(), str::to_owned);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    match text.char_indices().nth(MAX_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}...", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn odoo() -> Odoo {
        Odoo::new(
            "https://odoo.test/",
            "odoo-token",
            SecretSet::parse("first-secret-01234,second-secret-0123").unwrap(),
            Duration::from_secs(10),
        )
        .unwrap()
    }

    fn row() -> Claimed {
        Claimed {
            id: 7,
            action: "res.partner.update".into(),
            args: json!({"values": {"name": "Ada"}, "id": 3}),
            attempts: 0,
            correlation_id: "6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11".into(),
            idempotency_key: "0e3b2a4c-5d6e-4f70-8a9b-0c1d2e3f4a5b".into(),
        }
    }

    fn answer(status: u16, body: &str) -> Result<Response, OutboundError> {
        Ok(http::Response::builder()
            .status(status)
            .body(body.as_bytes().to_vec())
            .unwrap())
    }

    #[test]
    fn request_signs_the_exact_body_with_the_first_secret() {
        let request = odoo().request(&row(), 1_795_428_000).unwrap();
        let body = br#"{"action":"res.partner.update","args":{"id":3,"values":{"name":"Ada"}},"correlation_id":"6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11","idempotency_key":"0e3b2a4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"}"#;
        assert_eq!(request.body().as_slice(), body);
        assert_eq!(request.uri(), "https://odoo.test/api/agent/apply");
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.headers()["content-type"], "application/json");
        assert_eq!(request.headers()["x-api-key"], "odoo-token");
        assert_eq!(
            request.headers()["x-correlation-id"],
            "6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11"
        );
        // Independent of the signing crate (Python's hmac): the hex HMAC of the body, and the
        // Standard Webhooks signature of `{id}.{timestamp}.{body}`, both with first-secret-01234.
        assert_eq!(
            request.headers()["x-signature"],
            "0be9f2c5afb0ec47beafb57f94f23e3219323d00f2da9f3fac3df25fac3505aa"
        );
        let key = "0e3b2a4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";
        assert_eq!(request.headers()["idempotency-key"], key);
        assert_eq!(request.headers()["webhook-id"], key);
        assert_eq!(request.headers()["webhook-timestamp"], "1795428000");
        assert_eq!(
            request.headers()["webhook-signature"],
            "v1,iR5jaueLD20HxI/LtmVUBIXTBnuEf2vaxkLbe6xSLYs="
        );
    }

    #[test]
    fn base_url_must_be_absolute_http() {
        let set = || SecretSet::parse("test-secret-012345").unwrap();
        let t = Duration::from_secs(1);
        assert!(Odoo::new("odoo.test", "k", set(), t).is_err());
        assert!(Odoo::new("ftp://odoo.test", "k", set(), t).is_err());
        assert!(Odoo::new("http://odoo.test:8069", "k", set(), t).is_ok());
        let err = Odoo::new("http://odoo.test", "bad\nkey", set(), t).unwrap_err();
        assert_eq!(err.details().name, Some("ODOO_API_TOKEN"));
    }

    #[test]
    fn debug_hides_the_token() {
        assert!(!format!("{:?}", odoo()).contains("odoo-token"));
    }

    #[test]
    fn two_hundreds_are_applied() {
        let t = Duration::from_secs(1);
        assert_eq!(Delivery::of(&answer(200, "{}"), t), Delivery::Applied);
        assert_eq!(Delivery::of(&answer(204, ""), t), Delivery::Applied);
    }

    #[test]
    fn four_hundreds_are_permanent_with_odoos_message() {
        let t = Duration::from_secs(1);
        assert_eq!(
            Delivery::of(
                &answer(
                    422,
                    r#"{"error":"rejected","message":"move 7 is already posted"}"#
                ),
                t
            ),
            Delivery::Rejected("odoo answered 422: move 7 is already posted".into())
        );
        assert_eq!(
            Delivery::of(&answer(400, "bad args"), t),
            Delivery::Rejected("odoo answered 400: bad args".into())
        );
    }

    #[test]
    fn a_refused_caller_or_a_wrong_url_pauses_the_destination() {
        let t = Duration::from_secs(1);
        assert_eq!(
            Delivery::of(&answer(404, "no route"), t),
            Delivery::Paused("odoo answered 404: no route".into())
        );
        assert_eq!(
            Delivery::of(&answer(401, ""), t),
            Delivery::Paused("odoo answered 401: (empty body)".into())
        );
        assert!(matches!(
            Delivery::of(&answer(403, ""), t),
            Delivery::Paused(_)
        ));
    }

    /// A redirect is an answer, never followed: the row waits, like for a wrong URL.
    #[test]
    fn a_redirect_pauses_the_destination() {
        let t = Duration::from_secs(1);
        for status in [301, 302, 303, 307, 308] {
            assert!(
                matches!(Delivery::of(&answer(status, ""), t), Delivery::Paused(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn five_hundreds_and_throttling_are_transient() {
        let t = Duration::from_secs(1);
        for status in [500, 502, 503, 408, 425, 429] {
            assert!(
                matches!(Delivery::of(&answer(status, ""), t), Delivery::Transient(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn timeouts_and_connection_failures_are_transient() {
        let t = Duration::from_millis(2500);
        assert_eq!(
            Delivery::of(&Err(OutboundError::Timeout), t),
            Delivery::Transient("odoo did not answer within 2500 ms".into())
        );
        assert_eq!(
            Delivery::of(&Err(OutboundError::Connection("refused".into())), t),
            Delivery::Transient("odoo unreachable: connection failed: refused".into())
        );
    }

    #[test]
    fn long_bodies_are_cut() {
        let long = "x".repeat(1000);
        let Delivery::Rejected(reason) = Delivery::of(&answer(400, &long), Duration::ZERO) else {
            unreachable!()
        };
        assert_eq!(
            reason.len(),
            "odoo answered 400: ".len() + MAX_EXCERPT_CHARS + 3
        );
    }
}

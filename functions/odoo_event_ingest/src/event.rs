//! The request body: one Odoo event or a batch of them, checked field by field, and the
//! idempotency key each event is stored under.
//!
//! Every event has a key, and a retry of the same event arrives with the same key:
//!
//! - an explicit `event_id` is the key, as given;
//! - else a Standard Webhooks request's events take `webhook:<webhook-id>:<index>`, since a
//!   redelivery repeats the `webhook-id` (with a new timestamp and signature);
//! - else (hex `x-signature`) `sha256:<SHA-256 of the raw body>:<index>`, since a retry
//!   repeats the signed bytes.
//!
//! `index` is the position in a batch (0 for a single event), so byte-identical events of one
//! batch stay apart. The two prefixes are reserved: an explicit `event_id` may not start with
//! either, so it can never take the key a derived one has (or will have).

use core::fmt;

use serde_json::{Map, Value};

use crate::timestamp;

/// Most events accepted in one request.
pub(crate) const MAX_BATCH: usize = 500;
/// Longest `event_type` (characters), as the `audit_event` check constraint allows.
pub(crate) const MAX_EVENT_TYPE_CHARS: usize = 200;
/// Longest `event_id` (characters).
pub(crate) const MAX_EVENT_ID_CHARS: usize = 200;
/// The prefix of keys derived from a Standard Webhooks `webhook-id`.
pub(crate) const WEBHOOK_PREFIX: &str = "webhook:";
/// The prefix of keys derived from the digest of a hex-signed body.
pub(crate) const SHA256_PREFIX: &str = "sha256:";
/// Longest derived key (characters): `sha256:` + 64 hex digits + `:499` fits with room, and
/// a `webhook-id` key stays far below PostgreSQL's limit for a unique index entry.
pub(crate) const MAX_DERIVED_ID_CHARS: usize = 200;
/// The latest `occurred_at` in unix seconds: 9999-12-31T23:59:59Z, the last second every
/// runtime and PostgreSQL agree on.
pub(crate) const MAX_UNIX_SECONDS: u64 = 253_402_300_799;

/// Whether `value` holds a NUL anywhere (a string, or an object key, at any depth):
/// PostgreSQL's text and jsonb cannot store one, so the insert would fail as a 502.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// An event as Odoo sends it; absent and `null` fields are both `None`. Unknown fields are
/// ignored. Taken out of the parsed object by hand rather than with serde's derive, which
/// would link float formatting for its type-mismatch messages (~20 KB of wasm).
struct WireEvent {
    event_type: Option<Value>,
    resource_id: Option<Value>,
    payload: Option<Value>,
    correlation_id: Option<Value>,
    event_id: Option<Value>,
    occurred_at: Option<Value>,
}

impl WireEvent {
    fn from_object(object: Map<String, Value>) -> Self {
        let mut wire = Self {
            event_type: None,
            resource_id: None,
            payload: None,
            correlation_id: None,
            event_id: None,
            occurred_at: None,
        };
        for (name, value) in object {
            let slot = match name.as_str() {
                "event_type" => &mut wire.event_type,
                "resource_id" => &mut wire.resource_id,
                "payload" => &mut wire.payload,
                "correlation_id" => &mut wire.correlation_id,
                "event_id" => &mut wire.event_id,
                "occurred_at" => &mut wire.occurred_at,
                _ => continue,
            };
            *slot = Some(value).filter(|v| !v.is_null());
        }
        wire
    }
}

/// One checked event, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    /// Non-empty, at most [`MAX_EVENT_TYPE_CHARS`] characters.
    pub(crate) event_type: String,
    /// The Odoo record id as text.
    pub(crate) resource_id: String,
    /// The event's JSON object.
    pub(crate) payload: Map<String, Value>,
    /// A lower-case hyphenated UUID: the event's own or the request's.
    pub(crate) correlation_id: String,
    /// The idempotency key: the event's own `event_id`, else one derived from the request
    /// (see the module docs).
    pub(crate) event_id: String,
    /// RFC 3339 text.
    pub(crate) occurred_at: Option<String>,
}

/// Whether the body was one event or an array of them (the response follows the same shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A single JSON object.
    One,
    /// A JSON array.
    Batch,
}

/// What the request carried, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Events {
    /// One event or a batch.
    pub(crate) shape: Shape,
    /// In request order; never empty.
    pub(crate) events: Vec<Event>,
}

/// Request-level facts an event falls back on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Defaults<'a> {
    /// Used for events without `correlation_id` (a UUID).
    pub(crate) correlation_id: &'a str,
    /// What a retry of this request repeats, for events without `event_id`.
    pub(crate) identity: RequestIdentity<'a>,
}

/// What stays the same when a verified request is sent again: the source of the keys of its
/// events that carry no `event_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestIdentity<'a> {
    /// Standard Webhooks: the verified `webhook-id`.
    WebhookId(&'a str),
    /// Hex `x-signature`: the exact bytes that were signed.
    SignedBody(&'a [u8]),
}

impl RequestIdentity<'_> {
    /// The part of a derived key before `:<index>`.
    fn key_prefix(&self) -> String {
        match self {
            Self::WebhookId(id) => format!("{WEBHOOK_PREFIX}{id}"),
            Self::SignedBody(body) => {
                format!(
                    "{SHA256_PREFIX}{}",
                    pulser_signing::sha256_hex(body).as_str()
                )
            }
        }
    }
}

/// The keys of events without `event_id`, hashing the body at most once per request (and
/// not at all when every event has its own id).
struct DerivedKeys<'a> {
    identity: RequestIdentity<'a>,
    prefix: Option<String>,
}

impl<'a> DerivedKeys<'a> {
    fn new(identity: RequestIdentity<'a>) -> Self {
        Self {
            identity,
            prefix: None,
        }
    }

    /// `None` when the key would be longer than an `event_id` may be (a `webhook-id` of
    /// more than about 190 characters): the event then needs an `event_id` of its own.
    fn key(&mut self, index: usize) -> Option<String> {
        let identity = self.identity;
        let prefix = self.prefix.get_or_insert_with(|| identity.key_prefix());
        let key = format!("{prefix}:{index}");
        (key.chars().count() <= MAX_DERIVED_ID_CHARS).then_some(key)
    }
}

/// Why the body was refused. `index` is the position in a batch (`None` for a single event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum InvalidEvents {
    /// The JSON is not an object or an array.
    NotAnObjectOrArray,
    /// An empty array.
    EmptyBatch,
    /// More than [`MAX_BATCH`] events.
    BatchTooLarge {
        /// How many were sent.
        len: usize,
    },
    /// A batch element is not a JSON object.
    NotAnObject {
        /// Its position.
        index: usize,
    },
    /// A required field is absent or null.
    Missing {
        /// The event's position in a batch.
        index: Option<usize>,
        /// The field's name.
        field: &'static str,
    },
    /// A field has the wrong type or value.
    Invalid {
        /// The event's position in a batch.
        index: Option<usize>,
        /// The field's name.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// An explicit `event_id` starts with a prefix reserved for derived keys.
    ReservedEventId {
        /// The event's position in a batch.
        index: Option<usize>,
    },
}

impl InvalidEvents {
    /// The field at fault (`body` for the shape of the whole request).
    #[must_use]
    pub(crate) fn field(&self) -> &'static str {
        match self {
            Self::NotAnObjectOrArray | Self::EmptyBatch | Self::BatchTooLarge { .. } => "body",
            Self::NotAnObject { .. } => "event",
            Self::Missing { field, .. } | Self::Invalid { field, .. } => field,
            Self::ReservedEventId { .. } => "event_id",
        }
    }

    /// The batch position at fault, if any.
    #[must_use]
    pub(crate) fn index(&self) -> Option<usize> {
        match self {
            Self::NotAnObject { index } => Some(*index),
            Self::Missing { index, .. }
            | Self::Invalid { index, .. }
            | Self::ReservedEventId { index } => *index,
            Self::NotAnObjectOrArray | Self::EmptyBatch | Self::BatchTooLarge { .. } => None,
        }
    }
}

impl fmt::Display for InvalidEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(index) = self.index() {
            write!(f, "event {index}: ")?;
        }
        match self {
            Self::NotAnObjectOrArray => {
                f.write_str("body must be an event object or an array of events")
            }
            Self::EmptyBatch => f.write_str("body is an empty array"),
            Self::BatchTooLarge { len } => {
                write!(
                    f,
                    "body holds {len} events; at most {MAX_BATCH} are accepted"
                )
            }
            Self::NotAnObject { .. } => f.write_str("must be a JSON object"),
            Self::Missing { field, .. } => write!(f, "`{field}` is required"),
            Self::Invalid {
                field, expected, ..
            } => write!(f, "`{field}` must be {expected}"),
            Self::ReservedEventId { .. } => write!(
                f,
                "`event_id` must not start with `{WEBHOOK_PREFIX}` or `{SHA256_PREFIX}`: those \
                 prefixes are reserved for the ids derived from `webhook-id` and from the \
                 body's SHA-256 when an event has no `event_id`"
            ),
        }
    }
}

impl std::error::Error for InvalidEvents {}

/// Checks a parsed body: one event object, or an array of 1 to [`MAX_BATCH`] of them, and
/// gives each event its key. Two events of a batch may carry the same `event_id`; which one
/// is stored is the store's decision ([`crate::audit`]).
///
/// # Errors
/// The first problem found, naming the field and (in a batch) the index.
pub(crate) fn parse(body: Value, defaults: Defaults<'_>) -> Result<Events, InvalidEvents> {
    let mut keys = DerivedKeys::new(defaults.identity);
    let correlation_id = defaults.correlation_id;
    match body {
        Value::Object(_) => Ok(Events {
            shape: Shape::One,
            events: vec![event(body, None, correlation_id, &mut keys)?],
        }),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(InvalidEvents::EmptyBatch);
            }
            if items.len() > MAX_BATCH {
                return Err(InvalidEvents::BatchTooLarge { len: items.len() });
            }
            let events = items
                .into_iter()
                .enumerate()
                .map(|(index, item)| event(item, Some(index), correlation_id, &mut keys))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Events {
                shape: Shape::Batch,
                events,
            })
        }
        _ => Err(InvalidEvents::NotAnObjectOrArray),
    }
}

fn event(
    item: Value,
    index: Option<usize>,
    default_correlation_id: &str,
    keys: &mut DerivedKeys<'_>,
) -> Result<Event, InvalidEvents> {
    let Value::Object(object) = item else {
        return Err(InvalidEvents::NotAnObject {
            index: index.unwrap_or_default(),
        });
    };
    let wire = WireEvent::from_object(object);
    let missing = |field| InvalidEvents::Missing { index, field };
    let invalid = |field, expected| InvalidEvents::Invalid {
        index,
        field,
        expected,
    };

    let event_type = match wire.event_type.ok_or_else(|| missing("event_type"))? {
        Value::String(s) if !s.is_empty() && s.chars().count() <= MAX_EVENT_TYPE_CHARS => s,
        _ => {
            return Err(invalid(
                "event_type",
                "a non-empty string of at most 200 characters",
            ));
        }
    };
    let resource_id = id_text(
        wire.resource_id.ok_or_else(|| missing("resource_id"))?,
        usize::MAX,
    )
    .ok_or_else(|| invalid("resource_id", "a non-empty string or an integer"))?;
    let payload = match wire.payload.ok_or_else(|| missing("payload"))? {
        Value::Object(map) => map,
        _ => return Err(invalid("payload", "a JSON object")),
    };
    let no_nul = "free of NUL characters (PostgreSQL cannot store them)";
    if event_type.contains('\0') {
        return Err(invalid("event_type", no_nul));
    }
    if resource_id.contains('\0') {
        return Err(invalid("resource_id", no_nul));
    }
    if payload
        .iter()
        .any(|(k, v)| k.contains('\0') || holds_nul(v))
    {
        return Err(invalid("payload", no_nul));
    }
    let correlation_id = match wire.correlation_id {
        None => default_correlation_id.to_owned(),
        Some(Value::String(s)) if pulser_runtime::reply::is_uuid(&s) => s.to_ascii_lowercase(),
        Some(_) => return Err(invalid("correlation_id", "a UUID")),
    };
    let event_id = match wire.event_id {
        Some(value) => {
            let id = id_text(value, MAX_EVENT_ID_CHARS).ok_or_else(|| {
                invalid(
                    "event_id",
                    "a non-empty string of at most 200 characters or an integer",
                )
            })?;
            if [WEBHOOK_PREFIX, SHA256_PREFIX]
                .iter()
                .any(|prefix| id.starts_with(prefix))
            {
                return Err(InvalidEvents::ReservedEventId { index });
            }
            if id.contains('\0') {
                return Err(invalid("event_id", no_nul));
            }
            id
        }
        None => keys.key(index.unwrap_or(0)).ok_or_else(|| {
            invalid(
                "event_id",
                "sent: the webhook-id is too long to serve as the event's key",
            )
        })?,
    };
    let occurred_at = match wire.occurred_at {
        None => None,
        Some(Value::String(s)) => Some(timestamp::normalize(&s).ok_or_else(|| {
            invalid(
                "occurred_at",
                "an RFC 3339 timestamp (a time without offset is UTC) or unix seconds",
            )
        })?),
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .filter(|secs| *secs <= MAX_UNIX_SECONDS)
                .map(pulser_runtime::time::rfc3339)
                .ok_or_else(|| {
                    invalid(
                        "occurred_at",
                        "an RFC 3339 timestamp (a time without offset is UTC) or unix seconds",
                    )
                })?,
        ),
        Some(_) => {
            return Err(invalid(
                "occurred_at",
                "an RFC 3339 timestamp (a time without offset is UTC) or unix seconds",
            ));
        }
    };
    Ok(Event {
        event_type,
        resource_id,
        payload,
        correlation_id,
        event_id,
        occurred_at,
    })
}

/// A non-empty string of at most `max_chars` characters, or an integer, as text.
fn id_text(value: Value, max_chars: usize) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() && s.chars().count() <= max_chars => Some(s),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use serde_json::json;

    use super::*;

    const CORRELATION: &str = "0b0c0d0e-0f10-4112-9314-15161718191a";
    /// The bytes the tests' hex-signed requests carry, and their SHA-256 (FIPS 180-2, B.1).
    const SIGNED: &[u8] = b"abc";
    const SIGNED_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    /// A hex-signed request of [`SIGNED`].
    fn defaults() -> Defaults<'static> {
        Defaults {
            correlation_id: CORRELATION,
            identity: RequestIdentity::SignedBody(SIGNED),
        }
    }

    /// A Standard Webhooks request with this `webhook-id`.
    fn delivered_as(webhook_id: &'static str) -> Defaults<'static> {
        Defaults {
            identity: RequestIdentity::WebhookId(webhook_id),
            ..defaults()
        }
    }

    fn keys(body: Value, defaults: Defaults<'_>) -> Vec<String> {
        parse(body, defaults)
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.event_id)
            .collect()
    }

    fn one(body: Value) -> Result<Event, InvalidEvents> {
        parse(body, defaults()).map(|e| e.events.into_iter().next().unwrap())
    }

    fn minimal() -> Value {
        json!({"event_type": "sale.order.confirmed", "resource_id": 42, "payload": {"amount": 10}})
    }

    fn with(field: &str, value: Value) -> Value {
        let mut body = minimal();
        body[field] = value;
        body
    }

    fn without(field: &str) -> Value {
        let mut body = minimal();
        body.as_object_mut().unwrap().remove(field);
        body
    }

    #[test]
    fn minimal_event_takes_the_request_defaults() {
        let event = one(minimal()).unwrap();
        assert_eq!(
            event,
            Event {
                event_type: "sale.order.confirmed".into(),
                resource_id: "42".into(),
                payload: json!({"amount": 10}).as_object().unwrap().clone(),
                correlation_id: CORRELATION.into(),
                event_id: format!("sha256:{SIGNED_SHA256}:0"),
                occurred_at: None,
            }
        );
    }

    #[test]
    fn full_event_keeps_its_own_fields() {
        let body = json!({
            "event_type": "invoice.posted",
            "resource_id": "INV/2026/0001",
            "payload": {},
            "correlation_id": "6F1C1F64-0C5B-4D8E-9A57-0A5B7D1D1A11",
            "event_id": "evt-1",
            "occurred_at": "2026-11-23 10:00:00",
            "extra": "ignored"
        });
        let event = one(body).unwrap();
        assert_eq!(event.correlation_id, "6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11");
        assert_eq!(event.event_id, "evt-1");
        assert_eq!(event.occurred_at.as_deref(), Some("2026-11-23T10:00:00Z"));
        assert_eq!(event.resource_id, "INV/2026/0001");
    }

    #[test]
    fn integer_event_id_and_unix_occurred_at() {
        let event = one(with("event_id", json!(77))).unwrap();
        assert_eq!(event.event_id, "77");
        let event = one(with("occurred_at", json!(1_795_428_000))).unwrap();
        assert_eq!(event.occurred_at.as_deref(), Some("2026-11-23T10:00:00Z"));
    }

    #[test]
    fn null_optional_fields_are_absent() {
        let event = one(with("correlation_id", Value::Null)).unwrap();
        assert_eq!(event.correlation_id, CORRELATION);
        assert!(
            one(with("occurred_at", Value::Null))
                .unwrap()
                .occurred_at
                .is_none()
        );
    }

    // ---- the idempotency key ------------------------------------------------------------

    #[test]
    fn a_hex_signed_event_without_event_id_is_keyed_by_the_sha256_of_the_signed_bytes() {
        assert_eq!(
            keys(minimal(), defaults()),
            [format!("sha256:{SIGNED_SHA256}:0")]
        );
    }

    #[test]
    fn a_byte_identical_retry_gets_the_same_keys_and_other_bytes_other_keys() {
        let retry = keys(minimal(), defaults());
        assert_eq!(keys(minimal(), defaults()), retry);
        let other = Defaults {
            identity: RequestIdentity::SignedBody(b"abd"),
            ..defaults()
        };
        assert_ne!(keys(minimal(), other), retry);
    }

    #[test]
    fn identical_events_of_one_batch_are_told_apart_by_their_index() {
        assert_eq!(
            keys(json!([minimal(), minimal()]), defaults()),
            [
                format!("sha256:{SIGNED_SHA256}:0"),
                format!("sha256:{SIGNED_SHA256}:1")
            ]
        );
    }

    #[test]
    fn a_standard_webhooks_event_without_event_id_is_keyed_by_its_webhook_id() {
        assert_eq!(keys(minimal(), delivered_as("msg_1")), ["webhook:msg_1:0"]);
        assert_eq!(
            keys(json!([minimal(), minimal()]), delivered_as("msg_1")),
            ["webhook:msg_1:0", "webhook:msg_1:1"]
        );
    }

    #[test]
    fn an_explicit_event_id_is_the_key_as_given_however_the_request_was_signed() {
        let own = with("event_id", json!("evt-9"));
        assert_eq!(keys(own.clone(), defaults()), ["evt-9"]);
        assert_eq!(keys(own.clone(), delivered_as("msg_1")), ["evt-9"]);
        // Beside an event without one, which keeps its position's derived key.
        assert_eq!(
            keys(json!([own, minimal()]), delivered_as("msg_1")),
            ["evt-9", "webhook:msg_1:1"]
        );
    }

    #[test]
    fn an_event_id_with_a_reserved_prefix_is_refused() {
        for reserved in ["webhook:msg_1:0", &format!("sha256:{SIGNED_SHA256}:0")] {
            let err = one(with("event_id", json!(reserved))).unwrap_err();
            assert_eq!(err, InvalidEvents::ReservedEventId { index: None });
            assert_eq!((err.field(), err.index()), ("event_id", None));
            let message = err.to_string();
            assert!(
                message.contains("`webhook:`") && message.contains("`sha256:`"),
                "{message}"
            );
        }
    }

    #[test]
    fn an_event_id_with_a_reserved_prefix_in_a_batch_names_its_index() {
        let body = json!([minimal(), with("event_id", json!("webhook:x"))]);
        let err = parse(body, defaults()).unwrap_err();
        assert_eq!(err, InvalidEvents::ReservedEventId { index: Some(1) });
        assert!(err.to_string().starts_with("event 1: "), "{err}");
    }

    #[test]
    fn a_prefix_is_reserved_only_at_the_start_and_with_its_colon() {
        for id in ["move-webhook:1", "webhook", "sha256", "sha256-abc"] {
            assert_eq!(keys(with("event_id", json!(id)), defaults()), [id]);
        }
    }

    #[test]
    fn the_same_event_id_twice_in_a_batch_is_accepted_for_the_store_to_settle() {
        let same = with("event_id", json!("same"));
        assert_eq!(
            keys(json!([same, minimal(), same]), defaults()),
            ["same", &format!("sha256:{SIGNED_SHA256}:1"), "same"]
        );
    }

    /// Values PostgreSQL would refuse are the sender's mistake (422), never a 502 or a 503
    /// the sender retries forever.
    #[test]
    fn a_nul_anywhere_postgresql_would_store_it_is_refused_naming_the_field() {
        for (field, value) in [
            ("event_type", json!("a\0b")),
            ("resource_id", json!("r\0")),
            ("event_id", json!("e\0")),
            ("payload", json!({"deep": [{"x": "\0"}]})),
            ("payload", json!({"key\0": 1})),
        ] {
            assert_eq!(
                one(with(field, value.clone())).unwrap_err().field(),
                field,
                "{value}"
            );
        }
    }

    #[test]
    fn an_occurred_at_postgresql_cannot_hold_is_refused() {
        assert_eq!(
            one(with("occurred_at", json!(253_402_300_800u64)))
                .unwrap_err()
                .field(),
            "occurred_at"
        );
        assert!(one(with("occurred_at", json!(253_402_300_799u64))).is_ok());
        assert_eq!(
            one(with("occurred_at", json!("2026-11-23T10:00:00+16:00")))
                .unwrap_err()
                .field(),
            "occurred_at"
        );
        assert!(one(with("occurred_at", json!("2026-11-23T10:00:00-15:59"))).is_ok());
    }

    #[test]
    fn a_webhook_id_too_long_to_key_the_event_needs_an_event_id() {
        let long: &'static str = Box::leak("m".repeat(200).into_boxed_str());
        let err = parse(minimal(), delivered_as(long)).unwrap_err();
        assert_eq!(err.field(), "event_id");
        let own = with("event_id", json!("odoo-1"));
        assert!(parse(own, delivered_as(long)).is_ok());
        let fits: &'static str = Box::leak("m".repeat(180).into_boxed_str());
        assert!(parse(minimal(), delivered_as(fits)).is_ok());
    }

    #[test]
    fn batch_of_max_size_is_accepted() {
        let body = Value::Array(vec![minimal(); MAX_BATCH]);
        assert_eq!(parse(body, defaults()).unwrap().events.len(), MAX_BATCH);
    }

    #[test]
    fn body_that_is_a_string_is_refused() {
        let err = parse(json!("event"), defaults()).unwrap_err();
        assert_eq!(err, InvalidEvents::NotAnObjectOrArray);
        assert_eq!((err.field(), err.index()), ("body", None));
    }

    #[test]
    fn empty_batch_is_refused() {
        assert_eq!(
            parse(json!([]), defaults()).unwrap_err(),
            InvalidEvents::EmptyBatch
        );
    }

    #[test]
    fn batch_over_the_limit_is_refused() {
        let body = Value::Array(vec![minimal(); MAX_BATCH + 1]);
        assert_eq!(
            parse(body, defaults()).unwrap_err(),
            InvalidEvents::BatchTooLarge { len: 501 }
        );
    }

    #[test]
    fn batch_element_that_is_not_an_object_names_its_index() {
        let err = parse(json!([minimal(), 5]), defaults()).unwrap_err();
        assert_eq!(err, InvalidEvents::NotAnObject { index: 1 });
        assert_eq!(err.to_string(), "event 1: must be a JSON object");
    }

    #[test]
    fn invalid_field_in_a_batch_names_field_and_index() {
        let err = parse(
            json!([minimal(), minimal(), without("payload")]),
            defaults(),
        )
        .unwrap_err();
        assert_eq!((err.field(), err.index()), ("payload", Some(2)));
        assert_eq!(err.to_string(), "event 2: `payload` is required");
    }

    #[test]
    fn missing_event_type() {
        let err = one(without("event_type")).unwrap_err();
        assert_eq!(
            err,
            InvalidEvents::Missing {
                index: None,
                field: "event_type"
            }
        );
        assert_eq!(err.to_string(), "`event_type` is required");
    }

    #[test]
    fn empty_event_type() {
        assert_eq!(
            one(with("event_type", json!(""))).unwrap_err().field(),
            "event_type"
        );
    }

    #[test]
    fn event_type_over_200_characters() {
        assert!(one(with("event_type", json!("é".repeat(200)))).is_ok());
        let err = one(with("event_type", json!("é".repeat(201)))).unwrap_err();
        assert_eq!(err.field(), "event_type");
    }

    #[test]
    fn event_type_that_is_not_a_string() {
        assert_eq!(
            one(with("event_type", json!(5))).unwrap_err().field(),
            "event_type"
        );
    }

    #[test]
    fn missing_resource_id() {
        assert_eq!(
            one(without("resource_id")).unwrap_err().field(),
            "resource_id"
        );
    }

    #[test]
    fn resource_id_that_is_a_float() {
        assert_eq!(
            one(with("resource_id", json!(1.5))).unwrap_err().field(),
            "resource_id"
        );
    }

    #[test]
    fn resource_id_that_is_an_object() {
        assert_eq!(
            one(with("resource_id", json!({"id": 1})))
                .unwrap_err()
                .field(),
            "resource_id"
        );
    }

    #[test]
    fn empty_resource_id() {
        assert_eq!(
            one(with("resource_id", json!(""))).unwrap_err().field(),
            "resource_id"
        );
    }

    #[test]
    fn missing_payload() {
        assert_eq!(one(without("payload")).unwrap_err().field(), "payload");
    }

    #[test]
    fn payload_that_is_an_array() {
        let err = one(with("payload", json!([1]))).unwrap_err();
        assert_eq!(err.to_string(), "`payload` must be a JSON object");
    }

    #[test]
    fn correlation_id_that_is_not_a_uuid() {
        let err = one(with("correlation_id", json!("abc"))).unwrap_err();
        assert_eq!(err.field(), "correlation_id");
        assert_eq!(err.to_string(), "`correlation_id` must be a UUID");
    }

    #[test]
    fn event_id_that_is_empty() {
        assert_eq!(
            one(with("event_id", json!(""))).unwrap_err().field(),
            "event_id"
        );
    }

    #[test]
    fn event_id_over_200_characters() {
        assert_eq!(
            one(with("event_id", json!("x".repeat(201))))
                .unwrap_err()
                .field(),
            "event_id"
        );
    }

    #[test]
    fn occurred_at_that_is_not_a_timestamp() {
        assert_eq!(
            one(with("occurred_at", json!("yesterday")))
                .unwrap_err()
                .field(),
            "occurred_at"
        );
    }

    #[test]
    fn occurred_at_that_is_negative() {
        assert_eq!(
            one(with("occurred_at", json!(-1))).unwrap_err().field(),
            "occurred_at"
        );
    }

    #[test]
    fn occurred_at_that_is_a_bool() {
        assert_eq!(
            one(with("occurred_at", json!(true))).unwrap_err().field(),
            "occurred_at"
        );
    }
}

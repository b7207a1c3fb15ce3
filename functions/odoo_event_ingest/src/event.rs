//! The request body: one Odoo event or a batch of them, checked field by field.

use core::fmt;

use serde_json::{Map, Value};

use crate::timestamp;

/// Most events accepted in one request.
pub(crate) const MAX_BATCH: usize = 500;
/// Longest `event_type` (characters), as the `audit_event` check constraint allows.
pub(crate) const MAX_EVENT_TYPE_CHARS: usize = 200;
/// Longest `event_id` (characters).
pub(crate) const MAX_EVENT_ID_CHARS: usize = 200;

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
    /// The idempotency key: the event's own `event_id`, else one derived from `webhook-id`.
    pub(crate) event_id: Option<String>,
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
    /// The verified Standard Webhooks `webhook-id`, used for events without `event_id`
    /// (`{id}` for one event, `{id}:{index}` inside a batch).
    pub(crate) webhook_id: Option<&'a str>,
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
    /// Two events of one batch carry the same `event_id`.
    DuplicateEventId {
        /// The later position.
        index: usize,
        /// The earlier position with the same id.
        first: usize,
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
            Self::DuplicateEventId { .. } => "event_id",
        }
    }

    /// The batch position at fault, if any.
    #[must_use]
    pub(crate) fn index(&self) -> Option<usize> {
        match self {
            Self::NotAnObject { index } | Self::DuplicateEventId { index, .. } => Some(*index),
            Self::Missing { index, .. } | Self::Invalid { index, .. } => *index,
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
            Self::DuplicateEventId { first, .. } => {
                write!(f, "`event_id` repeats the one of event {first}")
            }
        }
    }
}

impl std::error::Error for InvalidEvents {}

/// Checks a parsed body: one event object, or an array of 1 to [`MAX_BATCH`] of them.
///
/// # Errors
/// The first problem found, naming the field and (in a batch) the index.
pub(crate) fn parse(body: Value, defaults: Defaults<'_>) -> Result<Events, InvalidEvents> {
    match body {
        Value::Object(_) => Ok(Events {
            shape: Shape::One,
            events: vec![event(body, None, defaults)?],
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
                .map(|(index, item)| event(item, Some(index), defaults))
                .collect::<Result<Vec<_>, _>>()?;
            reject_repeated_ids(&events)?;
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
    defaults: Defaults<'_>,
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
    let correlation_id = match wire.correlation_id {
        None => defaults.correlation_id.to_owned(),
        Some(Value::String(s)) if pulser_runtime::reply::is_uuid(&s) => s.to_ascii_lowercase(),
        Some(_) => return Err(invalid("correlation_id", "a UUID")),
    };
    let event_id = match wire.event_id {
        Some(value) => Some(id_text(value, MAX_EVENT_ID_CHARS).ok_or_else(|| {
            invalid(
                "event_id",
                "a non-empty string of at most 200 characters or an integer",
            )
        })?),
        None => defaults.webhook_id.map(|id| match index {
            None => id.to_owned(),
            Some(i) => format!("{id}:{i}"),
        }),
    };
    let occurred_at = match wire.occurred_at {
        None => None,
        Some(Value::String(s)) => Some(timestamp::normalize(&s).ok_or_else(|| {
            invalid(
                "occurred_at",
                "an RFC 3339 timestamp (a time without offset is UTC) or unix seconds",
            )
        })?),
        Some(Value::Number(n)) => Some(n.as_u64().map(pulser_runtime::time::rfc3339).ok_or_else(
            || {
                invalid(
                    "occurred_at",
                    "an RFC 3339 timestamp (a time without offset is UTC) or unix seconds",
                )
            },
        )?),
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

fn reject_repeated_ids(events: &[Event]) -> Result<(), InvalidEvents> {
    // A batch is at most 500 events, so comparing each id with the earlier ones is cheap and
    // links no sorting or hashing code into the component.
    for (index, event) in events.iter().enumerate() {
        let Some(id) = event.event_id.as_deref() else {
            continue;
        };
        let earlier = events.iter().take(index);
        if let Some(first) = earlier
            .enumerate()
            .find_map(|(i, e)| (e.event_id.as_deref() == Some(id)).then_some(i))
        {
            return Err(InvalidEvents::DuplicateEventId { index, first });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use serde_json::json;

    use super::*;

    const CORRELATION: &str = "0b0c0d0e-0f10-4112-9314-15161718191a";

    fn defaults() -> Defaults<'static> {
        Defaults {
            correlation_id: CORRELATION,
            webhook_id: None,
        }
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
                event_id: None,
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
        assert_eq!(event.event_id.as_deref(), Some("evt-1"));
        assert_eq!(event.occurred_at.as_deref(), Some("2026-11-23T10:00:00Z"));
        assert_eq!(event.resource_id, "INV/2026/0001");
    }

    #[test]
    fn integer_event_id_and_unix_occurred_at() {
        let event = one(with("event_id", json!(77))).unwrap();
        assert_eq!(event.event_id.as_deref(), Some("77"));
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

    #[test]
    fn webhook_id_is_the_key_of_a_single_event_without_event_id() {
        let d = Defaults {
            webhook_id: Some("msg_1"),
            ..defaults()
        };
        let events = parse(minimal(), d).unwrap();
        assert_eq!(events.events[0].event_id.as_deref(), Some("msg_1"));
        let own = parse(with("event_id", json!("evt-9")), d).unwrap();
        assert_eq!(own.events[0].event_id.as_deref(), Some("evt-9"));
    }

    #[test]
    fn webhook_id_gets_the_index_inside_a_batch() {
        let d = Defaults {
            webhook_id: Some("msg_1"),
            ..defaults()
        };
        let events = parse(json!([minimal(), minimal()]), d).unwrap();
        assert_eq!(events.shape, Shape::Batch);
        let ids: Vec<_> = events.events.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(ids, [Some("msg_1:0".into()), Some("msg_1:1".into())]);
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
    fn repeated_event_id_in_a_batch_is_refused() {
        let a = with("event_id", json!("same"));
        let err = parse(json!([a, minimal(), a]), defaults()).unwrap_err();
        assert_eq!(err, InvalidEvents::DuplicateEventId { index: 2, first: 0 });
        assert_eq!(err.field(), "event_id");
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

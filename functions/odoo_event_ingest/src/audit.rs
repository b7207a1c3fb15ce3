//! The `audit_event` table: the one PostgREST insert for a batch, and what its answer says
//! about each event (stored with an id, or a repeat that wrote nothing).

use serde::Serialize;
use serde_json::{Map, Value};

use pulser_supabase::{Insert, InvalidRequest, Postgrest};

use crate::event::Event;

/// The table events go to.
pub(crate) const TABLE: &str = "audit_event";
/// The unique key that makes a repeat write nothing.
pub(crate) const UNIQUE_KEY: &str = "source,event_id";
/// Columns read back from the insert.
pub(crate) const RETURNING: &str = "id,event_id";
/// `audit_event.source` for everything this function stores.
pub(crate) const SOURCE: &str = "odoo";

/// One row as inserted. Every row names every column, as PostgREST takes the columns of a
/// bulk insert from its first object.
#[derive(Serialize)]
struct Row<'a> {
    source: &'static str,
    event_type: &'a str,
    resource_id: &'a str,
    payload: &'a Map<String, Value>,
    correlation_id: &'a str,
    event_id: Option<&'a str>,
    occurred_at: Option<&'a str>,
}

/// One row of the returned representation.
#[derive(Debug)]
struct Returned {
    id: i64,
    event_id: Option<String>,
}

impl Returned {
    /// `[{"id": 1, "event_id": "e" | null}, ...]`, read from the parsed JSON by hand (see
    /// `event::WireEvent` for why not serde's derive).
    fn rows(body: &[u8]) -> Option<Vec<Self>> {
        let Ok(Value::Array(items)) = serde_json::from_slice(body) else {
            return None;
        };
        items
            .iter()
            .map(|item| {
                Some(Self {
                    id: item.get("id")?.as_i64()?,
                    event_id: match item.get("event_id")? {
                        Value::Null => None,
                        Value::String(id) => Some(id.clone()),
                        _ => return None,
                    },
                })
            })
            .collect()
    }
}

/// `POST /audit_event?on_conflict=source,event_id&select=id,event_id` with
/// `resolution=ignore-duplicates`: every event in one request; repeats are skipped.
///
/// # Errors
/// [`InvalidRequest`] when the REST URL makes no valid URI.
pub(crate) fn insert(
    db: &Postgrest,
    events: &[Event],
) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
    let rows: Vec<Row<'_>> = events
        .iter()
        .map(|e| Row {
            source: SOURCE,
            event_type: &e.event_type,
            resource_id: &e.resource_id,
            payload: &e.payload,
            correlation_id: &e.correlation_id,
            event_id: e.event_id.as_deref(),
            occurred_at: e.occurred_at.as_deref(),
        })
        .collect();
    let body = serde_json::to_vec(&rows).map_err(|e| InvalidRequest(e.to_string()))?;
    db.insert(
        TABLE,
        body,
        &Insert::ignore_duplicates(UNIQUE_KEY).returning(RETURNING),
    )
}

/// What became of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// A new row with this id.
    New(i64),
    /// Its `event_id` was stored before; nothing was written.
    Duplicate,
}

/// The representation did not account for the events sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnexpectedRepresentation(pub &'static str);

impl core::fmt::Display for UnexpectedRepresentation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "unexpected PostgREST representation: {}", self.0)
    }
}

impl std::error::Error for UnexpectedRepresentation {}

/// Matches the returned rows to `events`, in order: an event with an `event_id` is new when
/// a row carries that id and a duplicate otherwise; events without one can never collide,
/// so they take the id-less rows in insertion order.
///
/// # Errors
/// When the body is not the expected array, or an event without `event_id` has no row.
pub(crate) fn outcomes(
    events: &[Event],
    body: &[u8],
) -> Result<Vec<Stored>, UnexpectedRepresentation> {
    let rows =
        Returned::rows(body).ok_or(UnexpectedRepresentation("not an array of {id, event_id}"))?;
    let mut without_key = rows.iter().filter(|r| r.event_id.is_none());
    events
        .iter()
        .map(|event| match &event.event_id {
            Some(key) => Ok(rows
                .iter()
                .find(|r| r.event_id.as_ref() == Some(key))
                .map_or(Stored::Duplicate, |r| Stored::New(r.id))),
            None => without_key
                .next()
                .map(|r| Stored::New(r.id))
                .ok_or(UnexpectedRepresentation("a stored event is missing")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn event(event_id: Option<&str>) -> Event {
        Event {
            event_type: "t".into(),
            resource_id: "1".into(),
            payload: Map::new(),
            correlation_id: "0b0c0d0e-0f10-4112-9314-15161718191a".into(),
            event_id: event_id.map(str::to_owned),
            occurred_at: None,
        }
    }

    #[test]
    fn insert_is_one_idempotent_bulk_request() {
        let db = Postgrest::new("http://db.test/rest/v1", "service-key");
        let mut with_all = event(Some("e-1"));
        with_all.occurred_at = Some("2026-11-23T10:00:00Z".into());
        with_all.payload = json!({"b": 1, "a": [true]}).as_object().unwrap().clone();
        let request = insert(&db, &[with_all, event(None)]).unwrap();
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(
            request.uri(),
            "http://db.test/rest/v1/audit_event?on_conflict=source%2Cevent_id&select=id%2Cevent_id"
        );
        assert_eq!(
            request.headers()["prefer"],
            "resolution=ignore-duplicates,return=representation"
        );
        assert_eq!(request.headers()["apikey"], "service-key");
        assert_eq!(request.headers()["authorization"], "Bearer service-key");
        assert_eq!(
            String::from_utf8(request.body().clone()).unwrap(),
            concat!(
                r#"[{"source":"odoo","event_type":"t","resource_id":"1","payload":{"a":[true],"b":1},"#,
                r#""correlation_id":"0b0c0d0e-0f10-4112-9314-15161718191a","event_id":"e-1","occurred_at":"2026-11-23T10:00:00Z"},"#,
                r#"{"source":"odoo","event_type":"t","resource_id":"1","payload":{},"#,
                r#""correlation_id":"0b0c0d0e-0f10-4112-9314-15161718191a","event_id":null,"occurred_at":null}]"#
            )
        );
    }

    #[test]
    fn rows_are_matched_by_event_id_and_order() {
        let events = [event(Some("a")), event(None), event(Some("b")), event(None)];
        let body =
            br#"[{"id":10,"event_id":"a"},{"id":11,"event_id":null},{"id":12,"event_id":null}]"#;
        assert_eq!(
            outcomes(&events, body).unwrap(),
            [
                Stored::New(10),
                Stored::New(11),
                Stored::Duplicate,
                Stored::New(12)
            ]
        );
    }

    #[test]
    fn empty_representation_means_every_keyed_event_was_a_repeat() {
        assert_eq!(
            outcomes(&[event(Some("a"))], b"[]").unwrap(),
            [Stored::Duplicate]
        );
    }

    #[test]
    fn unkeyed_event_without_a_row_is_unexpected() {
        assert!(outcomes(&[event(None)], b"[]").is_err());
    }

    #[test]
    fn non_array_representation_is_unexpected() {
        assert!(outcomes(&[event(None)], br#"{"id":1}"#).is_err());
    }
}

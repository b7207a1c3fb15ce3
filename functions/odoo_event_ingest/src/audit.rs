//! The `audit_event` table: the one PostgREST insert for a batch, and what its answer says
//! about each event (stored with an id, or a repeat that wrote nothing).
//!
//! Every event has a key ([`crate::event`]), and `(source, event_id)` is unique, so an event
//! is stored once however often it arrives. Within one batch the first event with a key is
//! the one stored and any later one with that key is a repeat: only first occurrences are
//! sent, so which one wins never depends on the order the database applies rows in.

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
    event_id: &'a str,
    occurred_at: Option<&'a str>,
}

/// One row of the returned representation.
#[derive(Debug)]
struct Returned {
    id: i64,
    event_id: String,
}

impl Returned {
    /// `[{"id": 1, "event_id": "e"}, ...]`, read from the parsed JSON by hand (see
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
                    event_id: item.get("event_id")?.as_str()?.to_owned(),
                })
            })
            .collect()
    }
}

/// Whether each event is the first of `events` with its key.
fn first_of_their_key(events: &[Event]) -> Vec<bool> {
    // A batch is at most 500 events, so comparing each key with the earlier ones is cheap and
    // links no sorting or hashing code into the component.
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            !events
                .iter()
                .take(index)
                .any(|earlier| earlier.event_id == event.event_id)
        })
        .collect()
}

/// `POST /audit_event?on_conflict=source,event_id&select=id,event_id` with
/// `resolution=ignore-duplicates` (`ON CONFLICT DO NOTHING`): the first event of each key in
/// one request; keys stored before are skipped.
///
/// # Errors
/// [`InvalidRequest`] when the REST URL makes no valid URI.
pub(crate) fn insert(
    db: &Postgrest,
    events: &[Event],
) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
    let rows: Vec<Row<'_>> = events
        .iter()
        .zip(first_of_their_key(events))
        .filter_map(|(e, first)| first.then_some(e))
        .map(|e| Row {
            source: SOURCE,
            event_type: &e.event_type,
            resource_id: &e.resource_id,
            payload: &e.payload,
            correlation_id: &e.correlation_id,
            event_id: &e.event_id,
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
    /// Its key was stored before, or by an earlier event of the same batch; nothing was
    /// written for it.
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

/// Matches the returned rows to `events` (the ones [`insert`] was given), in order: the first
/// event of a key is new when a returned row carries that key, and a duplicate otherwise (the
/// row existed, so `ON CONFLICT DO NOTHING` returned nothing for it); a later event of the
/// same key is a duplicate.
///
/// # Errors
/// When the body is not an array of `{id, event_id}` with a string `event_id`.
pub(crate) fn outcomes(
    events: &[Event],
    body: &[u8],
) -> Result<Vec<Stored>, UnexpectedRepresentation> {
    let rows =
        Returned::rows(body).ok_or(UnexpectedRepresentation("not an array of {id, event_id}"))?;
    Ok(events
        .iter()
        .zip(first_of_their_key(events))
        .map(|(event, first)| {
            rows.iter()
                .find(|r| first && r.event_id == event.event_id)
                .map_or(Stored::Duplicate, |r| Stored::New(r.id))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn event(event_id: &str) -> Event {
        Event {
            event_type: "t".into(),
            resource_id: "1".into(),
            payload: Map::new(),
            correlation_id: "0b0c0d0e-0f10-4112-9314-15161718191a".into(),
            event_id: event_id.to_owned(),
            occurred_at: None,
        }
    }

    #[test]
    fn insert_is_one_idempotent_bulk_request() {
        let db = Postgrest::new("http://db.test/rest/v1", "service-key");
        let mut with_all = event("e-1");
        with_all.occurred_at = Some("2026-11-23T10:00:00Z".into());
        with_all.payload = json!({"b": 1, "a": [true]}).as_object().unwrap().clone();
        let request = insert(&db, &[with_all, event("e-2")]).unwrap();
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
                r#""correlation_id":"0b0c0d0e-0f10-4112-9314-15161718191a","event_id":"e-2","occurred_at":null}]"#
            )
        );
    }

    #[test]
    fn a_key_repeated_within_a_batch_is_sent_once_the_first_event_of_it() {
        let db = Postgrest::new("http://db.test/rest/v1", "k");
        let mut later = event("same");
        later.resource_id = "later".into();
        let request = insert(&db, &[event("same"), event("other"), later]).unwrap();
        let rows: Value = serde_json::from_slice(request.body()).unwrap();
        let sent: Vec<(&str, &str)> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["event_id"].as_str().unwrap(),
                    r["resource_id"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(sent, [("same", "1"), ("other", "1")]);
    }

    #[test]
    fn a_returned_row_makes_its_event_new_and_a_missing_one_a_repeat() {
        let events = [event("a"), event("old"), event("b")];
        let body = br#"[{"id":10,"event_id":"a"},{"id":12,"event_id":"b"}]"#;
        assert_eq!(
            outcomes(&events, body).unwrap(),
            [Stored::New(10), Stored::Duplicate, Stored::New(12)]
        );
    }

    #[test]
    fn rows_are_matched_by_key_not_by_position() {
        let events = [event("a"), event("b")];
        let body = br#"[{"id":12,"event_id":"b"},{"id":10,"event_id":"a"}]"#;
        assert_eq!(
            outcomes(&events, body).unwrap(),
            [Stored::New(10), Stored::New(12)]
        );
    }

    #[test]
    fn the_later_event_of_a_key_repeated_within_a_batch_is_a_repeat() {
        let events = [event("same"), event("other"), event("same")];
        let body = br#"[{"id":10,"event_id":"same"},{"id":11,"event_id":"other"}]"#;
        assert_eq!(
            outcomes(&events, body).unwrap(),
            [Stored::New(10), Stored::New(11), Stored::Duplicate]
        );
    }

    #[test]
    fn empty_representation_means_every_event_was_a_repeat() {
        assert_eq!(
            outcomes(&[event("a"), event("a")], b"[]").unwrap(),
            [Stored::Duplicate, Stored::Duplicate]
        );
    }

    #[test]
    fn a_row_without_a_key_is_unexpected() {
        assert!(outcomes(&[event("a")], br#"[{"id":1,"event_id":null}]"#).is_err());
    }

    #[test]
    fn non_array_representation_is_unexpected() {
        assert!(outcomes(&[event("a")], br#"{"id":1}"#).is_err());
    }
}

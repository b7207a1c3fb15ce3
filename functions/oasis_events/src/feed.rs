//! The live feed as Server-Sent Events, for a browser's `EventSource`.
//!
//! A serverless response cannot stay open for ever, so each answer carries what is new
//! and ends; `retry:` tells `EventSource` to reconnect after [`RETRY_MS`], which it does
//! with `Last-Event-ID` set to the last `id:` it saw, and the next answer starts after it.
//! So every event reaches a client once, oldest first. When nothing is new the function
//! waits up to `OASIS_FEED_WAIT_MS`, asking again every [`POLL`], before it answers with a
//! comment alone.

use core::time::Duration;

use serde_json::Value;

use crate::error::OasisError;

/// What `retry:` asks of the client between answers, ms.
pub const RETRY_MS: u64 = 2_000;
/// How often a waiting feed asks PostgREST again.
pub const POLL: Duration = Duration::from_millis(500);
/// The header an `EventSource` resumes with.
pub const LAST_EVENT_ID: &str = "last-event-id";
/// The media type of the answer.
pub const EVENT_STREAM: &str = "text/event-stream";

/// The id the client resumes after: `Last-Event-ID`, when it sent one.
///
/// # Errors
/// [`OasisError::InvalidLastEventId`] when it is not an id of this feed.
pub(crate) fn last_event_id(headers: &http::HeaderMap) -> Result<Option<u64>, OasisError> {
    let Some(value) = headers.get(LAST_EVENT_ID) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| OasisError::InvalidLastEventId)?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    crate::query::event_id(text)
        .map(Some)
        .ok_or(OasisError::InvalidLastEventId)
}

/// The answer's body: `retry:`, then each row (oldest first) as an event whose `id:` is its
/// id and whose `data:` is the row as one line of JSON; or a comment when there are none.
#[must_use]
pub(crate) fn body(rows: &[Value]) -> Vec<u8> {
    let mut out = format!("retry: {RETRY_MS}\n\n");
    if rows.is_empty() {
        out.push_str(": nothing new\n\n");
    }
    for row in rows {
        let id = row.get("id").and_then(Value::as_u64).unwrap_or_default();
        // serde_json writes no raw newline, so the row is one `data:` line.
        out.push_str(&format!("id: {id}\ndata: {row}\n\n"));
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn each_row_is_one_event_with_its_id_and_the_answer_says_when_to_reconnect() {
        let rows = [
            json!({"id": 7, "title": "a\nb"}),
            json!({"id": 9, "title": "c"}),
        ];
        assert_eq!(
            String::from_utf8(body(&rows)).unwrap(),
            "retry: 2000\n\nid: 7\ndata: {\"id\":7,\"title\":\"a\\nb\"}\n\nid: 9\ndata: {\"id\":9,\"title\":\"c\"}\n\n"
        );
        assert_eq!(
            String::from_utf8(body(&[])).unwrap(),
            "retry: 2000\n\n: nothing new\n\n"
        );
    }

    #[test]
    fn last_event_id_is_an_id_or_absent() {
        let with = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(LAST_EVENT_ID, value.parse().unwrap());
            last_event_id(&headers)
        };
        assert_eq!(last_event_id(&http::HeaderMap::new()), Ok(None));
        assert_eq!(with(" 41 "), Ok(Some(41)));
        assert_eq!(with(""), Ok(None));
        assert_eq!(with("abc"), Err(OasisError::InvalidLastEventId));
    }
}

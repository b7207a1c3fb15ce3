//! Supabase Realtime: one REST broadcast announcing the events just stored.

use serde_json::{Value, json};

use pulser_supabase::InvalidRequest;

use crate::event::Event;
use crate::settings::Broadcast;

/// `POST {SUPABASE_URL}/realtime/v1/api/broadcast` with one message per stored event on
/// `channel`. The message's `event` is the Odoo `event_type`, so subscribers can filter on
/// it; its payload is the stored row on a private channel, or only `{id, event_type,
/// correlation_id}` on a public one: the table is locked down, and a public topic is open to
/// anyone with the anon key.
///
/// # Errors
/// [`InvalidRequest`] when `SUPABASE_URL` makes no valid URI.
pub(crate) fn request(
    supabase_url: &str,
    service_role_key: &str,
    channel: &str,
    mode: Broadcast,
    stored: &[(&Event, i64)],
) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
    let payloads: Vec<Value> = stored
        .iter()
        .map(|(event, id)| match mode {
            Broadcast::PublicIds => json!({
                "id": id,
                "event_type": event.event_type,
                "correlation_id": event.correlation_id,
            }),
            Broadcast::PrivateRows => json!({
                "id": id,
                "source": crate::audit::SOURCE,
                "event_type": event.event_type,
                "resource_id": event.resource_id,
                "payload": event.payload,
                "correlation_id": event.correlation_id,
                "event_id": event.event_id,
                "occurred_at": event.occurred_at,
            }),
        })
        .collect();
    let messages: Vec<(&str, &Value)> = stored
        .iter()
        .zip(&payloads)
        .map(|((event, _), payload)| (event.event_type.as_str(), payload))
        .collect();
    let private = mode == Broadcast::PrivateRows;
    pulser_supabase::realtime_broadcast(supabase_url, service_role_key, channel, private, &messages)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::Map;

    use super::*;

    #[test]
    fn one_message_per_stored_event() {
        let event = Event {
            event_type: "invoice.posted".into(),
            resource_id: "7".into(),
            payload: Map::new(),
            correlation_id: "0b0c0d0e-0f10-4112-9314-15161718191a".into(),
            event_id: "e".into(),
            occurred_at: None,
        };
        let private = request(
            "https://ref.supabase.co",
            "key",
            "odoo",
            Broadcast::PrivateRows,
            &[(&event, 3)],
        )
        .unwrap();
        assert_eq!(
            private.uri(),
            "https://ref.supabase.co/realtime/v1/api/broadcast"
        );
        assert_eq!(private.headers()["authorization"], "Bearer key");
        let body: Value = serde_json::from_slice(private.body()).unwrap();
        assert_eq!(
            body,
            json!({"messages": [{"topic": "odoo", "event": "invoice.posted", "payload": {
                "id": 3, "source": "odoo", "event_type": "invoice.posted", "resource_id": "7",
                "payload": {}, "correlation_id": "0b0c0d0e-0f10-4112-9314-15161718191a",
                "event_id": "e", "occurred_at": null
            }, "private": true}]})
        );
        let public = request(
            "https://ref.supabase.co",
            "key",
            "odoo",
            Broadcast::PublicIds,
            &[(&event, 3)],
        )
        .unwrap();
        let body: Value = serde_json::from_slice(public.body()).unwrap();
        assert_eq!(
            body,
            json!({"messages": [{"topic": "odoo", "event": "invoice.posted", "payload": {
                "id": 3, "event_type": "invoice.posted",
                "correlation_id": "0b0c0d0e-0f10-4112-9314-15161718191a"
            }, "private": false}]})
        );
    }
}

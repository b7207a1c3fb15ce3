//! Supabase Realtime: one REST broadcast announcing the events just stored.

use serde_json::{Value, json};

use pulser_supabase::InvalidRequest;

use crate::event::Event;

/// `POST {SUPABASE_URL}/realtime/v1/api/broadcast` with one message per stored event on
/// `channel`. The message's `event` is the Odoo `event_type`, so subscribers can filter on
/// it; its payload is the stored row.
///
/// # Errors
/// [`InvalidRequest`] when `SUPABASE_URL` makes no valid URI.
pub(crate) fn request(
    supabase_url: &str,
    service_role_key: &str,
    channel: &str,
    stored: &[(&Event, i64)],
) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
    let payloads: Vec<Value> = stored
        .iter()
        .map(|(event, id)| {
            json!({
                "id": id,
                "source": crate::audit::SOURCE,
                "event_type": event.event_type,
                "resource_id": event.resource_id,
                "payload": event.payload,
                "correlation_id": event.correlation_id,
                "event_id": event.event_id,
                "occurred_at": event.occurred_at,
            })
        })
        .collect();
    let messages: Vec<(&str, &Value)> = stored
        .iter()
        .zip(&payloads)
        .map(|((event, _), payload)| (event.event_type.as_str(), payload))
        .collect();
    pulser_supabase::realtime_broadcast(supabase_url, service_role_key, channel, &messages)
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
        let request = request("https://ref.supabase.co", "key", "odoo", &[(&event, 3)]).unwrap();
        assert_eq!(
            request.uri(),
            "https://ref.supabase.co/realtime/v1/api/broadcast"
        );
        assert_eq!(request.headers()["authorization"], "Bearer key");
        let body: Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(
            body,
            json!({"messages": [{"topic": "odoo", "event": "invoice.posted", "payload": {
                "id": 3, "source": "odoo", "event_type": "invoice.posted", "resource_id": "7",
                "payload": {}, "correlation_id": "0b0c0d0e-0f10-4112-9314-15161718191a",
                "event_id": "e", "occurred_at": null
            }}]})
        );
    }
}

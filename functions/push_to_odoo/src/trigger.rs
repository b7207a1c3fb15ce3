//! What asks for a push: the Supabase database webhook for an outbox row, or a direct
//! `{action, args}` call.

use core::fmt;

use serde_json::{Map, Value};

use crate::outbox::TABLE;

/// Schema of the outbox table.
pub(crate) const SCHEMA: &str = "public";
/// Longest action name (characters), as the table's check constraint allows.
pub(crate) const MAX_ACTION_CHARS: usize = 200;

/// The database webhook body:
/// `{"type":"INSERT","table":"odoo_action_outbox","schema":"public","record":{...},"old_record":null}`.
/// Absent and `null` fields are both `None`; others are ignored.
#[derive(Default)]
struct WireWebhook {
    kind: Option<Value>,
    table: Option<Value>,
    schema: Option<Value>,
    record: Option<Value>,
}

/// A direct call: `{"action": "...", "args": {...}, "request_id"?: "...",
/// "correlation_id"?: "<uuid>"}`.
#[derive(Default)]
struct WireDirectCall {
    action: Option<Value>,
    args: Option<Value>,
    request_id: Option<Value>,
    correlation_id: Option<Value>,
}

// Both are taken out of the parsed object by hand rather than with serde's derive, which
// would link float formatting for its type-mismatch messages (~20 KB of wasm).

impl WireWebhook {
    fn from_object(object: Map<String, Value>) -> Self {
        let mut wire = Self::default();
        for (name, value) in object {
            let slot = match name.as_str() {
                "type" => &mut wire.kind,
                "table" => &mut wire.table,
                "schema" => &mut wire.schema,
                "record" => &mut wire.record,
                _ => continue,
            };
            *slot = Some(value).filter(|v| !v.is_null());
        }
        wire
    }
}

impl WireDirectCall {
    fn from_object(object: Map<String, Value>) -> Self {
        let mut wire = Self::default();
        for (name, value) in object {
            let slot = match name.as_str() {
                "action" => &mut wire.action,
                "args" => &mut wire.args,
                "request_id" => &mut wire.request_id,
                "correlation_id" => &mut wire.correlation_id,
                _ => continue,
            };
            *slot = Some(value).filter(|v| !v.is_null());
        }
        wire
    }
}

/// What a database webhook asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WebhookEvent {
    /// A new row: push it.
    Insert {
        /// The row's id.
        id: i64,
    },
    /// `UPDATE` or `DELETE`: acknowledged, nothing to do.
    Ignored {
        /// The event type.
        kind: &'static str,
    },
}

/// A checked direct call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DirectCall {
    /// The action name.
    pub(crate) action: String,
    /// Its arguments.
    pub(crate) args: Map<String, Value>,
    /// The call's idempotency key, stored as the row's `request_id`: the body's
    /// `request_id`, else `webhook:<webhook-id>`. A retry or replay with the same key
    /// finds the row instead of adding one.
    pub(crate) request_id: String,
    /// The caller's correlation id (a lower-case UUID), if sent.
    pub(crate) correlation_id: Option<String>,
}

/// Why a body was refused (422, or 400 for JSON that does not parse).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum InvalidBody {
    /// Not JSON at all; serde's position, never the content.
    Json(String),
    /// Not a JSON object.
    NotAnObject,
    /// A required field is absent or null.
    Missing {
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong value.
    Invalid {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A direct call carries no idempotency key: neither `request_id` nor a `webhook-id`.
    NoRequestId,
    /// The `request_id` is already the key of a row with another action or other args.
    RequestIdReused,
}

impl InvalidBody {
    /// The field at fault (`body` for the body as a whole).
    #[must_use]
    pub(crate) fn field(&self) -> &'static str {
        match self {
            Self::Json(_) | Self::NotAnObject => "body",
            Self::Missing { field } | Self::Invalid { field, .. } => field,
            Self::NoRequestId | Self::RequestIdReused => "request_id",
        }
    }
}

impl fmt::Display for InvalidBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(e) => write!(f, "body is not valid JSON: {e}"),
            Self::NotAnObject => f.write_str("body must be a JSON object"),
            Self::Missing { field } => write!(f, "`{field}` is required"),
            Self::Invalid { field, expected } => write!(f, "`{field}` must be {expected}"),
            Self::NoRequestId => f.write_str(
                "a direct call needs a key that makes retries take effect once: `request_id` (1-128 of A-Za-z0-9._:-) in the body, or a Standard Webhooks `webhook-id`",
            ),
            Self::RequestIdReused => {
                f.write_str("`request_id` is already used by a call with another action or args")
            }
        }
    }
}

impl std::error::Error for InvalidBody {}

fn object(body: &[u8]) -> Result<Map<String, Value>, InvalidBody> {
    match serde_json::from_slice(body).map_err(|e| InvalidBody::Json(e.to_string()))? {
        Value::Object(object) => Ok(object),
        _ => Err(InvalidBody::NotAnObject),
    }
}

fn string_field(
    value: Option<&Value>,
    field: &'static str,
    expected_value: &'static str,
    expected: &'static str,
) -> Result<(), InvalidBody> {
    match value {
        None => Err(InvalidBody::Missing { field }),
        Some(Value::String(s)) if s == expected_value => Ok(()),
        Some(_) => Err(InvalidBody::Invalid { field, expected }),
    }
}

/// Parses a database webhook body. Table and schema must be the outbox's; `INSERT` yields
/// the row id; `UPDATE` and `DELETE` are ignored.
///
/// # Errors
/// [`InvalidBody`] naming the field at fault.
pub(crate) fn database_webhook(body: &[u8]) -> Result<WebhookEvent, InvalidBody> {
    let wire = WireWebhook::from_object(object(body)?);
    string_field(
        wire.table.as_ref(),
        "table",
        TABLE,
        "\"odoo_action_outbox\"",
    )?;
    string_field(wire.schema.as_ref(), "schema", SCHEMA, "\"public\"")?;
    let kind = match wire.kind {
        None => return Err(InvalidBody::Missing { field: "type" }),
        Some(Value::String(kind)) => kind,
        Some(_) => return Err(invalid_type()),
    };
    match kind.as_str() {
        "INSERT" => {}
        "UPDATE" => return Ok(WebhookEvent::Ignored { kind: "UPDATE" }),
        "DELETE" => return Ok(WebhookEvent::Ignored { kind: "DELETE" }),
        _ => return Err(invalid_type()),
    }
    let record = wire
        .record
        .ok_or(InvalidBody::Missing { field: "record" })?;
    let id = record
        .get("id")
        .ok_or(InvalidBody::Missing { field: "record.id" })?;
    id.as_i64()
        .filter(|id| *id > 0)
        .map(|id| WebhookEvent::Insert { id })
        .ok_or(InvalidBody::Invalid {
            field: "record.id",
            expected: "a positive integer",
        })
}

fn invalid_type() -> InvalidBody {
    InvalidBody::Invalid {
        field: "type",
        expected: "\"INSERT\", \"UPDATE\" or \"DELETE\"",
    }
}

/// Longest idempotency key (bytes), the body's `request_id` (checked by
/// [`pulser_runtime::reply::is_token`]) or `webhook:<webhook-id>`.
pub(crate) const MAX_REQUEST_ID_CHARS: usize = 128;
/// Prefix of keys taken from a Standard Webhooks `webhook-id`, which a body's `request_id`
/// may not use: the two kinds of key never collide.
pub(crate) const WEBHOOK_ID_PREFIX: &str = "webhook:";

fn request_id(body: Option<Value>, webhook_id: Option<&str>) -> Result<String, InvalidBody> {
    let invalid = InvalidBody::Invalid {
        field: "request_id",
        expected: "1-128 of A-Z a-z 0-9 . _ : - not starting with `webhook:`",
    };
    match (body, webhook_id) {
        (Some(Value::String(id)), _)
            if pulser_runtime::reply::is_token(&id) && !id.starts_with(WEBHOOK_ID_PREFIX) =>
        {
            Ok(id)
        }
        (Some(_), _) => Err(invalid),
        (None, Some(id)) => {
            let key = format!("{WEBHOOK_ID_PREFIX}{id}");
            if id.is_empty() || key.len() > MAX_REQUEST_ID_CHARS {
                // A `webhook-id` too long to serve as the key: the caller sends its own.
                Err(invalid)
            } else {
                Ok(key)
            }
        }
        (None, None) => Err(InvalidBody::NoRequestId),
    }
}

/// Parses a direct call; `webhook_id` is the verified Standard Webhooks id, when the call
/// was signed that way.
///
/// # Errors
/// [`InvalidBody`] naming the field at fault.
pub(crate) fn direct_call(
    body: &[u8],
    webhook_id: Option<&str>,
) -> Result<DirectCall, InvalidBody> {
    let wire = WireDirectCall::from_object(object(body)?);
    let action = match wire
        .action
        .ok_or(InvalidBody::Missing { field: "action" })?
    {
        Value::String(s) if !s.is_empty() && s.chars().count() <= MAX_ACTION_CHARS => s,
        _ => {
            return Err(InvalidBody::Invalid {
                field: "action",
                expected: "a non-empty string of at most 200 characters",
            });
        }
    };
    let args = match wire.args.ok_or(InvalidBody::Missing { field: "args" })? {
        Value::Object(map) => map,
        _ => {
            return Err(InvalidBody::Invalid {
                field: "args",
                expected: "a JSON object",
            });
        }
    };
    let correlation_id = match wire.correlation_id {
        None => None,
        Some(Value::String(s)) if pulser_runtime::reply::is_uuid(&s) => {
            Some(s.to_ascii_lowercase())
        }
        Some(_) => {
            return Err(InvalidBody::Invalid {
                field: "correlation_id",
                expected: "a UUID",
            });
        }
    };
    let request_id = request_id(wire.request_id, webhook_id)?;
    Ok(DirectCall {
        action,
        args,
        request_id,
        correlation_id,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn webhook(json: &str) -> Result<WebhookEvent, InvalidBody> {
        database_webhook(json.as_bytes())
    }

    const INSERT: &str = r#"{"type":"INSERT","table":"odoo_action_outbox","schema":"public","record":{"id":7,"action":"account.move.post","args":{"id":1},"status":"queued"},"old_record":null}"#;

    #[test]
    fn insert_yields_the_row_id() {
        assert_eq!(webhook(INSERT), Ok(WebhookEvent::Insert { id: 7 }));
    }

    #[test]
    fn update_and_delete_are_ignored() {
        let update = INSERT.replace("INSERT", "UPDATE");
        assert_eq!(
            webhook(&update),
            Ok(WebhookEvent::Ignored { kind: "UPDATE" })
        );
        let delete = r#"{"type":"DELETE","table":"odoo_action_outbox","schema":"public","record":null,"old_record":{"id":7}}"#;
        assert_eq!(
            webhook(delete),
            Ok(WebhookEvent::Ignored { kind: "DELETE" })
        );
    }

    #[test]
    fn other_table() {
        let err = webhook(&INSERT.replace("odoo_action_outbox", "audit_event")).unwrap_err();
        assert_eq!(err.field(), "table");
        assert_eq!(err.to_string(), "`table` must be \"odoo_action_outbox\"");
    }

    #[test]
    fn other_schema() {
        assert_eq!(
            webhook(&INSERT.replace("public", "private"))
                .unwrap_err()
                .field(),
            "schema"
        );
    }

    #[test]
    fn truncate_type() {
        assert_eq!(
            webhook(&INSERT.replace("INSERT", "TRUNCATE"))
                .unwrap_err()
                .field(),
            "type"
        );
    }

    #[test]
    fn missing_type() {
        assert_eq!(
            webhook(r#"{"table":"odoo_action_outbox","schema":"public","record":{"id":1}}"#),
            Err(InvalidBody::Missing { field: "type" })
        );
    }

    #[test]
    fn missing_record_id() {
        assert_eq!(
            webhook(&INSERT.replace(r#""id":7,"#, "")),
            Err(InvalidBody::Missing { field: "record.id" })
        );
    }

    #[test]
    fn string_record_id() {
        assert_eq!(
            webhook(&INSERT.replace(r#""id":7,"#, r#""id":"7","#))
                .unwrap_err()
                .field(),
            "record.id"
        );
    }

    #[test]
    fn zero_record_id() {
        assert_eq!(
            webhook(&INSERT.replace(r#""id":7,"#, r#""id":0,"#))
                .unwrap_err()
                .field(),
            "record.id"
        );
    }

    #[test]
    fn array_body() {
        assert_eq!(webhook("[]"), Err(InvalidBody::NotAnObject));
    }

    #[test]
    fn broken_json() {
        assert!(matches!(webhook("{"), Err(InvalidBody::Json(_))));
    }

    #[test]
    fn direct_call_minimal() {
        let call = direct_call(
            br#"{"action":"account.move.post","args":{"id":7},"request_id":"r-1"}"#,
            None,
        )
        .unwrap();
        assert_eq!(call.action, "account.move.post");
        assert_eq!(call.request_id, "r-1");
        assert_eq!(call.correlation_id, None);
    }

    const CALL: &str = r#"{"action":"a","args":{}"#;

    fn key(extra: &str, webhook_id: Option<&str>) -> Result<String, InvalidBody> {
        direct_call(format!("{CALL}{extra}}}").as_bytes(), webhook_id).map(|c| c.request_id)
    }

    #[test]
    fn the_key_is_the_bodys_request_id_else_the_webhook_id_in_its_own_namespace() {
        assert_eq!(key(r#","request_id":"odoo:42""#, None).unwrap(), "odoo:42");
        assert_eq!(
            key(r#","request_id":"odoo:42""#, Some("msg_1")).unwrap(),
            "odoo:42"
        );
        assert_eq!(key("", Some("msg_1")).unwrap(), "webhook:msg_1");
    }

    #[test]
    fn a_call_without_any_key_is_refused_saying_what_to_send() {
        let err = key("", None).unwrap_err();
        assert_eq!(err, InvalidBody::NoRequestId);
        assert_eq!(err.field(), "request_id");
        assert!(err.to_string().contains("`request_id`"), "{err}");
    }

    #[test]
    fn a_request_id_outside_its_alphabet_length_or_namespace_is_refused() {
        for bad in [
            r#","request_id":"""#.to_owned(),
            r#","request_id":"has space""#.to_owned(),
            r#","request_id":7"#.to_owned(),
            r#","request_id":"webhook:msg_1""#.to_owned(),
            format!(r#","request_id":"{}""#, "a".repeat(129)),
        ] {
            assert_eq!(key(&bad, None).unwrap_err().field(), "request_id", "{bad}");
        }
        assert!(key(&format!(r#","request_id":"{}""#, "a".repeat(128)), None).is_ok());
        assert!(key("", Some(&"m".repeat(121))).is_err());
    }

    #[test]
    fn direct_call_with_correlation_id() {
        let call = direct_call(
            br#"{"action":"a","args":{},"correlation_id":"6F1C1F64-0C5B-4D8E-9A57-0A5B7D1D1A11"}"#,
            Some("msg_1"),
        )
        .unwrap();
        assert_eq!(
            call.correlation_id.as_deref(),
            Some("6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11")
        );
    }

    #[test]
    fn direct_call_without_action() {
        assert_eq!(
            direct_call(br#"{"args":{}}"#, Some("msg_1")),
            Err(InvalidBody::Missing { field: "action" })
        );
    }

    #[test]
    fn direct_call_with_empty_action() {
        assert_eq!(
            direct_call(br#"{"action":"","args":{}}"#, Some("msg_1"))
                .unwrap_err()
                .field(),
            "action"
        );
    }

    #[test]
    fn direct_call_with_list_args() {
        assert_eq!(
            direct_call(br#"{"action":"a","args":[7]}"#, Some("msg_1"))
                .unwrap_err()
                .field(),
            "args"
        );
    }

    #[test]
    fn direct_call_with_bad_correlation_id() {
        assert_eq!(
            direct_call(
                br#"{"action":"a","args":{},"correlation_id":"c-1"}"#,
                Some("msg_1")
            )
            .unwrap_err()
            .field(),
            "correlation_id"
        );
    }
}

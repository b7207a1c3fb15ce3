//! What the edge process writes to stdout and stderr. The host's own output is one JSON object
//! per line: the access log on stdout (one line per request) and events (start-up, denied
//! outbound requests, traps) on stderr; neither ever carries a header, a body or a variable
//! value. The components' own stdout and stderr share those streams, passed through line by
//! line ([`guest_output`]).

pub mod guest_output;

pub use pulser_runtime::Level;

/// `{"level":..,"msg":..,<fields>}`: the components' log line, so host and guest lines read
/// alike.
#[must_use]
pub fn event_line(level: Level, message: &str, fields: &[(&str, &str)]) -> String {
    pulser_runtime::log_line(level, message, fields)
}

/// Writes one event line to stderr.
pub fn event(level: Level, message: &str, fields: &[(&str, &str)]) {
    write_line(
        &mut std::io::stderr().lock(),
        &event_line(level, message, fields),
    );
}

/// What the access log records about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access<'a> {
    /// Request method.
    pub method: &'a str,
    /// Request path, without the query string.
    pub path: &'a str,
    /// The matched route pattern, if any.
    pub route: Option<&'a str>,
    /// The component that served it, if any.
    pub component: Option<&'a str>,
    /// Response status.
    pub status: u16,
    /// Time until the response head was ready.
    pub duration_ms: u64,
    /// The response's `x-correlation-id`, else the request's.
    pub correlation_id: Option<&'a str>,
    /// Why the host answered instead of the component (`timeout`, `trap`, ...).
    pub outcome: Option<&'a str>,
}

/// `{"level":"info","msg":"request",...}` for one request.
#[must_use]
pub fn access_line(access: &Access<'_>) -> String {
    let mut line = serde_json::Map::new();
    line.insert("level".into(), "info".into());
    line.insert("msg".into(), "request".into());
    line.insert("method".into(), access.method.into());
    line.insert("path".into(), access.path.into());
    line.insert("route".into(), access.route.into());
    line.insert("component".into(), access.component.into());
    line.insert("status".into(), access.status.into());
    line.insert("duration_ms".into(), access.duration_ms.into());
    line.insert("correlation_id".into(), access.correlation_id.into());
    if let Some(outcome) = access.outcome {
        line.insert("outcome".into(), outcome.into());
    }
    serde_json::Value::Object(line).to_string()
}

/// Writes one access-log line to stdout.
pub fn access(access: &Access<'_>) {
    write_line(&mut std::io::stdout().lock(), &access_line(access));
}

fn write_line(out: &mut impl std::io::Write, line: &str) {
    // One write per line so concurrent lines never interleave; a failing stdout/stderr has
    // nowhere to be reported.
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let _ = out.write_all(&bytes);
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn an_access_line_has_exactly_the_documented_fields() {
        let line = access_line(&Access {
            method: "POST",
            path: "/push_to_odoo/drain",
            route: Some("/push_to_odoo/..."),
            component: Some("push-to-odoo"),
            status: 202,
            duration_ms: 12,
            correlation_id: Some("c0ffee"),
            outcome: None,
        });
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "level": "info",
                "msg": "request",
                "method": "POST",
                "path": "/push_to_odoo/drain",
                "route": "/push_to_odoo/...",
                "component": "push-to-odoo",
                "status": 202,
                "duration_ms": 12,
                "correlation_id": "c0ffee",
            })
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn an_unrouted_request_logs_nulls_and_the_outcome() {
        let line = access_line(&Access {
            method: "GET",
            path: "/nope",
            route: None,
            component: None,
            status: 404,
            duration_ms: 0,
            correlation_id: None,
            outcome: Some("not_found"),
        });
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["route"], serde_json::Value::Null);
        assert_eq!(value["component"], serde_json::Value::Null);
        assert_eq!(value["correlation_id"], serde_json::Value::Null);
        assert_eq!(value["outcome"], "not_found");
    }

    #[test]
    fn event_lines_are_json_with_fields() {
        let value: serde_json::Value = serde_json::from_str(&event_line(
            Level::Warn,
            "outbound request denied",
            &[("component", "a"), ("destination", "https://x")],
        ))
        .unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "level": "warn",
                "msg": "outbound request denied",
                "component": "a",
                "destination": "https://x",
            })
        );
    }
}

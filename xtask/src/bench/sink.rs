//! The no-op sink: a PostgREST stand-in that answers at once, so a load run through it
//! measures the runtime and the function, not PostgreSQL.
//!
//! It answers as PostgREST does to the calls the functions make: an insert with
//! `return=representation` gets its rows back with an `id`, an update gets its patch back as
//! the one matching row, a select finds nothing; and, as PostgREST does, a `select=` list
//! keeps only the columns it names in what comes back (an insert asking `select=id` gets
//! `[{"id": 1}]`, not its whole row echoed: the functions and the peers ask for one or two
//! columns, and parsing a 7 KB row they never asked for is work a real stack does not give
//! them). That is enough for the endpoints whose path
//! is one insert (ingest, GitHub, git-ops' record); push_to_odoo's claim reads columns of the
//! row it claims, which a sink that stores nothing cannot give back, so it is measured with
//! the real stack only (the bench says so).

use std::sync::atomic::{AtomicU64, Ordering};

use pulser_tests::server::{HttpServer, Reply};

/// Starts the sink on a free port.
pub fn start() -> HttpServer {
    let ids = AtomicU64::new(1);
    HttpServer::serve_unrecorded(None, move |exchange| {
        let columns = selected_columns(&exchange.path);
        let rows = |value: serde_json::Value| -> serde_json::Value {
            let with_id = |mut row: serde_json::Value| {
                if let Some(object) = row.as_object_mut() {
                    object
                        .entry("id")
                        .or_insert_with(|| ids.fetch_add(1, Ordering::Relaxed).into());
                    if let Some(columns) = &columns {
                        object.retain(|name, _| columns.iter().any(|c| c == name));
                    }
                }
                row
            };
            match value {
                serde_json::Value::Array(items) => {
                    serde_json::Value::Array(items.into_iter().map(with_id).collect())
                }
                other => serde_json::Value::Array(vec![with_id(other)]),
            }
        };
        match exchange.method.as_str() {
            "POST" if exchange.path.contains("/rpc/") => Reply::json(200, &serde_json::Value::Null),
            "POST" => Reply::json(201, &rows(exchange.json())),
            "PATCH" => Reply::json(200, &rows(exchange.json())),
            _ => Reply::json(200, &serde_json::json!([])),
        }
    })
}

/// The columns a request's `select=` names (percent-decoded, comma-separated), or `None`
/// when it has none or asks for `*`: every column comes back then.
fn selected_columns(path: &str) -> Option<Vec<String>> {
    let (_, query) = path.split_once('?')?;
    let list = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("select="))?;
    let list = percent_decode(list);
    let columns: Vec<String> = list
        .split(',')
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    (!columns.is_empty() && !columns.iter().any(|c| c == "*")).then_some(columns)
}

/// `%2C` to `,` and so on; anything that is not a valid escape stays as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_select_list_names_the_columns_that_come_back() {
        assert_eq!(
            selected_columns(
                "/rest/v1/audit_event?on_conflict=source%2Cevent_id&select=id%2Cevent_id"
            ),
            Some(vec!["id".to_owned(), "event_id".to_owned()])
        );
        assert_eq!(
            selected_columns("/rest/v1/oasis_events?select=id&on_conflict=body_sha256"),
            Some(vec!["id".to_owned()])
        );
    }

    #[test]
    fn without_a_select_list_or_with_a_star_every_column_comes_back() {
        assert_eq!(selected_columns("/rest/v1/audit_event"), None);
        assert_eq!(
            selected_columns("/rest/v1/audit_event?on_conflict=event_id"),
            None
        );
        assert_eq!(selected_columns("/rest/v1/t?select=*"), None);
        assert_eq!(selected_columns("/rest/v1/t?select="), None);
    }

    #[test]
    fn percent_escapes_are_decoded_and_broken_ones_kept() {
        assert_eq!(percent_decode("id%2Cevent_id"), "id,event_id");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}

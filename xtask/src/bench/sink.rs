//! The no-op sink: a PostgREST stand-in that answers at once, so a load run through it
//! measures the runtime and the function, not PostgreSQL.
//!
//! It answers as PostgREST does to the calls the functions make: an insert with
//! `return=representation` gets its rows back with an `id`, an update gets its patch back as
//! the one matching row, a select finds nothing. That is enough for the endpoints whose path
//! is one insert (ingest, GitHub, git-ops' record); push_to_odoo's claim reads columns of the
//! row it claims, which a sink that stores nothing cannot give back, so it is measured with
//! the real stack only (the bench says so).

use std::sync::atomic::{AtomicU64, Ordering};

use pulser_tests::server::{HttpServer, Reply};

/// Starts the sink on a free port.
pub fn start() -> HttpServer {
    let ids = AtomicU64::new(1);
    HttpServer::serve_unrecorded(None, move |exchange| {
        let rows = |value: serde_json::Value| -> serde_json::Value {
            let with_id = |mut row: serde_json::Value| {
                if let Some(object) = row.as_object_mut() {
                    object
                        .entry("id")
                        .or_insert_with(|| ids.fetch_add(1, Ordering::Relaxed).into());
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

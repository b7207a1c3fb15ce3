//! What every end-to-end suite does to a function on its cell's runtime: sign a
//! body by the scheme the function takes, send it through the checks every answer must pass
//! (an `x-correlation-id`, no secret in the headers or body), and look for secrets in logs.
//!
//! Signatures are computed here with the hmac, sha2 and base64 crates, never with
//! pulser-signing: the harness is an oracle independent of the code under test.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::stack::{self, Stack};
use crate::{Exchange, hmac_hex, request};

/// The content type every JSON request carries.
pub const JSON: (&str, &str) = ("content-type", "application/json");

/// The variables whose values are secrets: none may reach a response or a log.
pub const SECRET_VARIABLES: [&str; 8] = [
    "EDGE_HMAC_SECRET",
    "ODOO_SIGNING_SECRET",
    "ODOO_API_TOKEN",
    "PUSH_WEBHOOK_TOKEN",
    "SUPABASE_SERVICE_ROLE_KEY",
    "GITHUB_WEBHOOK_SECRET",
    "PULSER_WEBHOOK_SECRET",
    "OASIS_READ_KEY",
];

/// How a sender signs a request; each function takes one (or two) of these.
#[derive(Debug, Clone, Copy)]
pub enum Scheme<'a> {
    /// `x-signature: <hex HMAC-SHA256 of the body>` (`odoo_event_ingest`, `push_to_odoo`'s
    /// direct calls).
    Hex,
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
    /// (`odoo_event_ingest`).
    StandardWebhooks { id: &'a str, timestamp: i64 },
    /// GitHub: `x-hub-signature-256: sha256=<hex>` with `x-github-event` and
    /// `x-github-delivery` (`github_webhook`).
    Github { event: &'a str, delivery: &'a str },
    /// `x-pulser-signature: sha256=<hex>` (`git_ops_dispatch`).
    Pulser,
}

/// A marker no other test uses: `prefix-<12 random hex digits>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", stack::random_hex(6))
}

/// The secret a sender signs with: the first of the comma-separated list in variable `name`.
pub fn first_secret(stack: &Stack, name: &str) -> String {
    stack
        .var(name)
        .split(',')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// `content-type: application/json` and the headers that sign `body` with `secret` by
/// `scheme`.
pub fn signed_headers(secret: &str, scheme: Scheme<'_>, body: &[u8]) -> Vec<(String, String)> {
    let mut headers = vec![(JSON.0.to_owned(), JSON.1.to_owned())];
    let mut add = |name: &str, value: String| headers.push((name.to_owned(), value));
    match scheme {
        Scheme::Hex => add("x-signature", hmac_hex(secret.as_bytes(), body)),
        Scheme::StandardWebhooks { id, timestamp } => {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            let signature =
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            add("webhook-id", id.to_owned());
            add("webhook-timestamp", timestamp.to_string());
            add("webhook-signature", format!("v1,{signature}"));
        }
        Scheme::Github { event, delivery } => {
            add("x-github-event", event.to_owned());
            add("x-github-delivery", delivery.to_owned());
            add(
                "x-hub-signature-256",
                format!("sha256={}", hmac_hex(secret.as_bytes(), body)),
            );
        }
        Scheme::Pulser => add(
            "x-pulser-signature",
            format!("sha256={}", hmac_hex(secret.as_bytes(), body)),
        ),
    }
    headers
}

/// Borrowed header pairs, as [`send`] takes them.
pub fn pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// POSTs `body` to `url`, signed with `secret` by `scheme`, through [`send`]'s checks.
pub fn post_signed(
    stack: &Stack,
    url: &str,
    secret: &str,
    scheme: Scheme<'_>,
    body: &[u8],
) -> Exchange {
    let headers = signed_headers(secret, scheme, body);
    send(stack, "POST", url, &pairs(&headers), body)
}

/// POSTs to `path` on the cell's runtime, through [`send`]'s checks.
pub fn post(stack: &Stack, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Exchange {
    send(stack, "POST", &stack.url(path), headers, body)
}

/// Sends one request; every answer must carry `x-correlation-id` and no secret.
pub fn send(
    stack: &Stack,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Exchange {
    let exchange = request(method, url, headers, body);
    assert!(
        exchange.header("x-correlation-id").is_some(),
        "{method} {url} answered {} without x-correlation-id",
        exchange.status
    );
    assert_response_clean(stack, &exchange);
    exchange
}

/// The values of [`SECRET_VARIABLES`] on this stack.
pub fn secret_values(stack: &Stack) -> Vec<String> {
    SECRET_VARIABLES
        .iter()
        .map(|name| stack.var(name))
        .collect()
}

/// Fails when `text` (`what` names it) contains any secret of the stack.
pub fn assert_no_secret(stack: &Stack, what: &str, text: &str) {
    for secret in secret_values(stack) {
        assert!(
            !text.contains(&secret),
            "a secret leaked into {what}:\n{text}"
        );
    }
}

/// Fails when a response's headers or body contain a secret.
pub fn assert_response_clean(stack: &Stack, exchange: &Exchange) {
    let mut text = String::from_utf8_lossy(&exchange.body).into_owned();
    for (name, value) in &exchange.headers {
        text.push_str(&format!("\n{name}: {value}"));
    }
    assert_no_secret(stack, "a response", &text);
}

/// Fails when the runtime's log (the functions' lines included) contains a secret.
pub fn assert_logs_clean(stack: &Stack) {
    assert_no_secret(stack, "the runtime's log", &stack.logs());
}

/// The code block (```` ```<language> ````) that follows `<!-- <marker>` in README.md: what a
/// test runs so the README's examples cannot rot.
///
/// # Panics
/// When the README has no such marker or block.
pub fn readme_block(marker: &str, language: &str) -> String {
    let readme =
        std::fs::read_to_string(crate::stack::project_root().join("README.md")).expect("README.md");
    let after = readme
        .split_once(&format!("<!-- {marker}"))
        .unwrap_or_else(|| panic!("README.md has no {marker} marker"))
        .1;
    let code = after
        .split_once(&format!("```{language}\n"))
        .unwrap_or_else(|| panic!("no {language} block follows the {marker} marker"))
        .1;
    code.split_once("```")
        .unwrap_or_else(|| panic!("the block after {marker} is not closed"))
        .0
        .to_owned()
}

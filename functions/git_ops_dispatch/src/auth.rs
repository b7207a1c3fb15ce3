//! Who may dispatch: Odoo, proven by `X-Pulser-Signature: sha256=<hex>` over the raw body
//! with one of `PULSER_WEBHOOK_SECRET`'s secrets; an `X-Pulser-Secret` header, when sent, must
//! also equal one of them.

use pulser_runtime::pipeline::Refusal;
use pulser_runtime::reply;
use pulser_signing::headers;

use crate::settings::Credentials;

/// Optional header that must equal one of the secrets when sent.
pub(crate) const X_PULSER_SECRET: &str = "x-pulser-secret";

/// Verifies the signature, then `X-Pulser-Secret` when present.
///
/// # Errors
/// [`Refusal::Unauthorized`] naming the header at fault.
pub(crate) fn verify(
    request_headers: &http::HeaderMap,
    body: &[u8],
    credentials: &Credentials,
) -> Result<(), Refusal> {
    let signature = reply::header(request_headers, headers::X_PULSER_SIGNATURE);
    credentials
        .secrets
        .verify_hex(headers::X_PULSER_SIGNATURE, signature, body)?;
    match request_headers.get(X_PULSER_SECRET) {
        Some(sent) if !credentials.shared.contains(sent.as_bytes()) => Err(Refusal::unauthorized(
            Some(X_PULSER_SECRET),
            format_args!("{X_PULSER_SECRET} does not match"),
        )),
        _ => Ok(()),
    }
}

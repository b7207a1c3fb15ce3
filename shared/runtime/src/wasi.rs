//! The plain wasi:http 0.2 proxy flavour (runs under `wasmtime serve` and the edge host).
//!
//! Config comes from environment variables; the request, the response and outbound HTTP are
//! [`crate::wasi_http`]'s, shared with the Spin flavour.

use core::time::Duration;

use crate::{Level, OutboundError, Platform, RandomError, Request, Response};

/// The WASI flavour's [`Platform`].
#[derive(Debug, Default, Clone, Copy)]
pub struct WasiPlatform;

impl Platform for WasiPlatform {
    fn config(&self, name: &str) -> Option<String> {
        // wasi:cli/environment directly: the same values `std::env::var` reads through libc,
        // without libc's environ machinery in the component. Asked once per instance (whose
        // environment never changes, however many requests it serves): every
        // `get-environment` copies each variable across the boundary, and a request reads
        // several settings.
        static ENVIRONMENT: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
        ENVIRONMENT
            .get_or_init(wasip2::cli::environment::get_environment)
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .filter(|value| !value.is_empty())
    }

    fn now(&self) -> u64 {
        crate::wasi_http::now()
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|_| RandomError)
    }

    async fn send(&self, request: Request, timeout: Duration) -> Result<Response, OutboundError> {
        crate::wasi_http::send(request, timeout)
    }

    async fn sleep(&self, duration: Duration) {
        crate::wasi_http::sleep(duration);
    }

    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]) {
        crate::wasi_http::log(level, message, fields);
    }
}

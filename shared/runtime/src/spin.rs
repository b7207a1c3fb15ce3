//! The Spin flavour: config from `fermyon:spin/variables@2.0.0` and the cache port in Spin's
//! default key-value store (`key_value_stores = ["default"]` in spin.toml), both through
//! spin-sdk 5.2's bindings, so the component runs on every Spin from 2.x to 4.0.x, Fermyon
//! Cloud and SpinKube.
//!
//! The request, the response and outbound HTTP are [`crate::wasi_http`]'s, shared with the
//! WASI flavour, rather than spin-sdk's `#[http_component]`, `http::send` and their
//! `Request`/`Response` conversions: those bring spin-executor, `anyhow`, boxed errors and
//! `futures` streams (40 to 85 KB of each component) for what the wasi:http calls do directly.
//! The component still exports `wasi:http/incoming-handler@0.2.0`, as `#[http_component]` did.

use core::time::Duration;

use crate::{Level, OutboundError, Platform, RandomError, Request, Response};

/// The Spin flavour's [`Platform`]. Config names map to Spin variables by lower-casing
/// (`SUPABASE_URL` -> `supabase_url`), as spin.toml requires.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpinPlatform;

impl Platform for SpinPlatform {
    fn config(&self, name: &str) -> Option<String> {
        spin_sdk::variables::get(&name.to_ascii_lowercase())
            .ok()
            .filter(|v| !v.is_empty())
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

    fn log(&self, level: Level, message: &str, fields: &[(&str, &str)]) {
        crate::wasi_http::log(level, message, fields);
    }

    async fn sleep(&self, duration: Duration) {
        crate::wasi_http::sleep(duration);
    }

    fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        spin_sdk::key_value::Store::open_default()
            .ok()?
            .get(key)
            .ok()
            .flatten()
    }

    fn cache_put(&self, key: &str, value: &[u8]) {
        if let Ok(store) = spin_sdk::key_value::Store::open_default() {
            let _ = store.set(key, value);
        }
    }

    fn cache_delete(&self, key: &str) {
        if let Ok(store) = spin_sdk::key_value::Store::open_default() {
            let _ = store.delete(key);
        }
    }
}

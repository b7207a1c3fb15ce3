//! Conformance probe: reads `PROBE_MESSAGE`, the clock and 16 random bytes, then sends
//! `POST {PROBE_UPSTREAM}` with header `x-probe: 1` and body `ping`, and answers with all of
//! it as JSON. The runtime tests run it on every flavour and check each field.
//!
//! For the edge host's tests it also misbehaves on request: a path ending in `/trap` traps,
//! one ending in `/busy` spins on the CPU until the host interrupts it, and `?config=NAME`
//! adds `"config": <value of NAME>` to the report. `instance_requests` counts the requests
//! this instance has served, this one included (1 on a host that instantiates per request),
//! and a path ending in `/grow` first grows the heap by 16 MiB, which the instance keeps.

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use pulser_runtime::{Level, Platform, Request, Response};

pulser_runtime::export!(handle);

/// The probe's handler.
pub async fn handle<P: Platform>(request: Request, platform: &P) -> Response {
    static INSTANCE_REQUESTS: AtomicU64 = AtomicU64::new(0);
    let instance_requests = INSTANCE_REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
    let path = request.uri().path();
    if path.ends_with("/trap") {
        // A trap (wasm `unreachable`), not a panic: the host must survive it.
        std::process::abort();
    }
    if path.ends_with("/busy") {
        spin_until_interrupted();
    }
    if path.ends_with("/grow") {
        // Touched, so the allocation cannot be elided; freed, but linear memory never shrinks.
        let grown = core::hint::black_box(vec![1u8; 16 << 20]);
        drop(grown);
    }
    let mut random = [0u8; 16];
    let random_ok = platform.fill_random(&mut random).is_ok();
    let upstream = match platform.config("PROBE_UPSTREAM") {
        Some(url) => {
            let outbound = http::Request::post(url)
                .header("x-probe", "1")
                .body(b"ping".to_vec());
            match outbound {
                Ok(req) => match platform.send(req, Duration::from_secs(5)).await {
                    Ok(resp) => serde_json::json!({
                        "status": resp.status().as_u16(),
                        "body": String::from_utf8_lossy(resp.body()),
                    }),
                    Err(err) => serde_json::json!({ "error": err.to_string() }),
                },
                Err(err) => serde_json::json!({ "error": err.to_string() }),
            }
        }
        None => serde_json::Value::Null,
    };
    platform.log(
        Level::Info,
        "probe answered",
        &[("path", request.uri().path())],
    );
    let report = serde_json::json!({
        "message": platform.config("PROBE_MESSAGE"),
        "missing": platform.config("PROBE_NOT_SET"),
        "now": platform.now(),
        "random_ok": random_ok,
        "random_hex": random.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "method": request.method().as_str(),
        "path": request.uri().path(),
        "body_len": request.body().len(),
        "upstream": upstream,
        "config": config_query(&request).and_then(|name| platform.config(name)),
        "instance_requests": instance_requests,
    });
    let mut response = http::Response::new(report.to_string().into_bytes());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The `NAME` of a `config=NAME` query parameter.
fn config_query(request: &Request) -> Option<&str> {
    request
        .uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("config="))
}

/// Burns CPU forever; only the host's deadline ends it.
fn spin_until_interrupted() -> ! {
    let mut counter = 0u64;
    loop {
        counter = core::hint::black_box(counter.wrapping_add(1));
    }
}

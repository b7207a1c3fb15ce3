#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The runtime adapters, proven on real runtimes with the conformance probe: the WASI build
//! under `wasmtime serve`, the Workers build under workerd, and the Spin build's imports.

use std::process::Command;

use pulser_tests::{RecordingServer, Service, free_port, probe_artifact, request, required_path};

fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn wasmtime_probe(upstream_url: &str) -> Service {
    let port = free_port();
    let mut cmd = Command::new(required_path("WASMTIME_BIN"));
    cmd.args(["serve", "-S", "cli", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--env", "PROBE_MESSAGE=hello from wasmtime"])
        .args(["--env", &format!("PROBE_UPSTREAM={upstream_url}")])
        .arg(probe_artifact("wasi/probe.wasm"));
    Service::start(cmd, port, "wasmtime")
}

fn workerd_probe(upstream: &RecordingServer) -> Service {
    pulser_tests::workerd::serve(
        &required_path("WORKERD_BIN"),
        &probe_artifact("workers/probe"),
        "probe",
        &[
            ("PROBE_MESSAGE".into(), "hello from workerd".into()),
            ("PROBE_UPSTREAM".into(), upstream.url("/echo")),
        ],
    )
}

/// What every flavour must report for the same request.
fn assert_probe_report(service: &Service, upstream: &RecordingServer, expected_message: &str) {
    let response = request(
        "POST",
        &service.url("/probe/path"),
        &[("content-type", "text/plain")],
        b"abc",
    );
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    let report = response.json();
    assert_eq!(
        report["message"], expected_message,
        "config lookup: {report}"
    );
    assert_eq!(
        report["missing"],
        serde_json::Value::Null,
        "unset config must read as None"
    );
    assert_eq!(report["method"], "POST");
    assert_eq!(report["path"], "/probe/path");
    assert_eq!(report["body_len"], 3);
    let now = report["now"].as_u64().expect("now is a number");
    assert!(
        now.abs_diff(system_now()) <= 60,
        "clock off: {now} vs {}",
        system_now()
    );
    assert_eq!(report["random_ok"], true);
    let random = report["random_hex"].as_str().unwrap().to_owned();
    assert_eq!(random.len(), 32);
    assert_ne!(random, "0".repeat(32), "random bytes were not filled");
    assert_eq!(report["upstream"]["status"], 200, "outbound: {report}");
    assert_eq!(report["upstream"]["body"], "pong");

    let again = request("POST", &service.url("/probe/path"), &[], b"abc").json();
    assert_ne!(
        again["random_hex"], report["random_hex"],
        "two requests drew the same random bytes"
    );

    let seen = upstream.recorded();
    assert_eq!(seen.len(), 2, "the upstream saw {seen:?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/echo");
    assert_eq!(seen[0].header("x-probe"), Some("1"));
    assert_eq!(seen[0].body, b"ping");
}

#[test]
fn wasi_probe_serves_on_wasmtime() {
    let upstream = RecordingServer::start(200, "pong");
    let service = wasmtime_probe(&upstream.url("/echo"));
    assert_probe_report(&service, &upstream, "hello from wasmtime");
    assert!(
        service.logs().contains(r#""msg":"probe answered""#),
        "log line missing:\n{}",
        service.logs()
    );
}

#[test]
fn wasi_probe_refuses_bodies_over_the_limit_with_413() {
    let upstream = RecordingServer::start(200, "pong");
    let service = wasmtime_probe(&upstream.url("/echo"));
    let body = vec![b'x'; 1024 * 1024 + 1];
    let response = request("POST", &service.url("/"), &[], &body);
    assert_eq!(response.status, 413);
    assert_eq!(response.json()["error"], "payload_too_large");
    assert!(upstream.recorded().is_empty(), "the handler must not run");
    assert_early_refusals_carry_a_correlation_id(&service.url("/"));
    assert!(upstream.recorded().is_empty(), "the handler must not run");
}

/// The adapter's own 413, for a declared and for a chunked body, carries `x-correlation-id`
/// (the caller's when acceptable, else a fresh one) and the common error body.
fn assert_early_refusals_carry_a_correlation_id(url: &str) {
    let over = 1024 * 1024 + 1;
    let declared = request(
        "POST",
        url,
        &[("x-correlation-id", "caller-7")],
        &vec![b'x'; over],
    );
    assert_eq!(declared.status, 413);
    assert_eq!(declared.header("x-correlation-id"), Some("caller-7"));
    let chunked = pulser_tests::post_chunked(url, &[], over);
    assert_eq!(
        (chunked.status, chunked.json()["error"].as_str()),
        (413, Some("payload_too_large")),
        "{}",
        String::from_utf8_lossy(&chunked.body)
    );
    let id = chunked.header("x-correlation-id").unwrap_or_default();
    assert_eq!(id.len(), 36, "a fresh UUID: {id:?}");
}

#[test]
fn wasi_probe_reports_an_unreachable_upstream_without_failing() {
    let closed = format!("http://127.0.0.1:{}/echo", free_port());
    let service = wasmtime_probe(&closed);
    let report = request("GET", &service.url("/"), &[], b"").json();
    assert!(
        report["upstream"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{report}"
    );
}

#[test]
fn workers_probe_serves_on_workerd() {
    let upstream = RecordingServer::start(200, "pong");
    let service = workerd_probe(&upstream);
    assert_probe_report(&service, &upstream, "hello from workerd");
}

#[test]
fn workers_probe_refuses_bodies_over_the_limit_with_413() {
    let upstream = RecordingServer::start(200, "pong");
    let service = workerd_probe(&upstream);
    let response = request("POST", &service.url("/"), &[], &vec![b'x'; 1024 * 1024 + 1]);
    assert_eq!(
        response.status,
        413,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_early_refusals_carry_a_correlation_id(&service.url("/"));
    assert!(upstream.recorded().is_empty(), "the handler must not run");
}

fn wit_imports(artifact: &str) -> Vec<String> {
    let out = Command::new(required_path("WASM_TOOLS_BIN"))
        .args(["component", "wit"])
        .arg(probe_artifact(artifact))
        .output()
        .expect("run wasm-tools");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("import ")
                .map(|i| i.trim_end_matches(';').to_owned())
        })
        .collect()
}

#[test]
fn wasi_build_imports_only_wasi_interfaces() {
    let imports = wit_imports("wasi/probe.wasm");
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("wasi:http/outgoing-handler")),
        "{imports:?}"
    );
    let foreign: Vec<_> = imports.iter().filter(|i| !i.starts_with("wasi:")).collect();
    assert!(foreign.is_empty(), "non-WASI imports: {foreign:?}");
}

#[test]
fn spin_build_imports_only_wasi_and_spin_interfaces() {
    let imports = wit_imports("spin/probe.wasm");
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("fermyon:spin/variables@2.0.0")),
        "{imports:?}"
    );
    let foreign: Vec<_> = imports
        .iter()
        .filter(|i| !i.starts_with("wasi:") && !i.starts_with("fermyon:spin/"))
        .collect();
    assert!(
        foreign.is_empty(),
        "imports Spin cannot satisfy: {foreign:?}"
    );
}

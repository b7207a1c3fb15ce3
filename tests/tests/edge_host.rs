#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The edge host (`edge`, crate edge/) driven over HTTP with the conformance probe as its
//! component: routing, 404, body limits, deadlines, the outbound allow-list, trap isolation,
//! variables, the access log, start-up failures, graceful shutdown, and the perimeter: the
//! byte budget, instance slots kept per component, and the connection limit; then the Spin
//! flavour: the probe's Spin build, and the real Spin builds of the functions (dist/spin)
//! against the local stack.
//!
//! Each test writes its own spin.toml into a temporary directory, copies the probe's WASI
//! build (or its Spin build) under the file names the manifest's `source` paths use, and
//! starts `edge` on a free port. `PULSER_EDGE_BIN` and `PULSER_PROBE_DIST` come from
//! `cargo xtask test`, as do the stack's tools and dist/ (`PULSER_DIST`, default ./dist).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use pulser_tests::clock::unix_now;
use pulser_tests::e2e::{Scheme, post_signed, send, unique};
use pulser_tests::stack::{self, Stack};
use pulser_tests::{
    Exchange, RecordingServer, Service, free_port, probe_artifact, request, required_path,
};

const MIB: usize = 1024 * 1024;

/// A temporary application directory: spin.toml plus dist/wasi/<name>.wasm copies of the
/// probe.
struct App {
    dir: PathBuf,
}

impl App {
    /// Writes `manifest` and one probe copy per name in `components`.
    fn new(manifest: &str, components: &[&str]) -> Self {
        // Unique per app of this process: a free port's number is not (two tests running at
        // once can be handed the same one, and one app's Drop would delete the other's files).
        static APPS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pulser-edge-app-{}-{}",
            std::process::id(),
            APPS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let wasi = dir.join("dist/wasi");
        std::fs::create_dir_all(&wasi).unwrap();
        for name in components {
            std::fs::copy(
                probe_artifact("wasi/probe.wasm"),
                wasi.join(format!("{name}.wasm")),
            )
            .unwrap();
        }
        std::fs::write(dir.join("spin.toml"), manifest).unwrap();
        Self { dir }
    }

    fn manifest(&self) -> PathBuf {
        self.dir.join("spin.toml")
    }

    /// Copies the probe's `flavour` build (`wasi` or `spin`) to `dist/<into>/<name>.wasm`.
    fn add_probe(&self, flavour: &str, into: &str, name: &str) -> PathBuf {
        let dir = self.dir.join("dist").join(into);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.wasm"));
        std::fs::copy(probe_artifact(&format!("{flavour}/probe.wasm")), &path).unwrap();
        path
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// The edge command for this app on `port`, with no inherited `SPIN_VARIABLE_*`.
    fn command(&self, port: u16) -> Command {
        let mut cmd = Command::new(required_path("PULSER_EDGE_BIN"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SPIN_VARIABLE_") {
                cmd.env_remove(key);
            }
        }
        cmd.arg("--manifest")
            .arg(self.manifest())
            .args(["--listen", &format!("127.0.0.1:{port}")]);
        cmd
    }

    /// Starts the edge and waits until it accepts connections.
    fn start(&self, configure: impl FnOnce(&mut Command)) -> Service {
        let port = free_port();
        let mut cmd = self.command(port);
        configure(&mut cmd);
        let service = Service::start(cmd, port, "edge").with_interrupt_on_drop();
        assert!(
            wait_for(|| service
                .logs()
                .contains("edge: listening on http://127.0.0.1:")),
            "no listening line:\n{}",
            service.logs()
        );
        service
    }

    /// Runs the edge expecting it to fail at start-up.
    fn fail_to_start(&self, configure: impl FnOnce(&mut Command)) -> Output {
        let mut cmd = self.command(free_port());
        configure(&mut cmd);
        let output = cmd.stdin(Stdio::null()).output().unwrap();
        assert!(
            !output.status.success(),
            "edge started although it should not have:\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
        output
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `condition` for up to 30 s: for output that is written just after an event.
fn wait_for(condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    condition()
}

fn get(service: &Service, path: &str) -> Exchange {
    request("GET", &service.url(path), &[], b"")
}

fn body_text(exchange: &Exchange) -> String {
    String::from_utf8_lossy(&exchange.body).into_owned()
}

/// Asserts the host's JSON error shape and returns the body.
fn assert_json_error(exchange: &Exchange, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(exchange.status, status, "{}", body_text(exchange));
    assert_eq!(exchange.header("content-type"), Some("application/json"));
    assert!(
        exchange.header("x-correlation-id").is_some(),
        "every response carries x-correlation-id"
    );
    let body = exchange.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// The access-log lines the edge wrote so far.
fn access_lines(service: &Service) -> Vec<serde_json::Value> {
    service
        .logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["msg"] == "request")
        .collect()
}

/// The access-log line for the request to `path` (there must be exactly one).
fn access_line(service: &Service, path: &str) -> serde_json::Value {
    let lines: Vec<_> = access_lines(service)
        .into_iter()
        .filter(|line| line["path"] == path)
        .collect();
    assert_eq!(lines.len(), 1, "access lines for {path}: {lines:?}");
    lines.into_iter().next().unwrap()
}

/// Two probe copies: `alpha` on an exact route, `beta` on a wildcard route.
const TWO_ROUTES: &str = r#"
spin_manifest_version = 2
[application]
name = "edge-test"

[variables]
greeting = { default = "hello" }

[[trigger.http]]
route = "/alpha"
component = "alpha"

[[trigger.http]]
route = "/beta/..."
component = "beta"

[component.alpha]
source = "dist/spin/alpha.wasm"
variables = { probe_message = "alpha says {{ greeting }}" }

[component.beta]
source = "dist/spin/beta.wasm"
variables = { probe_message = "beta says {{ greeting }}" }
"#;

#[test]
fn exact_and_wildcard_routes_reach_their_components() {
    let app = App::new(TWO_ROUTES, &["alpha", "beta"]);
    let edge = app.start(|_| {});

    let alpha = get(&edge, "/alpha");
    assert_eq!(alpha.status, 200, "{}", body_text(&alpha));
    assert_eq!(alpha.json()["message"], "alpha says hello");
    assert_eq!(alpha.json()["path"], "/alpha");

    for path in ["/beta", "/beta/drain", "/beta/a/b"] {
        let beta = get(&edge, path);
        assert_eq!(beta.status, 200, "{path}: {}", body_text(&beta));
        assert_eq!(beta.json()["message"], "beta says hello", "{path}");
        assert_eq!(
            beta.json()["path"],
            path,
            "the component sees the full path"
        );
    }

    let query = get(&edge, "/beta/x?config=PROBE_MESSAGE");
    assert_eq!(query.json()["config"], "beta says hello");

    for path in ["/alpha/x", "/alphabet", "/betamax", "/"] {
        assert_json_error(&get(&edge, path), 404, "not_found");
    }
}

/// A catch-all route: the host's own health paths must still be the host's.
const CATCH_ALL: &str = r#"
spin_manifest_version = 2
[application]
name = "edge-test"

[[trigger.http]]
route = "/..."
component = "all"

[component.all]
source = "dist/spin/all.wasm"
"#;

#[test]
fn the_host_answers_liveness_and_readiness_ahead_of_every_route() {
    let app = App::new(CATCH_ALL, &["all"]);
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}/rest/v1/", closed.local_addr().unwrap());
    drop(closed);
    let edge = app.start(|cmd| {
        cmd.args(["--ready-url", &down]);
    });
    for path in ["/health", "/.well-known/spin/health"] {
        let live = get(&edge, path);
        assert_eq!(live.status, 200, "{path}: {}", body_text(&live));
        assert_eq!(live.json()["status"], "ok");
        assert_eq!(live.json()["components"], serde_json::json!(["all"]));
    }
    let ready = get(&edge, "/health/ready");
    assert_eq!(ready.status, 503, "{}", body_text(&ready));
    assert_eq!(ready.header("retry-after"), Some("5"));
    assert_eq!(ready.json()["status"], "unavailable");
    assert!(
        ready.json()["reason"]
            .as_str()
            .unwrap()
            .starts_with("unreachable"),
        "{}",
        body_text(&ready)
    );
    // Every other path is the component's.
    assert_eq!(get(&edge, "/healthz").json()["path"], "/healthz");
    assert_eq!(access_line(&edge, "/health/ready")["status"], 503);
}

#[test]
fn readiness_follows_postgrest() {
    let stack = Stack::builder().start();
    let ready = send(&stack, "GET", &stack.url("/health/ready"), &[], b"");
    assert_eq!(
        ready.status,
        200,
        "{}",
        String::from_utf8_lossy(&ready.body)
    );
    let body = ready.json();
    assert_eq!(body["status"], "ok");
    assert!(
        stack
            .postgrest_url()
            .starts_with(body["depends_on"].as_str().unwrap()),
        "{body}"
    );
    // Every component spin.toml routes to, once each however many routes it has.
    let manifest = pulser_tests::cell::Manifest::read(&stack::project_root().join("spin.toml"));
    assert_eq!(
        body["components"].as_array().map(Vec::len),
        Some(manifest.functions.len()),
        "{body}"
    );
}

#[test]
fn an_unknown_route_gets_404_json_with_the_correlation_id() {
    let app = App::new(TWO_ROUTES, &["alpha", "beta"]);
    let edge = app.start(|_| {});
    let response = request(
        "POST",
        &edge.url("/nowhere"),
        &[("x-correlation-id", "test-404")],
        b"{}",
    );
    assert_json_error(&response, 404, "not_found");
    assert_eq!(response.header("x-correlation-id"), Some("test-404"));
    let line = access_line(&edge, "/nowhere");
    assert_eq!(line["status"], 404);
    assert_eq!(line["route"], serde_json::Value::Null);
    assert_eq!(line["outcome"], "not_found");
    assert_eq!(line["correlation_id"], "test-404");
}

#[test]
fn bodies_over_the_default_limit_get_413_from_the_host() {
    let app = App::new(TWO_ROUTES, &["alpha", "beta"]);
    let edge = app.start(|_| {});

    let at_limit = request("POST", &edge.url("/alpha"), &[], &vec![b'x'; MIB]);
    assert_eq!(at_limit.status, 200, "{}", body_text(&at_limit));
    assert_eq!(at_limit.json()["body_len"], MIB);

    let over = request("POST", &edge.url("/beta/big"), &[], &vec![b'x'; MIB + 1]);
    let body = assert_json_error(&over, 413, "payload_too_large");
    assert!(
        body["message"].as_str().unwrap().contains("1048576"),
        "{body}"
    );
    let line = access_line(&edge, "/beta/big");
    assert_eq!(line["outcome"], "payload_too_large", "the host refused it");
    assert_eq!(line["component"], "beta");
}

#[test]
fn a_streamed_body_over_the_limit_gets_413() {
    let app = App::new(TWO_ROUTES, &["alpha", "beta"]);
    let edge = app.start(|_| {});
    let response = chunked_post(&edge, "/alpha", MIB + 10);
    assert!(
        response.starts_with("HTTP/1.1 413"),
        "expected 413, got: {}",
        response.lines().next().unwrap_or_default()
    );
    assert!(response.contains("payload_too_large"), "{response}");
    let small = chunked_post(&edge, "/beta/small", 10);
    assert!(small.starts_with("HTTP/1.1 200"), "{small}");
    assert!(small.contains(r#""body_len":10"#), "{small}");
}

/// POSTs `len` bytes with `transfer-encoding: chunked` (no content-length) and returns the
/// raw response text.
fn chunked_post(service: &Service, path: &str, len: usize) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", service.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let size = left.min(chunk.len());
        let sent = write!(stream, "{size:x}\r\n")
            .and_then(|()| stream.write_all(&chunk[..size]))
            .and_then(|()| stream.write_all(b"\r\n"));
        if sent.is_err() {
            break; // the host may answer and close before the whole body is sent
        }
        left -= size;
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn per_component_tool_edge_limits_lower_and_raise_the_default() {
    let manifest = r#"
spin_manifest_version = 2
[[trigger.http]]
route = "/small"
component = "small"
[[trigger.http]]
route = "/large"
component = "large"

[component.small]
source = "dist/spin/small.wasm"
[component.small.tool.edge]
max_body_bytes = 100

[component.large]
source = "dist/spin/large.wasm"
[component.large.tool.edge]
max_body_bytes = 2097152
"#;
    let app = App::new(manifest, &["small", "large"]);
    let edge = app.start(|_| {});

    assert_eq!(
        request("POST", &edge.url("/small"), &[], &[b'x'; 100]).status,
        200
    );
    let over = request("POST", &edge.url("/small"), &[], &[b'x'; 101]);
    let body = assert_json_error(&over, 413, "payload_too_large");
    assert!(
        body["message"].as_str().unwrap().contains("100 bytes"),
        "{body}"
    );

    // Raised above the default: the host lets 1.5 MiB through, so the component's own
    // 1 MiB limit (the probe's export!) is what answers, not the host.
    let big = request("POST", &edge.url("/large"), &[], &vec![b'x'; MIB + MIB / 2]);
    assert_eq!(big.status, 413, "{}", body_text(&big));
    let line = access_line(&edge, "/large");
    assert_eq!(
        line.get("outcome"),
        None,
        "the component answered, not the host: {line}"
    );
}

#[test]
fn a_component_busy_on_the_cpu_gets_504_and_the_host_keeps_serving() {
    let manifest = TWO_ROUTES.replace(
        "[component.beta]",
        "[component.alpha.tool.edge]\ntimeout_ms = 500\n\n[component.beta]",
    );
    let manifest = manifest.replace("route = \"/alpha\"", "route = \"/alpha/...\"");
    let app = App::new(&manifest, &["alpha", "beta"]);
    let edge = app.start(|_| {});

    let busy = get(&edge, "/alpha/busy");
    let body = assert_json_error(&busy, 504, "timeout");
    assert!(
        body["message"].as_str().unwrap().contains("500 ms"),
        "{body}"
    );
    assert_eq!(access_line(&edge, "/alpha/busy")["outcome"], "timeout");

    assert_eq!(get(&edge, "/alpha").status, 200, "the same component again");
    assert_eq!(get(&edge, "/beta").status, 200, "another component");
}

#[test]
fn the_request_timeout_flag_applies_to_components_without_their_own() {
    let manifest = TWO_ROUTES.replace("route = \"/alpha\"", "route = \"/alpha/...\"");
    let app = App::new(&manifest, &["alpha", "beta"]);
    let edge = app.start(|cmd| {
        cmd.args(["--request-timeout", "0.5"]);
    });
    assert_json_error(&get(&edge, "/alpha/busy"), 504, "timeout");
    thread::sleep(Duration::from_millis(50));
    assert_eq!(get(&edge, "/alpha").status, 200);
}

/// Accepts connections and never answers; counts them.
struct SilentServer {
    port: u16,
    arrived: Arc<AtomicUsize>,
}

impl SilentServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let arrived = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&arrived);
        thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        Self { port, arrived }
    }

    fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }
}

#[test]
fn a_component_waiting_on_a_silent_upstream_gets_504() {
    let silent = SilentServer::start();
    let manifest = format!(
        r#"
spin_manifest_version = 2
[[trigger.http]]
route = "/wait"
component = "wait"

[component.wait]
source = "dist/spin/wait.wasm"
allowed_outbound_hosts = ["http://127.0.0.1:{port}"]
variables = {{ probe_upstream = "http://127.0.0.1:{port}/hang" }}
[component.wait.tool.edge]
timeout_ms = 700
"#,
        port = silent.port
    );
    let app = App::new(&manifest, &["wait"]);
    let edge = app.start(|_| {});
    // The probe gives its upstream 5 s; the host's 700 ms deadline ends the wait first.
    assert_json_error(&get(&edge, "/wait"), 504, "timeout");
}

#[test]
fn outbound_requests_follow_each_components_allow_list() {
    let upstream = RecordingServer::start(200, "pong");
    let manifest = format!(
        r#"
spin_manifest_version = 2
[variables]
upstream = {{ required = true }}

[[trigger.http]]
route = "/allowed"
component = "allowed"
[[trigger.http]]
route = "/wildcard"
component = "wildcard"
[[trigger.http]]
route = "/other-port"
component = "other-port"
[[trigger.http]]
route = "/none"
component = "none"

[component.allowed]
source = "dist/spin/allowed.wasm"
allowed_outbound_hosts = ["{{{{ upstream }}}}"]
variables = {{ probe_upstream = "{{{{ upstream }}}}/echo" }}

[component.wildcard]
source = "dist/spin/wildcard.wasm"
allowed_outbound_hosts = ["http://127.0.0.1:*"]
variables = {{ probe_upstream = "{{{{ upstream }}}}/echo" }}

[component.other-port]
source = "dist/spin/other-port.wasm"
allowed_outbound_hosts = ["http://127.0.0.1:{other}", "https://*.supabase.co"]
variables = {{ probe_upstream = "{{{{ upstream }}}}/echo" }}

[component.none]
source = "dist/spin/none.wasm"
variables = {{ probe_upstream = "{{{{ upstream }}}}/echo" }}
"#,
        other = free_port()
    );
    let app = App::new(&manifest, &["allowed", "wildcard", "other-port", "none"]);
    let edge = app.start(|cmd| {
        cmd.env(
            "SPIN_VARIABLE_UPSTREAM",
            format!("http://127.0.0.1:{}", upstream.port),
        );
    });

    for path in ["/allowed", "/wildcard"] {
        let report = get(&edge, path).json();
        assert_eq!(report["upstream"]["status"], 200, "{path}: {report}");
        assert_eq!(report["upstream"]["body"], "pong", "{path}");
    }
    for path in ["/other-port", "/none"] {
        let response = get(&edge, path);
        assert_eq!(
            response.status,
            200,
            "the component handles the refusal: {}",
            body_text(&response)
        );
        let error = response.json()["upstream"]["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            error.contains("not allowed"),
            "{path}: the component sees a refusal, got {error:?}"
        );
    }
    assert_eq!(
        upstream.recorded().len(),
        2,
        "only the allowed components reached the upstream"
    );
    let denied: Vec<_> = edge
        .logs()
        .lines()
        .filter(|l| l.contains(r#""msg":"outbound request denied""#))
        .map(str::to_owned)
        .collect();
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(denied.iter().any(|l| l.contains(r#""component":"none""#)));
    assert!(
        denied
            .iter()
            .all(|l| l.contains(&format!("http://127.0.0.1:{}", upstream.port))),
        "{denied:?}"
    );
    assert!(
        denied.iter().all(|l| !l.contains("/echo")),
        "paths are not logged"
    );
}

#[test]
fn a_trapping_component_gets_500_and_the_next_request_succeeds() {
    let manifest = TWO_ROUTES.replace("route = \"/alpha\"", "route = \"/alpha/...\"");
    let app = App::new(&manifest, &["alpha", "beta"]);
    let edge = app.start(|_| {});

    for _ in 0..3 {
        assert_json_error(&get(&edge, "/alpha/trap"), 500, "component_failed");
        let next = get(&edge, "/alpha");
        assert_eq!(next.status, 200, "{}", body_text(&next));
        assert_eq!(next.json()["message"], "alpha says hello");
    }
    assert!(
        edge.logs()
            .lines()
            .any(|l| l.contains(r#""msg":"component failed""#)
                && l.contains(r#""component":"alpha""#)),
        "{}",
        edge.logs()
    );
}

/// `alpha` may serve `reuse` requests per instance (and has a 500 ms deadline); `beta`
/// keeps the default, a fresh instance per request.
fn reusing(reuse: u32) -> String {
    TWO_ROUTES
        .replace("route = \"/alpha\"", "route = \"/alpha/...\"")
        .replace(
            "[component.beta]",
            &format!(
                "[component.alpha.tool.edge]\nreuse = {reuse}\ntimeout_ms = 500\n\n[component.beta]"
            ),
        )
}

/// The probe's count of requests its instance has served, this one included. An instance is
/// put back a moment after its response has gone out (when its handler returns), so the
/// next request waits for that moment: these tests are about which instance serves, not how
/// soon.
fn instance_requests(edge: &Service, path: &str) -> u64 {
    let exchange = get(edge, path);
    assert_eq!(exchange.status, 200, "{path}: {}", body_text(&exchange));
    thread::sleep(Duration::from_millis(50));
    exchange.json()["instance_requests"].as_u64().unwrap()
}

#[test]
fn a_component_with_reuse_serves_that_many_requests_per_instance_and_the_others_fresh_ones() {
    let app = App::new(&reusing(3), &["alpha", "beta"]);
    let edge = app.start(|_| {});

    let alpha: Vec<u64> = (0..7).map(|_| instance_requests(&edge, "/alpha")).collect();
    assert_eq!(
        alpha,
        [1, 2, 3, 1, 2, 3, 1],
        "one instance, then the next, in turn"
    );
    let beta: Vec<u64> = (0..3).map(|_| instance_requests(&edge, "/beta")).collect();
    assert_eq!(beta, [1, 1, 1], "no reuse set: a fresh instance every time");
    let ready = edge.logs();
    assert!(
        ready
            .lines()
            .any(|l| l.contains(r#""msg":"component ready""#)
                && l.contains(r#""component":"alpha""#)
                && l.contains(r#""reuse":"3""#)),
        "{ready}"
    );
}

#[test]
fn a_kept_instance_is_let_go_after_a_trap_a_deadline_or_a_large_body_of_memory() {
    let app = App::new(&reusing(64), &["alpha", "beta"]);
    let edge = app.start(|_| {});

    assert_eq!(instance_requests(&edge, "/alpha"), 1);
    assert_eq!(instance_requests(&edge, "/alpha"), 2);
    assert_json_error(&get(&edge, "/alpha/trap"), 500, "component_failed");
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        instance_requests(&edge, "/alpha"),
        1,
        "after a trap: a fresh instance"
    );

    assert_eq!(instance_requests(&edge, "/alpha"), 2);
    assert_json_error(&get(&edge, "/alpha/busy"), 504, "timeout");
    assert_eq!(
        instance_requests(&edge, "/alpha"),
        1,
        "after the deadline: a fresh instance (a kept one still gets each request's own deadline)"
    );

    assert_eq!(instance_requests(&edge, "/alpha"), 2);
    assert_eq!(instance_requests(&edge, "/alpha/grow"), 3);
    assert_eq!(
        instance_requests(&edge, "/alpha"),
        1,
        "an instance grown by 16 MiB gives its memory back instead of waiting"
    );
}

#[test]
fn concurrent_requests_to_a_reusing_component_each_get_an_instance_of_their_own() {
    let app = App::new(&reusing(1000), &["alpha", "beta"]);
    let edge = app.start(|_| {});
    let url = edge.url("/alpha");
    let counts: Vec<u64> = thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    (0..25)
                        .map(|_| {
                            let exchange = request("GET", &url, &[], b"");
                            assert_eq!(
                                exchange.status,
                                200,
                                "{}",
                                String::from_utf8_lossy(&exchange.body)
                            );
                            exchange.json()["instance_requests"].as_u64().unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(counts.len(), 200);
    // Each instance reports 1, 2, .., n, one request at a time, so no count is reported more
    // often than the one below it; and most requests found an instance kept for them.
    let mut seen = std::collections::BTreeMap::<u64, usize>::new();
    for count in &counts {
        *seen.entry(*count).or_default() += 1;
    }
    let mut previous = usize::MAX;
    for (count, times) in &seen {
        assert!(
            *times <= previous,
            "count {count} reported more often than the one below: {seen:?}"
        );
        previous = *times;
    }
    assert!(
        seen[&1] <= 100,
        "fresh instances for most requests: {seen:?}"
    );
    assert_eq!(seen.values().sum::<usize>(), 200);
}

const VARIABLES: &str = r#"
spin_manifest_version = 2
[variables]
greeting = { default = "hello" }
target = { required = true }
service_key = { required = true, secret = true }
suffix = { default = "!" }

[[trigger.http]]
route = "/vars/..."
component = "vars"

[component.vars]
source = "dist/spin/vars.wasm"
[component.vars.variables]
probe_message = "{{ greeting }}, {{target}}{{ suffix }}"
service_key = "{{ service_key }}"
plain = "no templates here"
"#;

#[test]
fn variables_resolve_templates_defaults_and_the_environment() {
    let app = App::new(VARIABLES, &["vars"]);
    let edge = app.start(|cmd| {
        cmd.env("SPIN_VARIABLE_TARGET", "world")
            .env("SPIN_VARIABLE_SERVICE_KEY", "s3cr3t-from-env")
            .env("SPIN_VARIABLE_SUFFIX", "?");
    });
    let report = get(&edge, "/vars/x?config=PLAIN").json();
    assert_eq!(report["message"], "hello, world?");
    assert_eq!(report["config"], "no templates here");
    assert_secret_bound_only_through_component_variables(&edge);
}

/// The probe's `SERVICE_KEY` binding carries the secret from the environment; the
/// application variable `TARGET`, which the component does not bind, never reaches it; and
/// the secret never reaches the host's output.
fn assert_secret_bound_only_through_component_variables(edge: &Service) {
    assert_eq!(
        get(edge, "/vars/x?config=SERVICE_KEY").json()["config"],
        "s3cr3t-from-env"
    );
    assert_eq!(
        get(edge, "/vars/x?config=TARGET").json()["config"],
        serde_json::Value::Null,
        "application variables reach a component only through its own variables"
    );
    assert!(
        !edge.logs().contains("s3cr3t-from-env"),
        "a secret reached the host's output:\n{}",
        edge.logs()
    );
}

#[test]
fn env_files_supply_variables_and_the_environment_wins() {
    let app = App::new(VARIABLES, &["vars"]);
    let first = app.write(
        "first.env",
        "# comment\nSPIN_VARIABLE_TARGET=file-world\nSPIN_VARIABLE_SERVICE_KEY=first\nSPIN_VARIABLE_GREETING=hi\n",
    );
    let second = app.write(
        "second.env",
        "SPIN_VARIABLE_SERVICE_KEY='second file'\nSPIN_VARIABLE_SUFFIX=\"...\"\n",
    );
    let edge = app.start(|cmd| {
        cmd.arg("--env-file")
            .arg(&first)
            .arg("--env-file")
            .arg(&second)
            .env("SPIN_VARIABLE_GREETING", "hey");
    });
    let report = get(&edge, "/vars/x?config=SERVICE_KEY").json();
    assert_eq!(
        report["message"], "hey, file-world...",
        "env beats the files"
    );
    assert_eq!(
        report["config"], "second file",
        "a later file beats an earlier one"
    );
}

#[test]
fn a_required_variable_without_value_stops_startup_naming_it() {
    let app = App::new(VARIABLES, &["vars"]);
    let output = app.fail_to_start(|cmd| {
        cmd.env("SPIN_VARIABLE_TARGET", "world");
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`service_key`"), "{stderr}");
    assert!(stderr.contains("SPIN_VARIABLE_SERVICE_KEY"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one clear line, no backtrace: {stderr}"
    );
}

#[test]
fn startup_failures_are_one_clear_line() {
    let one_line = |output: &Output| {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(stderr.starts_with("edge: error: "), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    };

    let missing_file = App::new(TWO_ROUTES, &["alpha"]);
    let stderr = one_line(&missing_file.fail_to_start(|_| {}));
    assert!(stderr.contains("beta.wasm"), "{stderr}");
    assert!(stderr.contains("cargo xtask build"), "{stderr}");

    // A forced flavour the file does not match.
    let spin_build = App::new(TWO_ROUTES, &["beta"]);
    spin_build.add_probe("spin", "wasi", "alpha");
    let stderr = one_line(&spin_build.fail_to_start(|cmd| {
        cmd.args(["--flavour", "wasi"]);
    }));
    assert!(stderr.contains("component `alpha`"), "{stderr}");
    assert!(stderr.contains("Spin-flavour build"), "{stderr}");
    assert!(stderr.contains("fermyon:spin/variables"), "{stderr}");
    let wasi_build = App::new(TWO_ROUTES, &["alpha", "beta"]);
    let stderr = one_line(&wasi_build.fail_to_start(|cmd| {
        cmd.args(["--flavour", "spin", "--components"])
            .arg(wasi_build.dir.join("dist/wasi"));
    }));
    assert!(stderr.contains("WASI-flavour build"), "{stderr}");
    assert!(stderr.contains("dist/spin"), "{stderr}");

    let bad_manifest = App::new("spin_manifest_version = 1\n", &[]);
    let stderr = one_line(&bad_manifest.fail_to_start(|_| {}));
    assert!(stderr.contains("spin_manifest_version"), "{stderr}");

    let bad_host = App::new(
        &TWO_ROUTES.replace(
            "[component.beta]\n",
            "[component.beta]\nallowed_outbound_hosts = [\"example.com\"]\n",
        ),
        &["alpha", "beta"],
    );
    let stderr = one_line(&bad_host.fail_to_start(|_| {}));
    assert!(stderr.contains("component `beta`"), "{stderr}");
    assert!(stderr.contains("example.com"), "{stderr}");

    // The probe's memory starts above 1 MiB, so a 1 MiB pool slot cannot hold it.
    let small_pool = App::new(TWO_ROUTES, &["alpha", "beta"]);
    let stderr = one_line(&small_pool.fail_to_start(|cmd| {
        cmd.args(["--max-memory-mb", "1"]);
    }));
    assert!(stderr.contains("alpha.wasm"), "{stderr}");
    assert!(stderr.contains("pooling allocator"), "{stderr}");

    // Every component keeps an instance slot and room for one body of its own.
    let few_slots = App::new(TWO_ROUTES, &["alpha", "beta"]);
    let stderr = one_line(&few_slots.fail_to_start(|cmd| {
        cmd.args(["--max-instances", "1"]);
    }));
    assert!(stderr.contains("--max-instances 1"), "{stderr}");
    let small_budget = App::new(TWO_ROUTES, &["alpha", "beta"]);
    let stderr = one_line(&small_budget.fail_to_start(|cmd| {
        cmd.args(["--max-buffered-mb", "1"]);
    }));
    assert!(stderr.contains("--max-buffered-mb"), "{stderr}");
    assert!(stderr.contains("2097152 bytes"), "{stderr}");
}

#[test]
fn the_components_flag_points_at_another_directory() {
    let app = App::new(TWO_ROUTES, &[]);
    let elsewhere = app.dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    for name in ["alpha", "beta"] {
        std::fs::copy(
            probe_artifact("wasi/probe.wasm"),
            elsewhere.join(format!("{name}.wasm")),
        )
        .unwrap();
    }
    let edge = app.start(|cmd| {
        cmd.arg("--components").arg(&elsewhere);
    });
    assert_eq!(get(&edge, "/alpha").status, 200);
}

#[test]
fn the_access_log_has_one_line_per_request_and_no_headers_or_bodies() {
    let app = App::new(TWO_ROUTES, &["alpha", "beta"]);
    let edge = app.start(|_| {});
    let response = request(
        "POST",
        &edge.url("/beta/logged?token=query-secret"),
        &[
            ("x-correlation-id", "corr-42"),
            ("authorization", "Bearer header-secret"),
        ],
        b"body-secret",
    );
    assert_eq!(response.status, 200);
    let line = access_line(&edge, "/beta/logged");
    let fields: Vec<&str> = line
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        vec![
            "component",
            "correlation_id",
            "duration_ms",
            "level",
            "method",
            "msg",
            "path",
            "route",
            "status"
        ]
    );
    assert_eq!(line["method"], "POST");
    assert_eq!(line["route"], "/beta/...");
    assert_eq!(line["component"], "beta");
    assert_eq!(line["status"], 200);
    assert_eq!(line["correlation_id"], "corr-42");
    assert!(line["duration_ms"].is_u64());
    let logs = edge.logs();
    for secret in ["query-secret", "header-secret", "body-secret"] {
        assert!(!logs.contains(secret), "{secret} reached the logs:\n{logs}");
    }
    assert!(
        logs.contains(r#""msg":"probe answered""#),
        "component stderr is passed through:\n{logs}"
    );
}

#[test]
fn concurrent_requests_all_succeed() {
    let app = App::new(TWO_ROUTES, &["alpha", "beta"]);
    let edge = app.start(|cmd| {
        cmd.args(["--max-instances", "2"]);
    });
    let url = edge.url("/beta/concurrent");
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            thread::spawn(move || request("GET", &url, &[], b"").status)
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), 200);
    }
}

#[test]
fn a_route_holding_every_slot_it_may_leaves_the_others_one_and_its_next_request_gets_503() {
    // Fails before per-component slots: the third hog takes the last slot and /quick waits
    // out its deadline for 503.
    let silent = SilentServer::start();
    let manifest = format!(
        r#"
spin_manifest_version = 2
[[trigger.http]]
route = "/hog"
component = "hog"
[[trigger.http]]
route = "/quick"
component = "quick"

[component.hog]
source = "dist/spin/hog.wasm"
allowed_outbound_hosts = ["http://127.0.0.1:{port}"]
variables = {{ probe_upstream = "http://127.0.0.1:{port}/hang" }}
[component.hog.tool.edge]
timeout_ms = 4000

[component.quick]
source = "dist/spin/quick.wasm"
[component.quick.tool.edge]
timeout_ms = 2000
"#,
        port = silent.port
    );
    let app = App::new(&manifest, &["hog", "quick"]);
    // Two components, three slots: each keeps one, one is shared.
    let edge = app.start(|cmd| {
        cmd.args(["--max-instances", "3"]);
    });

    // The third hog request starts first (its deadline runs while its body is unsent), so it
    // is still waiting for a slot at its deadline while the first two hold theirs.
    let mut late = TcpStream::connect(("127.0.0.1", edge.port)).unwrap();
    late.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        late,
        "POST /hog HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-length: 4\r\n\r\n"
    )
    .unwrap();
    thread::sleep(Duration::from_millis(500));
    let hogs: Vec<_> = (0..2)
        .map(|_| {
            let url = edge.url("/hog");
            thread::spawn(move || request("GET", &url, &[], b""))
        })
        .collect();
    assert!(
        wait_for(|| silent.arrived() == 2),
        "the two hogs did not reach their upstream"
    );
    late.write_all(b"ping").unwrap();

    for _ in 0..5 {
        let started = Instant::now();
        let quick = get(&edge, "/quick");
        assert_eq!(quick.status, 200, "{}", body_text(&quick));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "/quick waited {:?} for its slot",
            started.elapsed()
        );
    }
    assert_eq!(silent.arrived(), 2, "a third hog got an instance");

    let refused = read_exchange(late).expect("no answer to the third hog");
    assert_json_error(&refused, 503, "overloaded");
    assert_eq!(refused.header("retry-after"), Some("1"));
    for hog in hogs {
        assert_json_error(&hog.join().unwrap(), 504, "timeout");
    }
    assert_eq!(get(&edge, "/quick").status, 200);
}

/// Reads a whole `connection: close` response from `stream`; `None` when the connection ends
/// (or times out) without a complete head.
fn read_exchange(mut stream: TcpStream) -> Option<Exchange> {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if let Some(length) = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(length);
    }
    Some(Exchange {
        method: String::new(),
        path: String::new(),
        status,
        headers,
        body,
    })
}

/// Opens a connection and sends a request head with `headers`, no body.
fn send_head(service: &Service, path: &str, headers: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", service.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    stream
}

/// The resident set of process `pid`, in KiB (`VmRSS` in /proc/<pid>/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

const HOLD: &str = r#"
spin_manifest_version = 2
[[trigger.http]]
route = "/hold/..."
component = "hold"
[component.hold]
source = "dist/spin/hold.wasm"
"#;

#[test]
fn a_body_that_finds_no_room_in_the_byte_budget_is_refused_unread() {
    // Fails before the budget: the host waits for the body it was never sent.
    let app = App::new(HOLD, &["hold"]);
    // 2 MiB: the component's own 1 MiB (its body limit) and 1 MiB shared.
    let edge = app.start(|cmd| {
        cmd.args(["--max-buffered-mb", "2"]);
    });
    let declared = format!("content-length: {MIB}\r\n");
    let hold = || {
        let mut holder = send_head(&edge, "/hold/held", &declared);
        holder.write_all(b"sixteen bytes...").unwrap();
        holder
    };
    let mut holders = vec![hold(), hold()];

    // The holders' heads may still be on their way to the host: ask until it answers. A
    // request the host admitted instead waits for its body; closing it gives its room back.
    // An ask that overtook a holder may have left that holder without room (it was answered
    // 503): such a holder is replaced before the next ask, so both end up admitted.
    let mut refused = None;
    for attempt in 0..20 {
        for holder in &mut holders {
            holder.set_nonblocking(true).unwrap();
            let answered = holder.peek(&mut [0u8; 1]).is_ok_and(|n| n > 0);
            holder.set_nonblocking(false).unwrap();
            if answered {
                *holder = hold();
            }
        }
        let path = format!("/hold/ask-{attempt}");
        let asking = send_head(
            &edge,
            &path,
            "content-length: 1000\r\nx-correlation-id: no-room-1\r\n",
        );
        asking
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut first = [0u8; 1];
        if asking.peek(&mut first).is_ok_and(|n| n > 0) {
            asking
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            refused = read_exchange(asking).map(|exchange| (path, exchange));
            break;
        }
    }
    let (path, refused) =
        refused.expect("no answer without the body: the host waited for a body it had no room for");
    let body = assert_json_error(&refused, 503, "overloaded");
    assert!(
        body["message"].as_str().unwrap().contains("request bodies"),
        "{body}"
    );
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.header("connection"), Some("close"));
    assert_eq!(refused.header("x-correlation-id"), Some("no-room-1"));
    let line = access_line(&edge, &path);
    assert_eq!(line["outcome"], "overloaded", "{line}");
    assert_eq!(line["component"], "hold");

    // A chunked body announces nothing: it is refused at its first bytes.
    let mut chunked = send_head(&edge, "/hold/chunked", "transfer-encoding: chunked\r\n");
    let _ = chunked.write_all(b"a\r\n0123456789\r\n");
    let refused = read_exchange(chunked).expect("no answer to the chunked body");
    assert_json_error(&refused, 503, "overloaded");

    // Room comes back when the holders go.
    drop(holders);
    let mut answered = None;
    for _ in 0..100 {
        let retry = request("POST", &edge.url("/hold/again"), &[], &[b'x'; 1000]);
        if retry.status == 200 {
            answered = Some(retry);
            break;
        }
        assert_json_error(&retry, 503, "overloaded");
        thread::sleep(Duration::from_millis(50));
    }
    let answered = answered.expect("the room held by closed connections never came back");
    assert_eq!(answered.json()["body_len"], 1000);
}

/// How one flood connection ended: the status it got, if any.
fn flood_one(port: u16, chunked: bool, ready: &mpsc::Sender<()>, go: &AtomicBool) -> Option<u16> {
    const PIECE: usize = 64 * 1024;
    const BEFORE_HOLD: usize = 12; // pieces sent before holding: 768 KiB of the 1 MiB body
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    let framing = if chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {MIB}")
    };
    let piece = vec![b'f'; PIECE];
    let send = |stream: &mut TcpStream| -> std::io::Result<()> {
        if chunked {
            write!(stream, "{PIECE:x}\r\n")?;
            stream.write_all(&piece)?;
            stream.write_all(b"\r\n")
        } else {
            stream.write_all(&piece)
        }
    };
    let mut open = write!(
        stream,
        "POST /flood HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n{framing}\r\n\r\n"
    )
    .is_ok();
    for _ in 0..BEFORE_HOLD {
        open = open && send(&mut stream).is_ok();
        thread::sleep(Duration::from_millis(40));
    }
    let _ = ready.send(());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !go.load(Ordering::SeqCst) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    for _ in BEFORE_HOLD..MIB / PIECE {
        open = open && send(&mut stream).is_ok();
    }
    if open && chunked {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    read_exchange(stream).map(|exchange| exchange.status)
}

#[test]
fn a_flood_of_slow_large_bodies_to_one_route_keeps_memory_bounded_and_other_routes_answering() {
    // Fails before the budget: every flood body is read (96 x 768 KiB held at once; the RSS
    // grew by about 100 MiB). With a budget but no reserve per component, /quick's bodies
    // would find no room.
    const FLOODERS: usize = 96;
    const BUDGET_MIB: u64 = 8;
    let manifest = r#"
spin_manifest_version = 2
[[trigger.http]]
route = "/flood"
component = "flood"
[[trigger.http]]
route = "/quick"
component = "quick"

[component.flood]
source = "dist/spin/flood.wasm"

[component.quick]
source = "dist/spin/quick.wasm"
[component.quick.tool.edge]
max_body_bytes = 65536
"#;
    let app = App::new(manifest, &["flood", "quick"]);
    let edge = app.start(|cmd| {
        cmd.args(["--max-buffered-mb", &BUDGET_MIB.to_string()])
            .args(["--max-instances", "4"]);
    });
    // Warm up both routes (one full-size body included) before the baseline.
    assert_eq!(
        request("POST", &edge.url("/flood"), &[], &vec![b'w'; MIB]).status,
        200
    );
    for _ in 0..3 {
        assert_eq!(
            request("POST", &edge.url("/quick"), &[], &[b'q'; 1024]).status,
            200
        );
    }
    thread::sleep(Duration::from_millis(200));
    let before = rss_kib(edge.pid());

    let go = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready) = mpsc::channel();
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|n| {
            let (port, ready, go) = (edge.port, ready_tx.clone(), Arc::clone(&go));
            thread::spawn(move || flood_one(port, n % 2 == 1, &ready, &go))
        })
        .collect();
    for _ in 0..FLOODERS {
        ready
            .recv_timeout(Duration::from_secs(60))
            .expect("a flood connection never got its first 768 KiB out");
    }

    // Every flood connection is open and has sent what it will before holding: what the
    // host holds now is as much as it ever will.
    let mut during = rss_kib(edge.pid());
    let mut slowest = Duration::ZERO;
    for n in 0..20 {
        let started = Instant::now();
        let quick = request(
            "POST",
            &edge.url(&format!("/quick?n={n}")),
            &[],
            &[b'q'; 1024],
        );
        slowest = slowest.max(started.elapsed());
        assert_eq!(quick.status, 200, "{}", body_text(&quick));
        assert_eq!(quick.json()["body_len"], 1024);
        during = during.max(rss_kib(edge.pid()));
    }
    go.store(true, Ordering::SeqCst);
    let statuses: Vec<Option<u16>> = flooders.into_iter().map(|f| f.join().unwrap()).collect();
    let count = |status| statuses.iter().filter(|s| **s == Some(status)).count();
    let (served, refused) = (count(200), count(503));
    eprintln!(
        "edge RSS before the flood {before} KiB, during {during} KiB (+{} KiB); budget {BUDGET_MIB} MiB; \
         {FLOODERS} flood connections: {served} served, {refused} refused with 503, {} other; \
         slowest /quick {slowest:?}",
        during.saturating_sub(before),
        FLOODERS - served - refused,
    );

    // The host may hold the budget, hyper's buffer for every flood connection (64 KiB each)
    // and the instances /quick runs meanwhile; 8 MiB covers the latter and the allocator.
    let flood_buffers_kib = u64::try_from(FLOODERS).unwrap() * 64;
    let bound_kib = BUDGET_MIB * 1024 + flood_buffers_kib + 8 * 1024;
    assert!(
        during.saturating_sub(before) <= bound_kib,
        "RSS grew by {} KiB during the flood, more than the {bound_kib} KiB the budget allows \
         (before {before} KiB, during {during} KiB)",
        during.saturating_sub(before)
    );
    assert!(
        slowest < Duration::from_secs(2),
        "/quick took {slowest:?} during the flood"
    );
    assert!(refused > 0, "no flood request was refused: {statuses:?}");
    assert!(
        served > 0,
        "no flood request was served after the hold: {statuses:?}"
    );
}

#[test]
fn connections_beyond_max_connections_wait_in_the_backlog() {
    // Fails before the limit: the third connection is served at once.
    let app = App::new(TWO_ROUTES, &["alpha", "beta"]);
    let edge = app.start(|cmd| {
        cmd.args(["--max-connections", "2"]);
    });
    // Two keep-alive connections, each shown to be accepted by one answered request.
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(("127.0.0.1", edge.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        assert_eq!(keep_alive_get(&mut stream, "/alpha"), 200);
        open.push(stream);
    }

    let url = edge.url("/beta/third");
    let (done_tx, done) = mpsc::channel();
    let third = thread::spawn(move || {
        let response = request("GET", &url, &[], b"");
        let _ = done_tx.send(response.status);
    });
    assert!(
        done.recv_timeout(Duration::from_secs(1)).is_err(),
        "a third connection was served while two were open"
    );
    drop(open.pop());
    assert_eq!(
        done.recv_timeout(Duration::from_secs(10)),
        Ok(200),
        "the waiting connection was not served once one closed"
    );
    third.join().unwrap();
}

/// One `GET` on a kept-alive connection; returns the status after reading the whole response.
fn keep_alive_get(stream: &mut TcpStream, path: &str) -> u16 {
    write!(stream, "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn the_cache_dir_keeps_compiled_components_for_the_next_start() {
    let app = App::new(TWO_ROUTES, &["alpha", "beta"]);
    let cache = app.dir.join("cache");
    let mut sources = Vec::new();
    for start in ["first", "second"] {
        let edge = app.start(|cmd| {
            cmd.arg("--cache-dir").arg(&cache);
        });
        assert_eq!(get(&edge, "/alpha").status, 200, "{start} start");
        for component in ["alpha", "beta"] {
            sources.push(ready_line(&edge, component)["cache"].clone());
        }
    }
    // Compiled and stored once, then mapped from the cache on the next start.
    assert_eq!(
        sources,
        ["stored", "stored", "hit", "hit"].map(serde_json::Value::from),
    );
    let cached = walk_files(&cache);
    assert_eq!(
        cached.len(),
        1,
        "the two routes share one component file, so one compiled file and no temporaries: {cached:?}"
    );
    let without = app.start(|_| {});
    assert_eq!(ready_line(&without, "alpha")["cache"], "off");
}

fn walk_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// An upstream that tells the test when a request arrived and answers only when released.
struct GatedServer {
    port: u16,
    arrived: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

impl GatedServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (arrived_tx, arrived) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let _ = arrived_tx.send(());
                let _ = release_rx.recv();
                let mut out = stream;
                let _ = out.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nlate",
                );
            }
        });
        Self {
            port,
            arrived,
            release,
        }
    }
}

#[test]
fn sigterm_stops_accepting_and_finishes_the_request_in_flight() {
    let upstream = GatedServer::start();
    let manifest = format!(
        r#"
spin_manifest_version = 2
[[trigger.http]]
route = "/slow"
component = "slow"
[component.slow]
source = "dist/spin/slow.wasm"
allowed_outbound_hosts = ["http://127.0.0.1:{port}"]
variables = {{ probe_upstream = "http://127.0.0.1:{port}/gate" }}
"#,
        port = upstream.port
    );
    let app = App::new(&manifest, &["slow"]);
    let port = free_port();
    let log = app.dir.join("edge.log");
    let mut child = app
        .command(port)
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(|| TcpStream::connect(("127.0.0.1", port)).is_ok()),
        "edge did not listen"
    );

    let url = format!("http://127.0.0.1:{port}/slow");
    let in_flight = thread::spawn(move || request("GET", &url, &[], b""));
    upstream
        .arrived
        .recv_timeout(Duration::from_secs(30))
        .expect("the component reached the upstream");

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert!(
        wait_for(|| TcpStream::connect(("127.0.0.1", port)).is_err()),
        "the edge still accepts connections after SIGTERM"
    );

    upstream.release.send(()).unwrap();
    let response = in_flight.join().unwrap();
    assert_eq!(response.status, 200, "{}", body_text(&response));
    assert_eq!(response.json()["upstream"]["body"], "late");

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "edge did not exit after SIGTERM");
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
}

// ---- the Spin flavour -------------------------------------------------------------------

/// The host's "component ready" line for `component`.
fn ready_line(service: &Service, component: &str) -> serde_json::Value {
    service
        .logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["msg"] == "component ready" && line["component"] == component)
        .unwrap_or_else(|| panic!("no ready line for {component}:\n{}", service.logs()))
}

#[test]
fn a_spin_build_reads_its_variables_through_the_spin_interface() {
    let app = App::new(VARIABLES, &[]);
    app.add_probe("spin", "spin", "vars");
    let edge = app.start(|cmd| {
        cmd.arg("--components")
            .arg(app.dir.join("dist/spin"))
            .env("SPIN_VARIABLE_TARGET", "world")
            .env("SPIN_VARIABLE_SERVICE_KEY", "s3cr3t-from-env")
            .env("SPIN_VARIABLE_SUFFIX", "?");
    });
    let ready = ready_line(&edge, "vars");
    assert_eq!(ready["flavour"], "spin", "{ready}");
    assert_eq!(ready["variables"], "plain,probe_message,service_key");
    assert_eq!(
        ready["environment"], "",
        "variables are not environment variables"
    );

    let report = get(&edge, "/vars/x?config=PLAIN").json();
    assert_eq!(
        report["message"], "hello, world?",
        "templates, defaults, env"
    );
    assert_eq!(report["config"], "no templates here");
    assert_eq!(
        report["missing"],
        serde_json::Value::Null,
        "undefined is no value"
    );
    assert_secret_bound_only_through_component_variables(&edge);
}

#[test]
fn each_component_is_linked_as_the_flavour_it_was_built_for() {
    let app = App::new(TWO_ROUTES, &["alpha"]);
    app.add_probe("spin", "wasi", "beta");
    let edge = app.start(|_| {});
    assert_eq!(ready_line(&edge, "alpha")["flavour"], "wasi");
    assert_eq!(ready_line(&edge, "beta")["flavour"], "spin");
    assert_eq!(get(&edge, "/alpha").json()["message"], "alpha says hello");
    assert_eq!(get(&edge, "/beta/x").json()["message"], "beta says hello");
}

/// `edge` over the project's spin.toml and the real Spin builds (dist/spin), with the
/// variables `stack` hands to the components, compiled through the stacks' shared cache.
fn spin_builds_edge(stack: &Stack) -> Service {
    let root = stack::project_root();
    let dist = std::env::var_os("PULSER_DIST").map_or_else(|| root.join("dist"), PathBuf::from);
    let port = free_port();
    let mut cmd = Command::new(required_path("PULSER_EDGE_BIN"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SPIN_VARIABLE_") {
            cmd.env_remove(key);
        }
    }
    cmd.arg("--manifest")
        .arg(root.join("spin.toml"))
        .arg("--components")
        .arg(dist.join("spin"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--cache-dir")
        .arg(root.join("target/edge-cache"));
    for (name, value) in stack.vars() {
        cmd.env(format!("SPIN_VARIABLE_{name}"), value);
    }
    let edge = Service::start(cmd, port, "edge-spin").with_interrupt_on_drop();
    assert!(
        wait_for(|| edge.logs().contains("edge: listening on http://127.0.0.1:")),
        "no listening line:\n{}",
        edge.logs()
    );
    edge
}

/// One signed `/pulser/git-ops` request with a fresh request id, which must be dispatched.
fn git_ops(stack: &Stack, edge: &Service) {
    let body = serde_json::json!({
        "message": "from the spin build",
        "request_id": unique("spin"),
        "timestamp": unix_now(),
    });
    let answer = post_signed(
        stack,
        &edge.url("/pulser/git-ops"),
        &stack.var("PULSER_WEBHOOK_SECRET"),
        Scheme::Pulser,
        body.to_string().as_bytes(),
    );
    assert_eq!(
        answer.status,
        202,
        "{}\n{}",
        String::from_utf8_lossy(&answer.body),
        edge.logs()
    );
}

#[test]
fn the_spin_builds_answer_and_git_ops_dispatch_keeps_its_token_for_the_process() {
    let stack = Stack::builder().without_runtime().start();
    let edge = spin_builds_edge(&stack);
    for component in [
        "odoo-event-ingest",
        "push-to-odoo",
        "github-webhook",
        "git-ops-dispatch",
    ] {
        assert_eq!(ready_line(&edge, component)["flavour"], "spin");
    }
    assert_eq!(
        ready_line(&edge, "git-ops-dispatch")["key_value_stores"],
        "default"
    );
    let health = send(&stack, "GET", &edge.url("/push_to_odoo/health"), &[], b"");
    assert_eq!(health.status, 200, "{}", edge.logs());
    assert_eq!(health.json()["destination"]["paused"], false);

    git_ops(&stack, &edge);
    git_ops(&stack, &edge);
    assert_eq!(stack.github.dispatches().len(), 2);
    assert_eq!(
        stack.github.tokens_issued(),
        1,
        "the second request found the token in the key-value store"
    );

    // The store lives in the process: a new one mints again.
    drop(edge);
    let restarted = spin_builds_edge(&stack);
    git_ops(&stack, &restarted);
    assert_eq!(stack.github.tokens_issued(), 2);
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The Odoo side's Python helper (`clients/odoo/pulser_edge.py`) against the local stack:
//! it signs an ingest event and a `/pulser/git-ops` request the functions accept, and, as
//! Odoo's `/api/agent/apply`, verifies push_to_odoo's calls and applies each row once.
//!
//! Needs `python3` (a missing one fails loudly), `cargo xtask build` (dist/) and the tools
//! `cargo xtask test` points at.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use pulser_tests::bridge::{account_move, push_webhook};
use pulser_tests::e2e::unique;
use pulser_tests::stack::{self, Stack};

fn python() -> Command {
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONPATH", stack::project_root().join("clients/odoo"));
    cmd
}

/// Runs `script` with the module importable; its stdout, which must be one JSON value.
fn run(script: &str, env: &[(&str, String)]) -> serde_json::Value {
    let mut cmd = python();
    cmd.arg("-c").arg(script);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let output = cmd.output().unwrap_or_else(|e| {
        panic!("python3 is needed for this test (apt-get install python3): {e}")
    });
    assert!(
        output.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn an_event_signed_by_the_helper_is_stored_once() {
    let stack = stack::shared();
    let answers = run(
        "import json, os, pulser_edge as p\n\
         event = {'event_type': 'account.move.posted', 'resource_id': 42,\n\
                  'payload': {'amount': 120.5}, 'event_id': os.environ['EVENT_ID']}\n\
         first = p.post_event(os.environ['EDGE_URL'], os.environ['EDGE_HMAC_SECRET'], event)\n\
         again = p.post_event(os.environ['EDGE_URL'], os.environ['EDGE_HMAC_SECRET'], event)\n\
         wrong = p.post_event(os.environ['EDGE_URL'], 'not-the-secret', event)\n\
         print(json.dumps([first, again, wrong]))",
        &[
            ("EDGE_URL", stack.url("")),
            ("EDGE_HMAC_SECRET", stack.var("EDGE_HMAC_SECRET")),
            ("EVENT_ID", unique("py")),
        ],
    );
    assert_eq!(answers[0][0], 201, "{answers}");
    assert_eq!(answers[1][0], 200, "{answers}");
    assert_eq!(answers[1][1]["duplicate"], true, "{answers}");
    assert_eq!(answers[2][0], 401, "{answers}");
    assert_eq!(answers[2][1]["error"], "unauthorized", "{answers}");
}

#[test]
fn a_git_ops_request_signed_by_the_helper_dispatches_once() {
    let stack = Stack::builder().start();
    let answers = run(
        "import json, os, pulser_edge as p\n\
         fields = {'branch': 'gitops/from-python', 'message': 'from odoo', 'kv_key': 'version', 'kv_value': '7'}\n\
         first = p.git_ops(os.environ['EDGE_URL'], os.environ['SECRET'], fields, request_id='py-git-ops-1')\n\
         again = p.git_ops(os.environ['EDGE_URL'], os.environ['SECRET'], fields, request_id='py-git-ops-1')\n\
         print(json.dumps([first, again]))",
        &[
            ("EDGE_URL", stack.url("")),
            ("SECRET", stack.var("PULSER_WEBHOOK_SECRET")),
        ],
    );
    assert_eq!(answers[0][0], 202, "{answers}");
    assert!(answers[1][0].as_u64().unwrap() < 300, "{answers}");
    let dispatches = stack.github.dispatches();
    assert_eq!(
        dispatches.len(),
        1,
        "a retry with the same request_id dispatches once"
    );
    assert_eq!(dispatches[0]["client_payload"]["kv_value"], "7");
    assert_eq!(
        dispatches[0]["client_payload"]["request_id"],
        "py-git-ops-1"
    );
}

/// A Python `/api/agent/apply` built on `verify_apply` and `apply_once`, on a free port; it
/// prints its port, then one line per effect it applies.
const ODOO: &str = r#"
import http.server, json, os, sys, pulser_edge as p
applied = set()
class Apply(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            body = p.verify_apply(raw, self.headers, os.environ["ODOO_SIGNING_SECRET"], os.environ["ODOO_API_TOKEN"])
            def effect(action, args):
                print("effect", action, json.dumps(args, sort_keys=True), flush=True)
            answer, status = p.apply_once(lambda k: k in applied, applied.add, body, effect), 200
        except p.Refused as refused:
            answer, status = {"error": str(refused)}, 401
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Apply)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

struct Odoo {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    port: u16,
}

impl Odoo {
    fn start(signing_secret: &str, api_token: &str) -> Self {
        let mut child = python()
            .arg("-c")
            .arg(ODOO)
            .env("ODOO_SIGNING_SECRET", signing_secret)
            .env("ODOO_API_TOKEN", api_token)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 is needed for this test: {e}"));
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let port = lines
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the Python Odoo printed its port")
            .parse()
            .unwrap();
        Self { child, lines, port }
    }

    fn effects(&self) -> Vec<String> {
        self.lines
            .try_iter()
            .filter(|l| l.starts_with("effect "))
            .collect()
    }
}

impl Drop for Odoo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_helper_verifies_push_to_odoo_and_applies_each_row_once() {
    // The stack's secrets are fixed before it starts; the Python Odoo needs them first.
    let secrets = stack::DevSecrets::for_tests();
    let odoo = Odoo::start(
        &secrets.values["ODOO_SIGNING_SECRET"],
        &secrets.values["ODOO_API_TOKEN"],
    );
    let stack = Stack::builder()
        .secrets(secrets)
        .variable("ODOO_BASE_URL", &format!("http://127.0.0.1:{}", odoo.port))
        .start();
    let (id, _) = account_move(&stack);
    let first = push_webhook(&stack, id);
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.json()["status"], "applied", "{}", first.json());
    // The row is applied already: a redelivered webhook pushes nothing more.
    push_webhook(&stack, id);
    assert_eq!(
        stack.sql(&format!(
            "select status from odoo_action_outbox where id = {id}"
        )),
        "applied"
    );
    let effects = odoo.effects();
    assert_eq!(effects.len(), 1, "{effects:?}");
    assert!(
        effects[0].starts_with("effect account.move.post"),
        "{effects:?}"
    );
}

const REPEATED_CALL: &str = r#"
import json, pulser_edge as p
body = json.dumps({"action": "account.move.post", "args": {"id": 7}, "correlation_id": "c",
                   "idempotency_key": "k-1"}).encode()
headers = {"x-api-key": "token", "x-signature": p.sign(body, "new,old")}
applied, effects = set(), []
def once(raw, h):
    try:
        parsed = p.verify_apply(raw, h, "old,new", "token")
    except p.Refused as refused:
        return str(refused)
    return p.apply_once(lambda k: k in applied, applied.add, parsed, lambda a, x: effects.append(a))
print(json.dumps([once(body, headers), once(body, headers),
                  once(body, dict(headers, **{"x-api-key": "nope"})),
                  once(body + b" ", headers), effects]))
"#;

/// What push_to_odoo's retry after a lost answer looks like to Odoo: the same signed call
/// twice. The helper applies it once, and refuses a wrong key or a tampered body.
#[test]
fn the_helper_applies_a_repeated_call_once_and_refuses_forgeries() {
    let answers = run(REPEATED_CALL, &[]);
    assert_eq!(answers[0], serde_json::json!({"ok": true}));
    assert_eq!(
        answers[1],
        serde_json::json!({"ok": true, "duplicate": true})
    );
    assert_eq!(answers[2], "x-api-key does not match");
    assert_eq!(answers[3], "x-signature does not match the body");
    assert_eq!(answers[4], serde_json::json!(["account.move.post"]));
}

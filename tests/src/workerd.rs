//! Runs a worker-build output (`index.js` + `index_bg.wasm`) under real workerd, with text
//! bindings for its config and outbound fetch allowed to 127.0.0.1.

use std::path::Path;
use std::process::Command;

use crate::{Service, free_port};

/// Starts workerd serving the Worker in `worker_dir` on a free port. `bindings` become the
/// Worker's `env` (text bindings, which `env.secret` and `env.var` both read).
pub fn serve(
    workerd: &Path,
    worker_dir: &Path,
    name: &str,
    bindings: &[(String, String)],
) -> Service {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("pulser-workerd-{name}-{port}"));
    std::fs::create_dir_all(&dir).expect("workerd temp dir");
    for file in ["index.js", "index_bg.wasm"] {
        let from = worker_dir.join(file);
        std::fs::copy(&from, dir.join(file)).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (build the Workers flavour with `cargo xtask build`)",
                from.display()
            )
        });
    }
    let bindings: Vec<String> = bindings
        .iter()
        .map(|(key, value)| {
            format!(
                "    (name = {}, text = {}),",
                capnp_string(key),
                capnp_string(value)
            )
        })
        .collect();
    let config = format!(
        r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed "index.js"),
    (name = "index_bg.wasm", wasm = embed "index_bg.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  compatibilityFlags = ["nodejs_compat"],
  bindings = [
{bindings}
  ],
  globalOutbound = "loopback",
);
"#,
        bindings = bindings.join("\n"),
    );
    std::fs::write(dir.join("config.capnp"), config).expect("write config.capnp");
    let mut cmd = Command::new(workerd);
    cmd.arg("serve")
        .arg(dir.join("config.capnp"))
        .arg("--verbose");
    Service::start(cmd, port, &format!("workerd-{name}"))
}

/// A Cap'n Proto text literal.
fn capnp_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

//! Runs a worker-build output (`index.js` + `index_bg.wasm`) under real workerd, with text
//! bindings for its config, outbound fetch allowed to 127.0.0.1, and the compatibility date
//! and flags wrangler.toml deploys it with ([`Compatibility`]); optionally with a second
//! port that fires the Worker's `scheduled` event ([`serve_with_scheduler`]).

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Service, free_port, request};

/// The compatibility date and flags of every Worker in wrangler.toml: its top-level
/// `compatibility_date` and `compatibility_flags`, which no environment overrides
/// (tests/tests/manifests.rs holds both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compatibility {
    /// `compatibility_date`.
    pub date: String,
    /// `compatibility_flags` (absent: none).
    pub flags: Vec<String>,
}

impl Compatibility {
    /// What the project's wrangler.toml says; panics naming the file when it cannot tell.
    pub fn of_wrangler_toml() -> Self {
        let path = crate::stack::project_root().join("wrangler.toml");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Reads the two top-level keys from wrangler.toml's text.
    ///
    /// # Errors
    /// When the text is not TOML, the date is missing, or either key has another type.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: toml::Table = text.parse().map_err(|e| format!("not TOML: {e}"))?;
        let date = doc
            .get("compatibility_date")
            .ok_or("no top-level compatibility_date")?
            .as_str()
            .ok_or("compatibility_date: not a string")?
            .to_owned();
        let flags = match doc.get("compatibility_flags") {
            None => Vec::new(),
            Some(value) => value
                .as_array()
                .ok_or("compatibility_flags: not an array")?
                .iter()
                .map(|flag| {
                    flag.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("compatibility_flags: {flag:?} is not a string"))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self { date, flags })
    }

    /// The two fields of a workerd `Worker` that say the same.
    fn capnp(&self) -> String {
        let flags: Vec<String> = self.flags.iter().map(|f| capnp_string(f)).collect();
        format!(
            "compatibilityDate = {},\n  compatibilityFlags = [{}],",
            capnp_string(&self.date),
            flags.join(", ")
        )
    }
}

/// Starts workerd serving the Worker in `worker_dir` on a free port. `bindings` become the
/// Worker's `env` (text bindings, which `env.secret` and `env.var` both read).
pub fn serve(
    workerd: &Path,
    worker_dir: &Path,
    name: &str,
    bindings: &[(String, String)],
) -> Service {
    start(workerd, worker_dir, name, bindings, None)
}

/// Like [`serve`], plus a [`Scheduler`] that fires the Worker's `scheduled` event the way a
/// Cron Trigger does.
pub fn serve_with_scheduler(
    workerd: &Path,
    worker_dir: &Path,
    name: &str,
    bindings: &[(String, String)],
) -> (Service, Scheduler) {
    let scheduler = Scheduler { port: free_port() };
    let service = start(workerd, worker_dir, name, bindings, Some(scheduler));
    // workerd opens its sockets together, but wait for this one too rather than assume it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", scheduler.port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "workerd's scheduler socket {} did not open:\n{}",
            scheduler.port,
            service.logs()
        );
        thread::sleep(Duration::from_millis(50));
    }
    (service, scheduler)
}

/// Fires the `scheduled` event of the Worker [`serve_with_scheduler`] started. A second
/// Worker in the same workerd, bound to it as a service, calls `env.MAIN.scheduled(...)`:
/// the runtime's own entry to the handler, as for a Cron Trigger (miniflare fires cron
/// triggers the same way). With the `service_binding_extra_handlers` flag, which is
/// experimental (workerd then runs with `--experimental`), the call answers the runtime's
/// verdict on the run; only the scheduler Worker has the flag, never the Worker under test.
#[derive(Debug, Clone, Copy)]
pub struct Scheduler {
    port: u16,
}

impl Scheduler {
    /// Fires one scheduled event for `cron` and waits until the handler has finished;
    /// returns the runtime's verdict, `{"outcome": "ok", "noRetry": false}` for a handler that
    /// returned.
    pub fn fire(&self, cron: &str) -> serde_json::Value {
        let exchange = request(
            "POST",
            &format!("http://127.0.0.1:{}/", self.port),
            &[("x-cron", cron)],
            b"",
        );
        assert_eq!(
            exchange.status,
            200,
            "the scheduler worker failed: {}",
            String::from_utf8_lossy(&exchange.body)
        );
        exchange.json()
    }
}

/// The scheduler worker: fires the bound Worker's `scheduled` event with the cron of the
/// request's `x-cron` header and answers the runtime's verdict as JSON.
const SCHEDULER_JS: &str = r#"export default {
  async fetch(request, env) {
    const cron = request.headers.get("x-cron") ?? "";
    const result = await env.MAIN.scheduled({ cron, scheduledTime: new Date() });
    return Response.json(result);
  },
};
"#;

fn start(
    workerd: &Path,
    worker_dir: &Path,
    name: &str,
    bindings: &[(String, String)],
    scheduler: Option<Scheduler>,
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
    let compatibility = Compatibility::of_wrangler_toml();
    let (scheduler_service, scheduler_socket, scheduler_worker) = match scheduler {
        None => (String::new(), String::new(), String::new()),
        Some(scheduler) => {
            std::fs::write(dir.join("scheduler.js"), SCHEDULER_JS).expect("write scheduler.js");
            (
                "\n    (name = \"scheduler\", worker = .scheduler),".to_owned(),
                format!(
                    ",\n    (name = \"scheduler\", address = \"127.0.0.1:{}\", http = (), service = \"scheduler\")",
                    scheduler.port
                ),
                format!(
                    r#"
const scheduler :Workerd.Worker = (
  modules = [(name = "scheduler.js", esModule = embed "scheduler.js")],
  compatibilityDate = {date},
  compatibilityFlags = ["service_binding_extra_handlers"],
  bindings = [(name = "MAIN", service = "main")],
);
"#,
                    date = capnp_string(&compatibility.date),
                ),
            )
        }
    };
    let config = format!(
        r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "loopback", network = (allow = ["public", "private", "local"])),{scheduler_service}
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:{port}", http = (), service = "main"){scheduler_socket}
  ],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed "index.js"),
    (name = "index_bg.wasm", wasm = embed "index_bg.wasm"),
  ],
  {compatibility}
  bindings = [
{bindings}
  ],
  globalOutbound = "loopback",
);
{scheduler_worker}"#,
        compatibility = compatibility.capnp(),
        bindings = bindings.join("\n"),
    );
    std::fs::write(dir.join("config.capnp"), config).expect("write config.capnp");
    let mut cmd = Command::new(workerd);
    cmd.arg("serve")
        .arg(dir.join("config.capnp"))
        .arg("--verbose");
    if scheduler.is_some() {
        cmd.arg("--experimental");
    }
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

#[cfg(test)]
mod tests {
    use super::Compatibility;

    fn parsed(text: &str) -> Result<Compatibility, String> {
        Compatibility::parse(text)
    }

    #[test]
    fn the_top_level_date_and_flags_are_read() {
        let text = "# c\ncompatibility_date = \"2025-09-01\" # why\ncompatibility_flags = [\"a\", \"b\"]\n[env.x]\ncompatibility_date = \"1999-01-01\"\n";
        assert_eq!(
            parsed(text),
            Ok(Compatibility {
                date: "2025-09-01".into(),
                flags: vec!["a".into(), "b".into()],
            })
        );
    }

    #[test]
    fn no_flags_and_an_empty_list_are_both_none() {
        let none = parsed("compatibility_date = \"2025-09-01\"\n").map(|c| c.flags);
        assert_eq!(none, Ok(Vec::new()));
        let empty = parsed("compatibility_date = \"2025-09-01\"\ncompatibility_flags = []\n");
        assert_eq!(empty.map(|c| c.flags), Ok(Vec::new()));
    }

    #[test]
    fn any_toml_spelling_is_read_and_other_types_are_refused() {
        let multi_line =
            "compatibility_date = '2025-09-01'\ncompatibility_flags = [\n  \"a\",\n]\n";
        assert_eq!(
            parsed(multi_line),
            Ok(Compatibility {
                date: "2025-09-01".into(),
                flags: vec!["a".into()],
            })
        );
        assert!(parsed("[env.x]\ncompatibility_date = \"2025-09-01\"\n").is_err());
        assert!(parsed("compatibility_date = \"2025-09-01\" x\n").is_err());
        assert!(
            parsed("compatibility_date = \"2025-09-01\"\ncompatibility_flags = \"a\"\n").is_err()
        );
        assert!(
            parsed("compatibility_date = 2025-09-01\n").is_err(),
            "a TOML date, not a string"
        );
    }
}

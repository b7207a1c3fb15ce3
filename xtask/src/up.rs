//! `cargo xtask up`: the whole system on one machine, no cloud account, no Docker.
//!
//! Builds the Spin flavour of every function and the edge host, then runs the same stack the
//! end-to-end tests use (`pulser_tests::stack`, cell `edge-spin`) with its state in
//! `target/dev/`: PostgreSQL 15 with the Supabase roles and every migration, PostgREST 12 with
//! a minted `service_role` key, the Odoo and GitHub stand-ins, and the edge host serving every
//! route of spin.toml with the Spin builds, as `spin up` would (so git_ops_dispatch caches its
//! installation token in key-value). It
//! prints a signed curl per endpoint, writes `target/dev/stack.env`, and stops everything on
//! Ctrl-C or SIGTERM.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use pulser_tests::cell::Cell;
use pulser_tests::stack::{DevSecrets, Ports, Stack, write_private};

use crate::tools::Tools;
use crate::{Result, build};

/// Ports tried first (the usual local Supabase ones for the database side); any free port
/// otherwise.
const PREFERRED: Ports = Ports {
    edge: 3000,
    postgrest: 54321,
    postgres: 54322,
};

/// What `up` serves: the Spin builds on the edge host.
const UP_CELL: Cell = Cell::EdgeSpin;

/// Runs the stack until Ctrl-C.
pub fn up(root: &Path, tools: &Tools) -> Result {
    let dev = root.join("target/dev");
    std::fs::create_dir_all(&dev).map_err(|e| format!("{}: {e}", dev.display()))?;
    let _lock = Lock::acquire(&dev.join("up.pid"))?;

    build::build_dist_flavours(root, tools, &["spin"])?;
    let edge = crate::build_edge(root)?;
    let routes = routes(root)?;
    if routes.is_empty() {
        return Err("spin.toml has no [[trigger.http]] routes yet: nothing to serve".into());
    }

    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;

    eprintln!("xtask: starting PostgreSQL, PostgREST, the stand-ins and the edge host ...");
    let secrets = DevSecrets::load_or_create(&dev);
    let env: BTreeMap<String, PathBuf> = tools
        .env()
        .into_iter()
        .map(|(k, v)| (k, PathBuf::from(v)))
        .collect();
    let started = std::panic::catch_unwind(|| {
        let mut builder = Stack::builder()
            .cell(UP_CELL)
            .data_dir(&dev)
            .secrets(secrets.clone())
            .ports(Ports {
                edge: port_or_free(PREFERRED.edge),
                postgrest: port_or_free(PREFERRED.postgrest),
                postgres: port_or_free(PREFERRED.postgres),
            })
            .tool("PULSER_EDGE_BIN", &edge);
        for var in ["POSTGREST_BIN", "WORKERD_BIN"] {
            if let Some(path) = env.get(var) {
                builder = builder.tool(var, path);
            }
        }
        builder.start()
    });
    let stack = started.map_err(|_| {
        format!(
            "the stack did not start (the reason is printed above; logs in {})",
            dev.join("logs").display()
        )
    })?;

    let facts = facts(&stack);
    let mut env_file = String::new();
    for (key, value) in &facts {
        env_file.push_str(&format!("{key}={value}\n"));
    }
    write_private(&dev.join("stack.env"), &env_file);
    print_summary(&stack, &routes, &dev);

    let _ = rx.recv();
    eprintln!("\nxtask: stopping the edge host, PostgREST and PostgreSQL ...");
    drop(stack);
    eprintln!("xtask: stopped; data kept in {}", dev.display());
    Ok(())
}

/// The `KEY=VALUE` facts of `target/dev/stack.env`: URLs and every value handed to the
/// components (dev secrets included; the file is private to its owner).
fn facts(stack: &Stack) -> BTreeMap<String, String> {
    let mut facts = stack.vars().clone();
    facts.insert("EDGE_URL".into(), stack.url(""));
    facts.insert("POSTGRES_URL".into(), stack.postgres_url());
    facts.insert("POSTGREST_URL".into(), stack.postgrest_url());
    facts.insert("ODOO_STAND_IN_URL".into(), stack.odoo.base_url());
    facts.insert("GITHUB_STAND_IN_URL".into(), stack.github.api_url());
    facts
}

fn port_or_free(preferred: u16) -> u16 {
    if TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        preferred
    } else {
        0
    }
}

/// One `[[trigger.http]]` route and the function (dist file stem) behind it.
#[derive(Debug)]
pub(crate) struct Route {
    /// The path, without Spin's trailing `/...`.
    pub route: String,
    /// The function (dist file stem) behind it.
    pub function: String,
}

pub(crate) fn routes(root: &Path) -> Result<Vec<Route>> {
    let path = root.join("spin.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: toml::Table =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let components = manifest.get("component").and_then(toml::Value::as_table);
    let triggers = manifest
        .get("trigger")
        .and_then(|t| t.get("http"))
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut routes = Vec::new();
    for trigger in triggers {
        let (Some(route), Some(id)) = (
            trigger.get("route").and_then(toml::Value::as_str),
            trigger.get("component").and_then(toml::Value::as_str),
        ) else {
            continue;
        };
        let function = components
            .and_then(|c| c.get(id))
            .and_then(|c| c.get("source"))
            .and_then(toml::Value::as_str)
            .and_then(|s| Path::new(s).file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| id.replace('-', "_"));
        routes.push(Route {
            route: route.trim_end_matches("/...").to_owned(),
            function,
        });
    }
    Ok(routes)
}

fn first_secret(list: &str) -> &str {
    list.split(',').next().unwrap_or_default().trim()
}

/// A signed example request for `function`: (body, headers), unique per `n` and per second
/// where the function deduplicates (ingest's `event_id`, push's and git-ops' `request_id`,
/// GitHub's delivery id), since the local database outlives a run; git-ops' is signed with
/// the current time, so it is good for 300 s. `None` for a function this file does not know.
pub(crate) fn signed_example(
    stack: &Stack,
    function: &str,
    n: u64,
) -> Option<(String, Vec<(String, String)>)> {
    let hmac = |var: &str, body: &str| {
        pulser_tests::hmac_hex(first_secret(&stack.var(var)).as_bytes(), body.as_bytes())
    };
    let now = pulser_tests::clock::unix_now();
    let id = format!("local-{now}-{n}");
    let example = match function {
        "odoo_event_ingest" => {
            let body = format!(
                r#"{{"event_type":"invoice.posted","resource_id":42,"payload":{{"amount":100}},"event_id":"{id}"}}"#
            );
            let signature = hmac("EDGE_HMAC_SECRET", &body);
            (body, vec![("x-signature".to_owned(), signature)])
        }
        "push_to_odoo" => {
            let body = format!(
                r#"{{"action":"account.move.post","args":{{"id":42}},"request_id":"{id}"}}"#
            );
            let signature = hmac("EDGE_HMAC_SECRET", &body);
            (body, vec![("x-signature".to_owned(), signature)])
        }
        "github_webhook" => {
            let body = r#"{"zen":"Keep it logically awesome.","hook_id":1}"#.to_owned();
            let signature = format!("sha256={}", hmac("GITHUB_WEBHOOK_SECRET", &body));
            (
                body,
                vec![
                    ("X-GitHub-Event".to_owned(), "ping".to_owned()),
                    (
                        "X-GitHub-Delivery".to_owned(),
                        format!("local-delivery-{n}"),
                    ),
                    ("X-Hub-Signature-256".to_owned(), signature),
                ],
            )
        }
        "git_ops_dispatch" => {
            let body = format!(
                r#"{{"branch":"gitops/push","message":"hello from the local stack","request_id":"{id}","timestamp":{now}}}"#
            );
            let signature = format!("sha256={}", hmac("PULSER_WEBHOOK_SECRET", &body));
            (body, vec![("X-Pulser-Signature".to_owned(), signature)])
        }
        // The read side takes no body: a GET with the read key (xtask up prints it for
        // the first route only, the page of events).
        "oasis_events" => (
            String::new(),
            vec![(
                "Authorization".to_owned(),
                format!("Bearer {}", first_secret(&stack.var("OASIS_READ_KEY"))),
            )],
        ),
        _ => return None,
    };
    Some(example)
}

/// How `function`'s example is sent: its method and the path below its first route.
pub(crate) fn example_request(function: &str) -> (&'static str, &'static str) {
    match function {
        "oasis_events" => ("GET", "/events?limit=5"),
        _ => ("POST", ""),
    }
}

/// The first route of each function, in spin.toml's order: where its example goes.
pub(crate) fn first_routes(routes: &[Route]) -> Vec<&Route> {
    let mut seen = Vec::new();
    routes
        .iter()
        .filter(|r| {
            let first = !seen.contains(&r.function.as_str());
            seen.push(r.function.as_str());
            first
        })
        .collect()
}

/// A ready-to-paste signed curl for `route`, or `None` for a function this file does not know.
fn curl(stack: &Stack, route: &Route) -> Option<String> {
    let (method, below) = example_request(&route.function);
    let url = stack.url(&format!("{}{below}", route.route));
    let (body, headers) = signed_example(stack, &route.function, 1)?;
    let mut out = if body.is_empty() {
        format!("curl -sS -i '{url}'")
    } else {
        format!("curl -sS -i -X {method} '{url}' \\\n  -H 'content-type: application/json'")
    };
    for (name, value) in headers {
        out.push_str(&format!(" \\\n  -H '{name}: {value}'"));
    }
    if !body.is_empty() {
        out.push_str(&format!(" \\\n  --data-binary '{body}'"));
    }
    Some(out)
}

fn print_summary(stack: &Stack, routes: &[Route], dev: &Path) {
    println!("\npulser-edge local stack is up\n");
    println!("  edge host   {}", stack.url(""));
    println!("  PostgREST   {}", stack.postgrest_url());
    println!("  PostgreSQL  {}", stack.postgres_url());
    println!("  Odoo        {} (stand-in)", stack.odoo.base_url());
    println!("  GitHub API  {} (stand-in)", stack.github.api_url());
    println!("\nendpoints:");
    for route in routes {
        let (method, _) = example_request(&route.function);
        println!(
            "  {method} {}  ({})",
            stack.url(&route.route),
            route.function
        );
    }
    println!("\nsigned requests (dev secrets; rerun `cargo xtask up` keeps them):\n");
    for route in first_routes(routes) {
        if let Some(curl) = curl(stack, route) {
            let note = if route.function == "git_ops_dispatch" {
                " (signed with the current time: good for 5 minutes; README signs at send time)"
            } else {
                ""
            };
            println!("# {}{note}\n{curl}\n", route.function);
        }
    }
    println!(
        "facts for scripts: {} (KEY=VALUE: EDGE_URL, POSTGRES_URL, POSTGREST_URL and every dev secret)",
        dev.join("stack.env").display()
    );
    println!("logs: {}", dev.join("logs").display());
    println!("press Ctrl-C to stop everything");
}

/// `target/dev/up.pid`: refuses a second `up` while one runs; removed on exit.
struct Lock(PathBuf);

impl Lock {
    fn acquire(path: &Path) -> Result<Self> {
        if let Ok(pid) = std::fs::read_to_string(path) {
            let pid = pid.trim();
            if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
                return Err(format!(
                    "the local stack is already running (pid {pid}); stop it with Ctrl-C in its terminal \
                     or `kill {pid}`, or remove {} if that process is not `cargo xtask up`",
                    path.display()
                ));
            }
        }
        std::fs::write(path, std::process::id().to_string())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self(path.to_path_buf()))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// What `cargo xtask up` prints must work as printed: every route's signed example,
    /// sent to a throwaway stack of the same kind, is accepted; a second, identical send is
    /// accepted too (as a duplicate where the function deduplicates), never refused.
    #[test]
    fn every_printed_example_is_accepted_by_the_stack() {
        let root = pulser_tests::stack::project_root();
        let stack = Stack::builder().cell(UP_CELL).start();
        let routes = routes(&root).unwrap();
        let firsts = first_routes(&routes);
        assert_eq!(firsts.len(), 5, "{routes:?}");
        for route in firsts {
            let (body, headers) = signed_example(&stack, &route.function, 1)
                .unwrap_or_else(|| panic!("no example for {}", route.function));
            let (method, below) = example_request(&route.function);
            let url = stack.url(&format!("{}{below}", route.route));
            let mut all = vec![("content-type", "application/json")];
            all.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            for attempt in ["first", "repeated"] {
                let answer = pulser_tests::request(method, &url, &all, body.as_bytes());
                assert!(
                    (200..300).contains(&answer.status),
                    "{} ({attempt}): {} {}",
                    route.function,
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                );
            }
        }
    }
}

//! The ceilings on each runtime, served as its cell serves a function:
//!
//! - the empty wasi:http component (`bench/empty`, 200 with no body): what instantiating a
//!   component and answering costs there;
//! - the relay (`bench/relay`): the same plus one outbound `POST` to the no-op sink, read to
//!   the end, which is what every endpoint measured through the sinks does at the least.
//!
//! On workerd both are JS Workers (the empty one answers 200, the relay fetches the sink
//! first), since a Worker's own floor is JavaScript, not wasm. An endpoint's no-op-sink
//! throughput is reported as a fraction of each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pulser_tests::Service;
use pulser_tests::cell::Cell;

use super::throughput::Binaries;
use crate::tools::Tools;
use crate::{Result, build};

/// Which ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ceiling {
    /// Answers 200, nothing else.
    Empty,
    /// One outbound call to the sink, then 200.
    Relay,
}

impl Ceiling {
    /// Both, in report order.
    pub const ALL: [Self; 2] = [Self::Empty, Self::Relay];

    /// The crate directory under `bench/` and the component's file name.
    const fn name(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Relay => "relay",
        }
    }

    /// How reports name it.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Empty => "empty component",
            Self::Relay => "relay component",
        }
    }
}

/// Builds every ceiling's component (the WASI flavour's build, as for a function).
///
/// # Errors
/// When cargo or the componentizing step fails.
pub fn build(root: &Path, tools: &Tools) -> Result<Components> {
    Ceiling::ALL
        .into_iter()
        .map(|ceiling| {
            Ok((
                ceiling,
                build::build_bench_fixture(root, tools, ceiling.name())?,
            ))
        })
        .collect()
}

/// Each ceiling's built component.
pub type Components = BTreeMap<Ceiling, PathBuf>;

/// The empty Worker.
const EMPTY_WORKER_JS: &str = "export default { fetch() { return new Response(null); } };\n";

/// The relay Worker: the relay component's one call, in JavaScript.
const RELAY_WORKER_JS: &str = r#"export default {
  async fetch(request, env) {
    const answer = await fetch(env.RELAY_URL, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    await answer.arrayBuffer();
    return new Response(null, { status: answer.ok ? 200 : 502 });
  },
};
"#;

/// A module with no contents: the Worker config embeds an `index_bg.wasm` beside `index.js`,
/// which these Workers never import.
const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

/// The manifest the edge host serves a ceiling under: every path, its instances kept between
/// requests as spin.toml keeps the endpoints' (`reuse`), so it stays their ceiling; the relay
/// may call the sink.
fn manifest(ceiling: Ceiling, relay_url: &str) -> String {
    let name = ceiling.name();
    let mut manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"bench-{name}\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"{name}\"\n\
         [component.{name}]\nsource = \"{name}.wasm\"\n"
    );
    if ceiling == Ceiling::Relay {
        manifest.push_str(&format!(
            "allowed_outbound_hosts = [\"http://127.0.0.1:*\"]\n\
             environment = {{ RELAY_URL = \"{relay_url}\" }}\n"
        ));
    }
    manifest.push_str(&format!("[component.{name}.tool.edge]\nreuse = 128\n"));
    manifest
}

fn tool(binaries: &Binaries, var: &str) -> Result<PathBuf> {
    binaries
        .tools
        .get(var)
        .cloned()
        .ok_or_else(|| format!("{var} is not set"))
}

/// Serves `ceiling` as `cell` serves a function; the relay calls `sink_url`.
///
/// # Errors
/// When a tool is missing or a file cannot be written.
pub fn serve(
    root: &Path,
    cell: Cell,
    ceiling: Ceiling,
    binaries: &Binaries,
    sink_url: &str,
) -> Result<Service> {
    let port = pulser_tests::free_port();
    let name = ceiling.name();
    let relay_url = format!("{sink_url}/rest/v1/relay");
    let dir = root.join("target/bench").join(name).join(cell.name());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |file: &str, bytes: &[u8]| {
        std::fs::write(dir.join(file), bytes).map_err(|e| format!("{}: {e}", dir.display()))
    };
    let component = binaries
        .ceilings
        .get(&ceiling)
        .ok_or_else(|| format!("the {} was not built", ceiling.label()))?;
    let service = format!("edge-{name}-{}", cell.name());
    Ok(match cell {
        Cell::EdgeWasi | Cell::EdgeSpin => {
            write("spin.toml", manifest(ceiling, &relay_url).as_bytes())?;
            let wasm =
                std::fs::read(component).map_err(|e| format!("{}: {e}", component.display()))?;
            write(&format!("{name}.wasm"), &wasm)?;
            let mut cmd = Command::new(tool(binaries, "PULSER_EDGE_BIN")?);
            cmd.arg("--manifest")
                .arg(dir.join("spin.toml"))
                .arg("--components")
                .arg(&dir)
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .arg("--cache-dir")
                .arg(root.join("target/edge-cache"));
            Service::start(cmd, port, &service)
        }
        Cell::WasmtimeServe => {
            let mut cmd = Command::new(tool(binaries, "WASMTIME_BIN")?);
            cmd.args(["serve", "--addr", &format!("127.0.0.1:{port}")]);
            if ceiling == Ceiling::Relay {
                cmd.env("RELAY_URL", &relay_url)
                    .args(["-S", "cli", "--env", "RELAY_URL"]);
            }
            cmd.arg(component);
            Service::start(cmd, port, &format!("wasmtime-{name}"))
        }
        Cell::Workerd => {
            let (js, bindings) = match ceiling {
                Ceiling::Empty => (EMPTY_WORKER_JS, Vec::new()),
                Ceiling::Relay => (RELAY_WORKER_JS, vec![("RELAY_URL".to_owned(), relay_url)]),
            };
            write("index.js", js.as_bytes())?;
            write("index_bg.wasm", EMPTY_MODULE)?;
            pulser_tests::workerd::serve(&tool(binaries, "WORKERD_BIN")?, &dir, name, &bindings)
        }
    })
}

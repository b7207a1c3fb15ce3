//! The ceiling on each runtime: the empty wasi:http component (`bench/empty`, 200 with no
//! body) on the edge host and under `wasmtime serve`, and on workerd the empty Worker (a JS
//! `fetch` handler answering 200), since a Worker's own floor is JavaScript, not wasm.
//! An endpoint's no-op-sink throughput is reported as a fraction of its cell's.

use std::path::{Path, PathBuf};
use std::process::Command;

use pulser_tests::Service;
use pulser_tests::cell::Cell;

use super::throughput::Binaries;
use crate::tools::Tools;
use crate::{Result, build};

/// Builds the empty component (the WASI flavour's build, as for a function).
///
/// # Errors
/// When cargo or the componentizing step fails.
pub fn build(root: &Path, tools: &Tools) -> Result<PathBuf> {
    build::build_bench_empty(root, tools)
}

/// The empty Worker.
const EMPTY_WORKER_JS: &str = "export default { fetch() { return new Response(null); } };\n";

/// A module with no contents: the Worker config embeds an `index_bg.wasm` beside `index.js`,
/// which the empty Worker never imports.
const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

/// The manifest the edge host serves the empty component under: every path, its instances
/// kept between requests as spin.toml keeps the endpoints' (`reuse`), so it stays their
/// ceiling.
const EMPTY_MANIFEST: &str = r#"spin_manifest_version = 2
[application]
name = "bench-empty"
[[trigger.http]]
route = "/..."
component = "empty"
[component.empty]
source = "empty.wasm"
[component.empty.tool.edge]
reuse = 128
"#;

fn tool(binaries: &Binaries, var: &str) -> Result<PathBuf> {
    binaries
        .tools
        .get(var)
        .cloned()
        .ok_or_else(|| format!("{var} is not set"))
}

/// Serves the empty component (or Worker) as `cell` serves a function.
///
/// # Errors
/// When a tool is missing or a file cannot be written.
pub fn serve(root: &Path, cell: Cell, binaries: &Binaries) -> Result<Service> {
    let port = pulser_tests::free_port();
    let dir = root.join("target/bench/empty").join(cell.name());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).map_err(|e| format!("{}: {e}", dir.display()))
    };
    let component = &binaries.empty_component;
    Ok(match cell {
        Cell::EdgeWasi | Cell::EdgeSpin => {
            write("spin.toml", EMPTY_MANIFEST.as_bytes())?;
            let wasm =
                std::fs::read(component).map_err(|e| format!("{}: {e}", component.display()))?;
            write("empty.wasm", &wasm)?;
            let mut cmd = Command::new(tool(binaries, "PULSER_EDGE_BIN")?);
            cmd.arg("--manifest")
                .arg(dir.join("spin.toml"))
                .arg("--components")
                .arg(&dir)
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .arg("--cache-dir")
                .arg(root.join("target/edge-cache"));
            Service::start(cmd, port, &format!("edge-empty-{}", cell.name()))
        }
        Cell::WasmtimeServe => {
            let mut cmd = Command::new(tool(binaries, "WASMTIME_BIN")?);
            cmd.args(["serve", "--addr", &format!("127.0.0.1:{port}")])
                .arg(component);
            Service::start(cmd, port, "wasmtime-empty")
        }
        Cell::Workerd => {
            write("index.js", EMPTY_WORKER_JS.as_bytes())?;
            write("index_bg.wasm", EMPTY_MODULE)?;
            pulser_tests::workerd::serve(&tool(binaries, "WORKERD_BIN")?, &dir, "empty", &[])
        }
    })
}

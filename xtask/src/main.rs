//! `cargo xtask <command>`: the one way to build, test and run pulser-edge.
//!
//! Every command first installs what it needs, idempotently, into a tool cache
//! (`$PULSER_TOOLS_DIR`, default `~/.cache/pulser-edge`): rustup targets, pinned cargo tools
//! and the pinned npm packages in `xtask/npm/`. A second run installs nothing.

mod bench;
mod build;
mod coverage;
mod dryrun;
mod phases;
mod provision;
mod secrets;
mod testrun;
mod tools;
mod up;
mod workflows;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use tools::Scope;

type Result<T = ()> = std::result::Result<T, String>;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  build [wasi|spin|workers]... [<function>]...
          build every crate under functions/ as wasi, spin and workers flavours (or only
          the flavours and functions named) into dist/ and print a size table;
          `build probe` builds the conformance probe (a test fixture) into target/probe-dist/
  test    fmt, actionlint over every workflow, the secret scan, clippy + every test in the
          workspace, including the wasm runtime tests, and `wrangler deploy --dry-run` of
          every Worker (offline; prints the upload sizes), and one short round of every
          bench part
  coverage [--update-baseline]
          the line-coverage gate: the native tests, then the edge_host suite and the cell
          suites on edge-wasi and edge-spin against the instrumented edge host, under
          cargo-llvm-cov (builds dist/'s wasi and spin flavours; needs PostgreSQL 15); fails
          below 80% or more than 0.5 points below coverage-baseline.json (per-crate and
          per-file figures in target/coverage/summary.md); --update-baseline rewrites it
  up      run the whole local stack until Ctrl-C: PostgreSQL 15 + migrations, PostgREST 12,
          Odoo and GitHub stand-ins, and the edge host serving every function of spin.toml
          (state, logs and stack.env in target/dev/)
  bench   build everything (the edge host with --profile native) and measure, interleaved over
          3 rounds: sizes, core cost natively and in Wasmtime, load on every runtime cell
          against the Deno/Node peers and the empty component, cold starts, the RS256 mint;
          prints the tables, writes target/bench/report.json and BENCHMARKS.md;
          `bench --smoke`: one short round of every part over the dev build (what
          `cargo xtask test` runs), writing only target/bench/report.json;
          `bench --cell <cell>`: the load part alone on one cell (edge-wasi, edge-spin,
          wasmtime-serve, workerd), 3 rounds, printed only (for working on one runtime;
          PULSER_BENCH_EDGE=<binary> measures that edge host build instead of building one;
          PULSER_BENCH_ONLY=<words> keeps the runs whose `server endpoint mode` label has them)
  tools   install the pinned tools into the cache and print their paths
  lint-workflows
          the test's actionlint phase alone: .github/workflows and examples/github/workflows
          (installs only actionlint and shellcheck)
  scan-secrets
          the test's secret scan alone: every git-tracked file, allow-list .secretscan-allow";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => {
            let root = workspace_root();
            let args = args.get(1..).unwrap_or_default();
            if args == ["probe"] {
                tools::Tools::ensure(&root, Scope::All)
                    .and_then(|t| build::build_probe(&root, &t))
                    .map(|dir| println!("xtask: the conformance probe is in {}", dir.display()))
            } else {
                build::Selection::parse(&root, args).and_then(|selection| {
                    tools::Tools::ensure(&root, Scope::All)
                        .and_then(|t| build::build_selection(&root, &t, &selection))
                        .map(|_| ())
                })
            }
        }
        Some("test") => test(&workspace_root()),
        Some("coverage") => match coverage::Mode::parse(args.get(1..).unwrap_or_default()) {
            Some(mode) => coverage::coverage(&workspace_root(), mode),
            None => Err(USAGE.to_owned()),
        },
        Some("up") => {
            let root = workspace_root();
            tools::Tools::ensure(&root, Scope::Stack).and_then(|t| up::up(&root, &t))
        }
        Some("bench") => {
            let root = workspace_root();
            if let [flag, cell] = args.get(1..).unwrap_or_default()
                && flag == "--cell"
            {
                return match tools::Tools::ensure(&root, Scope::All)
                    .and_then(|tools| bench::load_only(&root, &tools, cell))
                {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(message) => {
                        eprintln!("xtask: {message}");
                        ExitCode::FAILURE
                    }
                };
            }
            let smoke = match args.get(1..).unwrap_or_default() {
                [] => Ok(false),
                [flag] if flag == "--smoke" => Ok(true),
                _ => Err(USAGE.to_owned()),
            };
            smoke.and_then(|smoke| {
                let tools = tools::Tools::ensure(&root, Scope::All)?;
                if smoke {
                    build::build_dist(&root, &tools)?;
                    let edge = build_edge(&root)?;
                    bench::smoke(&root, &tools, &edge)
                } else {
                    bench::bench(&root, &tools)
                }
            })
        }
        Some("tools") => tools::Tools::ensure(&workspace_root(), Scope::All).map(|t| t.print()),
        Some("lint-workflows") => tools::workflow_linters().and_then(|(actionlint, shellcheck)| {
            workflows::lint(&workspace_root(), &actionlint, &shellcheck)
        }),
        Some("scan-secrets") => secrets::scan_tree(&workspace_root()),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), Path::to_path_buf)
}

/// Runs `cmd`, echoing it; fails with its exit status.
pub(crate) fn run(cmd: &mut Command) -> Result {
    eprintln!("+ {}", describe(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {}: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed: {status}", describe(cmd)))
    }
}

pub(crate) fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

pub(crate) fn cargo() -> Command {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    // `cargo xtask` runs under `cargo run`, which sets CARGO_MANIFEST_DIR to xtask's directory.
    // ring's build script tracks that variable (`rerun-if-env-changed`), so a build started
    // from here and the same `cargo build` typed in a shell each found the other's ring stale
    // and rebuilt it and everything above it (rustls, wasmtime-wasi-http, the edge host: about
    // 10 minutes on 2 cores). Builds started from here see the environment a shell gives.
    cargo.env_remove("CARGO_MANIFEST_DIR");
    cargo
}

fn test(root: &Path) -> Result {
    let start = std::time::Instant::now();
    let result = test_phases(root);
    eprintln!("{}", phases::table(start.elapsed()));
    result
}

/// fmt, actionlint and the secret scan (seconds each), then every build with clippy as the
/// compiler's wrapper (so each build is also the lint, `-D warnings`), then every test
/// binary. The wasm builds (their own target dirs) and the native build (edge host, test
/// binaries) run side by side: each has long single-core stretches (LTO, wasm-opt, the final
/// links) that the other fills. Once the Workers are built, wrangler dry-runs the deploy of
/// each.
fn test_phases(root: &Path) -> Result {
    let tools =
        phases::time("tool install", || tools::Tools::ensure(root, Scope::All))?.linting(root)?;
    phases::time("fmt", || {
        run(cargo().current_dir(root).args(["fmt", "--all", "--check"]))
    })?;
    phases::time("actionlint (workflows)", || {
        workflows::lint(root, &tools.bin("actionlint"), &tools.bin("shellcheck"))
    })?;
    phases::time("secret scan (tracked files)", || secrets::scan_tree(root))?;
    let (wasm, native) = std::thread::scope(|s| {
        let wasm = s.spawn(|| -> Result<PathBuf> {
            // The signing crate must build for Workers without an allocator.
            phases::time("signing without alloc", || {
                run(cargo()
                    .current_dir(root)
                    .args(["build", "-p", "pulser-signing", "--no-default-features"])
                    .args(["--target", "wasm32-unknown-unknown"])
                    .args(["--target-dir", "target/lint"])
                    .envs(tools.lint_env()))
            })?;
            let probe = build::build_probe(root, &tools)?;
            build::build_dist(root, &tools)?;
            let uploads = phases::time("wrangler deploy --dry-run", || {
                dryrun::dry_run_all(root, &tools)
            })?;
            dryrun::print_uploads(&uploads);
            Ok(probe)
        });
        let native = s.spawn(|| {
            phases::time("build + clippy native (edge host, test binaries)", || {
                build_edge_with(root, &tools.lint_env())
            })
        });
        (tools::joined(wasm), tools::joined(native))
    });
    let (probe, edge) = (wasm?, native?);
    let mut env = tools.env();
    env.extend(tools.lint_env());
    env.push(("PULSER_PROBE_DIST".into(), probe.into()));
    env.push(("PULSER_EDGE_BIN".into(), edge.clone().into()));
    testrun::run_all(root, &env)?;
    phases::time("bench smoke (one short round of every part)", || {
        bench::smoke(root, &tools, &edge)
    })
}

/// Builds the edge host (dev profile, whose dependencies are optimised) and returns the
/// binary's path. It is built together with every test target so that cargo resolves one
/// feature set: `cargo build -p pulser-edge` alone would unify features differently from
/// `cargo test --workspace` and compile wasmtime a second time.
pub(crate) fn build_edge(root: &Path) -> Result<PathBuf> {
    build_edge_with(root, &[])
}

/// Builds the edge host as it runs in production: `cargo build --profile native -p
/// pulser-edge` (optimised for speed; the release profile is the wasm components', built for
/// size), into `target/native/edge`.
pub(crate) fn build_edge_native(root: &Path) -> Result<PathBuf> {
    run(cargo().current_dir(root).args([
        "build",
        "--profile",
        "native",
        "-p",
        "pulser-edge",
        "--bin",
        "edge",
    ]))?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("native/edge"))
}

/// [`build_edge`] with extra environment (the lint wrapper).
fn build_edge_with(root: &Path, env: &[(String, std::ffi::OsString)]) -> Result<PathBuf> {
    run(cargo()
        .current_dir(root)
        .args(["build", "--workspace", "--all-targets"])
        .envs(env.iter().map(|(k, v)| (k, v))))?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("debug/edge"))
}

//! Runs every test binary of the workspace, one phase each, then the doctests.
//!
//! `cargo test --workspace` would run the same binaries one after another with no time per
//! binary; listing them (`cargo test --no-run`) and running each here gives every binary its
//! own row in the phase table, and lets independent binaries share the cores
//! (`PULSER_TEST_JOBS`, default 1).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use crate::{Result, cargo, describe, phases};

/// One test binary: the name cargo gives it and where its package lives (the working
/// directory `cargo test` runs it in).
#[derive(Debug)]
struct TestBinary {
    label: String,
    executable: PathBuf,
    package_dir: PathBuf,
}

pub fn run_all(root: &Path, env: &[(String, OsString)]) -> Result {
    let binaries = phases::time("list test binaries", || list(root, env))?;
    let jobs = std::env::var("PULSER_TEST_JOBS")
        .ok()
        .and_then(|j| j.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, binaries.len().max(1));
    let failed = Mutex::new(Vec::new());
    let next = Mutex::new(binaries.iter());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let Some(binary) = next
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .next()
                    else {
                        break;
                    };
                    if let Err(e) = run_one(binary, env, jobs > 1) {
                        failed
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(e);
                    }
                }
            });
        }
    });
    let doc = phases::time("doctests", || {
        crate::run(
            cargo()
                .current_dir(root)
                .args(["test", "--workspace", "--doc"])
                .envs(env.iter().map(|(k, v)| (k, v))),
        )
    });
    let mut failed = failed
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Err(e) = doc {
        failed.push(e);
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("tests failed:\n  {}", failed.join("\n  ")))
    }
}

/// The test binaries `cargo test --workspace` would run, as cargo reports them.
/// `env` must be the build's (the lint wrapper included), or cargo would rebuild.
fn list(root: &Path, env: &[(String, OsString)]) -> Result<Vec<TestBinary>> {
    let out = cargo()
        .current_dir(root)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["test", "--workspace", "--no-run", "--message-format=json"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo test --no-run: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo test --no-run failed: {}", out.status));
    }
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let text = |pointer: &str| message.pointer(pointer).and_then(serde_json::Value::as_str);
        let is_test = message
            .pointer("/profile/test")
            .and_then(serde_json::Value::as_bool)
            == Some(true);
        let (Some(executable), Some(manifest), Some(name), Some(kind)) = (
            text("/executable"),
            text("/manifest_path"),
            text("/target/name"),
            text("/target/kind/0"),
        ) else {
            continue;
        };
        if !is_test {
            continue;
        }
        let package_dir = Path::new(manifest)
            .parent()
            .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
        let package = package_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let label = if kind == "test" {
            format!("test {package}/{name}")
        } else {
            format!("test {package} ({kind})")
        };
        binaries.push(TestBinary {
            label,
            executable: PathBuf::from(executable),
            package_dir,
        });
    }
    if binaries.is_empty() {
        return Err("cargo test --no-run listed no test binaries".into());
    }
    Ok(binaries)
}

/// Runs one binary in its package directory. With `capture`, its output is printed in one
/// piece when it ends, so parallel binaries do not interleave.
fn run_one(binary: &TestBinary, env: &[(String, OsString)], capture: bool) -> Result {
    let mut cmd = Command::new(&binary.executable);
    cmd.current_dir(&binary.package_dir)
        .envs(env.iter().map(|(k, v)| (k, v)));
    eprintln!("+ {}", describe(&cmd));
    let start = Instant::now();
    let status = if capture {
        let out = cmd
            .output()
            .map_err(|e| format!("cannot start {}: {e}", describe(&cmd)))?;
        eprintln!(
            "--- {} ---\n{}{}",
            binary.label,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.status
    } else {
        cmd.status()
            .map_err(|e| format!("cannot start {}: {e}", describe(&cmd)))?
    };
    phases::record(&binary.label, start.elapsed(), status.success());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{}: {status}", binary.label))
    }
}

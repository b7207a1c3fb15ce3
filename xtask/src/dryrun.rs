//! `wrangler deploy --dry-run --env <function>` for every environment of wrangler.toml, with
//! no network: wrangler reads the environment (entry, compatibility, vars, Cron Triggers),
//! bundles the built Worker as a deploy would and stops before uploading. A Worker wrangler
//! would refuse fails `cargo xtask test` here rather than on the day of a deploy, and the
//! upload sizes it reports are printed as a table.

use std::path::Path;
use std::process::Command;

use crate::tools::Tools;
use crate::{Result, describe};

/// What wrangler would upload for one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// The environment (the function's name).
    pub env: String,
    /// `Total Upload`, KiB.
    pub kib: f64,
    /// Its gzip size, KiB (what the plans' size limits count).
    pub gzip_kib: f64,
}

/// Dry-runs every environment of `root/wrangler.toml`, by name.
///
/// # Errors
/// The first environment wrangler refuses, with everything it printed.
pub fn dry_run_all(root: &Path, tools: &Tools) -> Result<Vec<Upload>> {
    environments(root)?
        .iter()
        .map(|env| dry_run(root, tools, env))
        .collect()
}

/// The `[env.<name>]` tables of wrangler.toml.
fn environments(root: &Path) -> Result<Vec<String>> {
    let path = root.join("wrangler.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config: toml::Table =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let envs: Vec<String> = config
        .get("env")
        .and_then(toml::Value::as_table)
        .map(|envs| envs.keys().cloned().collect())
        .unwrap_or_default();
    if envs.is_empty() {
        return Err(format!(
            "{}: no [env.<function>] to dry-run",
            path.display()
        ));
    }
    Ok(envs)
}

fn dry_run(root: &Path, tools: &Tools, env: &str) -> Result<Upload> {
    let outdir = root.join("target/wrangler-dry-run").join(env);
    // A stale bundle must not pass for this run's.
    let _ = std::fs::remove_dir_all(&outdir);
    let mut cmd = Command::new(tools.bin("wrangler"));
    cmd.current_dir(root)
        .args(["deploy", "--dry-run", "--env", env, "--config"])
        .arg(root.join("wrangler.toml"))
        .arg("--outdir")
        .arg(&outdir)
        .envs(tools.env())
        // dist/workers was built moments ago by this run: the environment's build command
        // (`cargo xtask build workers <function>`) would only build it again.
        .env("PULSER_WORKERS_PREBUILT", "1")
        // Nothing may leave the machine: no telemetry, no prompts; the update check wrangler
        // makes only when it warns gives up by itself.
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "1")
        .env("FORCE_COLOR", "0")
        .env("WRANGLER_LOG_PATH", outdir.join("logs"));
    eprintln!("+ {}", describe(&cmd));
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {}: {e}", describe(&cmd)))?;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!(
            "`{}` failed ({}): wrangler would not deploy [env.{env}]:\n{printed}",
            describe(&cmd),
            out.status
        ));
    }
    let (kib, gzip_kib) = total_upload(&printed).ok_or_else(|| {
        format!("wrangler printed no `Total Upload` line for [env.{env}]:\n{printed}")
    })?;
    Ok(Upload {
        env: env.to_owned(),
        kib,
        gzip_kib,
    })
}

/// The figures of wrangler's `Total Upload: 502.18 KiB / gzip: 210.61 KiB` line (colour
/// codes, if any, ignored).
fn total_upload(printed: &str) -> Option<(f64, f64)> {
    let line = printed.lines().find_map(|l| {
        let plain = without_ansi(l);
        let at = plain.find("Total Upload:")?;
        plain.get(at + "Total Upload:".len()..).map(str::to_owned)
    })?;
    let (total, gzip) = line.split_once("/ gzip:")?;
    let kib = |text: &str| text.trim().strip_suffix("KiB")?.trim().parse::<f64>().ok();
    Some((kib(total)?, kib(gzip)?))
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
fn without_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The table `cargo xtask test` prints after the dry runs: what each Worker uploads, as
/// wrangler counts it (index.js and index_bg.wasm together).
pub fn print_uploads(uploads: &[Upload]) {
    let rows: Vec<[String; 3]> = uploads
        .iter()
        .map(|u| {
            [
                u.env.clone(),
                format!("{:.2}", u.kib),
                format!("{:.2}", u.gzip_kib),
            ]
        })
        .collect();
    crate::build::print_table(["wrangler --env", "upload KiB", "gzip KiB"], &rows);
}

#[cfg(test)]
mod tests {
    use super::total_upload;

    #[test]
    fn the_total_upload_line_is_read() {
        let printed = "Running autoconfig\nTotal Upload: 502.18 KiB / gzip: 210.61 KiB\nbindings";
        assert_eq!(total_upload(printed), Some((502.18, 210.61)));
    }

    #[test]
    fn colour_codes_are_ignored() {
        let printed = "Total Upload: \u{1b}[32m1024.00 KiB / gzip: 300.50 KiB\u{1b}[39m";
        assert_eq!(total_upload(printed), Some((1024.0, 300.5)));
    }

    #[test]
    fn output_without_the_line_or_in_other_units_reads_as_none() {
        assert_eq!(total_upload("--dry-run: exiting now."), None);
        assert_eq!(
            total_upload("Total Upload: 1.20 MiB / gzip: 0.40 MiB"),
            None
        );
    }
}

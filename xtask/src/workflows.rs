//! The workflow lint of `cargo xtask test`: actionlint over every GitHub Actions workflow in
//! the tree, this project's own (`.github/workflows/`) and the ones shipped for the
//! repository that receives git_ops_dispatch's dispatches (`examples/github/workflows/`).
//! Any finding fails the run. actionlint hands each `run:` script to shellcheck, the pinned
//! one from the tool cache (never whatever is on `PATH`), so a script's quoting is checked
//! too; pyflakes is off, as no workflow has a Python step worth it.
//!
//! Before actionlint, one rule of this project's own: no `${{ }}` inside a `run:` script.
//! Actions pastes an expression's value into the script's text before the shell reads it, so
//! a dispatch payload or form input holding `"; curl ... #` would run as code (actionlint
//! knows some untrusted contexts, not `client_payload` or `inputs`). Values reach scripts
//! through `env:`, quoted in the shell.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, describe};

/// Where workflows live, relative to the workspace root.
pub const WORKFLOW_DIRS: &[&str] = &[".github/workflows", "examples/github/workflows"];

/// Every `*.yml` / `*.yaml` under [`WORKFLOW_DIRS`], relative to `root`, sorted.
///
/// # Errors
/// When a directory cannot be read or holds no workflow: a lint of nothing would pass.
pub fn workflow_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in WORKFLOW_DIRS {
        let entries = std::fs::read_dir(root.join(dir)).map_err(|e| format!("{dir}: {e}"))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                path.is_file()
                    && path
                        .extension()
                        .is_some_and(|ext| ext == "yml" || ext == "yaml")
            })
            .filter_map(|path| path.strip_prefix(root).ok().map(Path::to_path_buf))
            .collect();
        if found.is_empty() {
            return Err(format!("{dir}: no workflow (*.yml) to lint"));
        }
        found.sort();
        files.append(&mut found);
    }
    Ok(files)
}

/// The 1-based lines of `workflow` where a `run:` script (inline, or a `|` / `>` block)
/// holds a `${{` expression, comments included (Actions expands those too).
pub fn expressions_in_scripts(workflow: &str) -> Vec<usize> {
    let mut found = Vec::new();
    // The column of the `run` key whose block scalar is being read.
    let mut block: Option<usize> = None;
    for (at, line) in workflow.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if let Some(key) = block {
            if line.trim().is_empty() || indent > key {
                if line.contains("${{") {
                    found.push(at + 1);
                }
                continue;
            }
            block = None;
        }
        let item = line.trim_start();
        let key = item.strip_prefix("- ").map_or(item, str::trim_start);
        let Some(value) = key.strip_prefix("run:") else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            block = Some(indent + (item.len() - key.len()));
        } else if value.contains("${{") {
            found.push(at + 1);
        }
    }
    found
}

/// Runs the `${{ }}`-in-scripts rule, then `actionlint` (with `shellcheck` for the `run:`
/// scripts), over every workflow.
///
/// # Errors
/// When either reports anything (actionlint's findings are printed above the error), or
/// actionlint cannot run.
pub fn lint(root: &Path, actionlint: &Path, shellcheck: &Path) -> Result {
    let files = workflow_files(root)?;
    let mut inlined = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(root.join(file))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        inlined.extend(expressions_in_scripts(&text).into_iter().map(|line| {
            format!(
                "  {}:{line}: `${{{{ }}}}` inside a run: script",
                file.display()
            )
        }));
    }
    if !inlined.is_empty() {
        return Err(format!(
            "workflow scripts must not inline expressions (pass each value through `env:` and \
             quote it in the shell):\n{}",
            inlined.join("\n")
        ));
    }
    let mut cmd = Command::new(actionlint);
    cmd.current_dir(root)
        .arg("-no-color")
        .arg(format!("-shellcheck={}", shellcheck.display()))
        .arg("-pyflakes=")
        .arg("--")
        .args(&files);
    eprintln!("+ {}", describe(&cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {}: {e}", describe(&cmd)))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(format!(
            "actionlint found problems in the workflows (listed above): fix each, or see \
             `{} -help` for the ways to silence one",
            actionlint.display()
        )),
        _ => Err(format!("`{}` failed: {status}", describe(&cmd))),
    }
}

#[cfg(test)]
mod tests {
    //! The deploy workflows name every function, its Worker and its route in a table of their
    //! own (a health check needs the route, a rollback the Worker): these tests hold each
    //! table to wrangler.toml and spin.toml, so a renamed Worker or a moved route cannot
    //! leave a workflow checking the wrong URL.

    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| unreachable!("xtask lives in the workspace"))
    }

    fn read(path: &str) -> String {
        std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| unreachable!("{path}: {e}"))
    }

    fn toml_file(path: &str) -> toml::Table {
        toml::from_str(&read(path)).unwrap_or_else(|e| unreachable!("{path}: {e}"))
    }

    /// The rows of the block scalar `key: |` in `workflow`, each split on whitespace.
    fn table(workflow: &str, key: &str) -> Vec<Vec<String>> {
        let text = read(workflow);
        let mut lines = text.lines();
        let Some(header) = lines.by_ref().find(|l| l.trim() == format!("{key}: |")) else {
            unreachable!("{workflow} has no `{key}: |` table");
        };
        let indent = header.len() - header.trim_start().len();
        lines
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect()
    }

    /// spin.toml's routes by component, without the trailing wildcard: the prefix each
    /// function answers under.
    fn spin_routes() -> BTreeMap<String, String> {
        let spin = toml_file("spin.toml");
        let triggers = spin
            .get("trigger")
            .and_then(|t| t.get("http"))
            .and_then(toml::Value::as_array)
            .cloned()
            .unwrap_or_default();
        // A component's first route is the one its health check lives under
        // (oasis_events: /api/v1/oasis, before /events and /api/v1/devhub/feed).
        let mut routes = BTreeMap::new();
        for t in &triggers {
            let (Some(route), Some(component)) = (
                t.get("route").and_then(toml::Value::as_str),
                t.get("component").and_then(toml::Value::as_str),
            ) else {
                continue;
            };
            routes
                .entry(component.to_owned())
                .or_insert_with(|| route.trim_end_matches("/...").to_owned());
        }
        routes
    }

    #[test]
    fn an_expression_in_a_run_script_is_found_inline_in_blocks_and_in_comments() {
        let workflow = "\
jobs:
  a:
    steps:
      - run: echo ${{ github.event.client_payload.branch }}
      - name: block
        run: |
          echo \"$BRANCH\"
          # ${{ inputs.message }} is expanded here too
        env:
          BRANCH: ${{ github.event.client_payload.branch }}
      - run: >-
          printf '%s' ${{ inputs.kv_value }}
      - uses: actions/checkout@v5
        with:
          ref: ${{ github.event.repository.default_branch }}
";
        assert_eq!(expressions_in_scripts(workflow), vec![4, 8, 12]);
    }

    #[test]
    fn values_through_env_and_expressions_outside_scripts_pass() {
        let workflow = "\
on: push
jobs:
  a:
    if: ${{ github.event_name == 'push' }}
    steps:
      - run: echo \"$VALUE\"
        env:
          VALUE: ${{ inputs.value }}
      - run: |
          echo one
        shell: bash
        working-directory: ${{ github.workspace }}
";
        assert!(expressions_in_scripts(workflow).is_empty());
    }

    #[test]
    fn no_workflow_of_the_tree_inlines_an_expression_in_a_script() {
        let root = root();
        for file in workflow_files(&root).unwrap_or_else(|e| unreachable!("{e}")) {
            let text = read(&file.to_string_lossy());
            assert_eq!(
                expressions_in_scripts(&text),
                Vec::<usize>::new(),
                "{}",
                file.display()
            );
        }
    }

    #[test]
    fn both_workflow_directories_hold_workflows() {
        let files = workflow_files(&root()).unwrap_or_else(|e| unreachable!("{e}"));
        for dir in WORKFLOW_DIRS {
            assert!(
                files.iter().any(|f| f.starts_with(dir)),
                "no workflow in {dir}: {files:?}"
            );
        }
    }

    #[test]
    fn the_workers_deploy_table_matches_wrangler_toml_and_spin_toml() {
        let wrangler = toml_file("wrangler.toml");
        let envs = wrangler
            .get("env")
            .and_then(toml::Value::as_table)
            .cloned()
            .unwrap_or_default();
        let routes = spin_routes();
        // A function's Spin component is its name in kebab case (spin.toml's ids).
        let expected: BTreeSet<Vec<String>> = envs
            .iter()
            .map(|(function, env)| {
                let name = env.get("name").and_then(toml::Value::as_str).unwrap_or("");
                let route = routes
                    .get(&function.replace('_', "-"))
                    .cloned()
                    .unwrap_or_default();
                vec![function.clone(), name.to_owned(), route]
            })
            .collect();
        let listed: BTreeSet<Vec<String>> =
            table(".github/workflows/deploy-workers.yml", "WORKERS")
                .into_iter()
                .collect();
        assert_eq!(
            listed, expected,
            "deploy-workers.yml's WORKERS (function, Worker, route) against wrangler.toml and \
             spin.toml"
        );
    }

    #[test]
    fn the_spin_deploy_table_matches_spin_toml() {
        let listed: BTreeSet<Vec<String>> = table(".github/workflows/deploy-spin.yml", "ROUTES")
            .into_iter()
            .collect();
        let expected: BTreeSet<Vec<String>> = spin_routes()
            .into_values()
            .map(|route| vec![route])
            .collect();
        assert_eq!(
            listed, expected,
            "deploy-spin.yml's ROUTES against spin.toml"
        );
    }
}

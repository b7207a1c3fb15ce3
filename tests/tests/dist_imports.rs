#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! What every built component asks of its host: the WASI flavour only `wasi:*` (it runs on
//! any wasi:http host), the Spin flavour only `wasi:*` and `fermyon:spin/*`.

use std::path::PathBuf;
use std::process::Command;

use pulser_tests::required_path;
use pulser_tests::stack::project_root;

fn components(flavour: &str) -> Vec<PathBuf> {
    let dist =
        std::env::var_os("PULSER_DIST").map_or_else(|| project_root().join("dist"), PathBuf::from);
    let dir = dist.join(flavour);
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build`)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    found.sort();
    let functions = std::fs::read_dir(project_root().join("functions"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("Cargo.toml").is_file())
        .count();
    assert_eq!(
        found.len(),
        functions,
        "dist/{flavour} should hold one component per function: {found:?}"
    );
    found
}

fn imports(component: &PathBuf) -> Vec<String> {
    let out = Command::new(required_path("WASM_TOOLS_BIN"))
        .args(["component", "wit"])
        .arg(component)
        .output()
        .expect("run wasm-tools");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("import "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn wasi_components_import_only_wasi() {
    for component in components("wasi") {
        let imports = imports(&component);
        assert!(
            imports.iter().any(|i| i.starts_with("wasi:http/")),
            "{component:?}: {imports:?}"
        );
        for import in imports {
            assert!(
                import.starts_with("wasi:"),
                "{component:?} imports {import}"
            );
        }
    }
}

#[test]
fn spin_components_import_only_wasi_and_spin() {
    for component in components("spin") {
        let imports = imports(&component);
        assert!(
            imports
                .iter()
                .any(|i| i.starts_with("fermyon:spin/variables")),
            "{component:?}: {imports:?}"
        );
        for import in imports {
            assert!(
                import.starts_with("wasi:") || import.starts_with("fermyon:spin/"),
                "{component:?} imports {import}"
            );
        }
    }
}

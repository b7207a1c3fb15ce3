#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The Spin interfaces the edge host implements are spin-sdk's own: edge/wit/spin@2.0.0 holds
//! spin-sdk's key-value.wit and variables.wit byte for byte, plus package.wit, which only
//! names the package. These tests fail when the copies drift from the spin-sdk crate that
//! Cargo.lock pins (after a spin-sdk upgrade: copy its files again and rebuild the host).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files copied from spin-sdk's `wit/deps/spin@2.0.0/`.
const COPIED: [&str; 2] = ["key-value.wit", "variables.wit"];

fn edge_wit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("wit/spin@2.0.0")
}

/// The source directory of the spin-sdk crate Cargo.lock pins, as cargo resolves it.
fn spin_sdk_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("edge/ sits in the workspace");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        // --all-features: the functions depend on spin-sdk only behind their `spin` feature.
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--all-features",
        ])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let spin_sdks: Vec<&serde_json::Value> = metadata["packages"]
        .as_array()
        .expect("cargo metadata lists packages")
        .iter()
        .filter(|package| package["name"] == "spin-sdk")
        .collect();
    let [spin_sdk] = spin_sdks.as_slice() else {
        panic!(
            "expected exactly one spin-sdk in Cargo.lock, found {}",
            spin_sdks.len()
        );
    };
    let manifest = spin_sdk["manifest_path"].as_str().expect("a manifest_path");
    Path::new(manifest)
        .parent()
        .expect("a crate directory")
        .to_path_buf()
}

#[test]
fn the_wit_copies_are_the_pinned_spin_sdks_files() {
    let sdk = spin_sdk_dir().join("wit/deps/spin@2.0.0");
    for name in COPIED {
        let ours = std::fs::read(edge_wit().join(name)).unwrap();
        let theirs = std::fs::read(sdk.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", sdk.join(name).display()));
        assert!(
            ours == theirs,
            "edge/wit/spin@2.0.0/{name} differs from {}: copy it again",
            sdk.join(name).display()
        );
    }
}

#[test]
fn nothing_else_is_hand_written_there() {
    let mut names: Vec<String> = std::fs::read_dir(edge_wit())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["key-value.wit", "package.wit", "variables.wit"]);
    let package = std::fs::read_to_string(edge_wit().join("package.wit")).unwrap();
    let declarations: Vec<&str> = package
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .collect();
    assert_eq!(
        declarations,
        ["package fermyon:spin@2.0.0;"],
        "package.wit only names the package"
    );
}

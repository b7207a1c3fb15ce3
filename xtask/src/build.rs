//! Builds function crates in the three flavours and reports their sizes.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::tools::Tools;
use crate::{Result, cargo, run};

/// A crate to build: its directory and package name.
struct Crate {
    dir: PathBuf,
    package: String,
    /// Dependencies built for speed in this crate's release build, from its
    /// `[package.metadata.pulser] speed-over-size` (see [`speed_over_size`]).
    speed_over_size: Vec<String>,
}

impl Crate {
    fn read(dir: &Path) -> Result<Self> {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let package = manifest
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("name = ")
                    .map(|v| v.trim_matches('"').to_owned())
            })
            .ok_or_else(|| format!("{}: no package name", dir.display()))?;
        let speed_over_size = speed_over_size(&manifest)
            .map_err(|e| format!("{}: {e}", dir.join("Cargo.toml").display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            package,
            speed_over_size,
        })
    }

    /// The function's name as routes and dist/ use it (`odoo_event_ingest`).
    fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().replace('-', "_"))
            .unwrap_or_default()
    }

    fn artifact(&self) -> String {
        format!("{}.wasm", self.package.replace('-', "_"))
    }
}

/// `[package.metadata.pulser] speed-over-size = ["sha2"]`: dependencies a crate builds at
/// `opt-level = 3` inside the size-first release profile. A profile override in the root
/// Cargo.toml would apply to every component; this way only the crates that hash large bodies
/// (a GitHub delivery of up to 25 MB, a 500-event batch) pay the bytes (about 3.3 KB for
/// sha2's unrolled rounds, which halve a 20 KB delivery's cost in wasm), and the ones whose
/// bodies are small keep their size budget.
fn speed_over_size(manifest: &str) -> Result<Vec<String>> {
    let value: toml::Value = toml::from_str(manifest).map_err(|e| e.to_string())?;
    let Some(list) = value
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("pulser"))
        .and_then(|p| p.get("speed-over-size"))
    else {
        return Ok(Vec::new());
    };
    list.as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            "[package.metadata.pulser] speed-over-size must be a list of crate names".to_owned()
        })
}

/// The `--config` arguments that build `crates` at `opt-level = 3`.
fn speed_config(crates: &[String]) -> Vec<String> {
    crates
        .iter()
        .flat_map(|name| {
            [
                "--config".to_owned(),
                format!("profile.release.package.{name}.opt-level=3"),
            ]
        })
        .collect()
}

/// Every crate under functions/, sorted.
fn function_crates(root: &Path) -> Result<Vec<Crate>> {
    let dir = root.join("functions");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| Crate::read(d)).collect()
}

/// Builds every function into `dist/` and prints the size table.
pub fn build_dist(root: &Path, tools: &Tools) -> Result<PathBuf> {
    build_dist_flavours(root, tools, ALL_FLAVOURS)
}

/// Every flavour: the two wasm32-wasip2 components and the Workers module.
pub const ALL_FLAVOURS: &[&str] = &["wasi", "spin", "workers"];

/// What `cargo xtask build` was asked for: flavours and function directories (both all of
/// them when none is named).
#[derive(Debug, Default)]
pub struct Selection {
    flavours: Vec<&'static str>,
    functions: Vec<String>,
}

impl Selection {
    /// Sorts the command line's words into flavours (`wasi`, `spin`, `workers`) and function
    /// names (directories under `functions/`), each checked.
    ///
    /// # Errors
    /// Names a word that is neither.
    pub fn parse(root: &Path, args: &[String]) -> Result<Self> {
        let known = function_crates(root)?;
        let mut selection = Self::default();
        for arg in args {
            if let Some(flavour) = ALL_FLAVOURS.iter().find(|f| **f == arg.as_str()) {
                selection.flavours.push(flavour);
            } else if known.iter().any(|k| k.dir.ends_with(arg)) {
                selection.functions.push(arg.clone());
            } else {
                return Err(format!(
                    "{arg:?} is neither a flavour (wasi, spin, workers) nor a directory under functions/"
                ));
            }
        }
        if selection.flavours.is_empty() {
            selection.flavours = ALL_FLAVOURS.to_vec();
        }
        Ok(selection)
    }
}

/// Builds every function in `flavours` into `dist/` and prints the size table.
pub fn build_dist_flavours(
    root: &Path,
    tools: &Tools,
    flavours: &[&'static str],
) -> Result<PathBuf> {
    build_selection(
        root,
        tools,
        &Selection {
            flavours: flavours.to_vec(),
            functions: Vec::new(),
        },
    )
}

/// Builds the selected functions (all when none is named) in the selected flavours into
/// `dist/` and prints the size table.
pub fn build_selection(root: &Path, tools: &Tools, selection: &Selection) -> Result<PathBuf> {
    let crates: Vec<Crate> = function_crates(root)?
        .into_iter()
        .filter(|k| {
            selection.functions.is_empty() || selection.functions.iter().any(|f| k.dir.ends_with(f))
        })
        .collect();
    let dist = root.join("dist");
    let mut sizes = Vec::new();
    for krate in &crates {
        sizes.extend(build_flavours(
            root,
            tools,
            krate,
            &dist,
            &selection.flavours,
            "build",
        )?);
    }
    if crates.is_empty() {
        println!("xtask: no crates under functions/ yet; dist/ is empty");
    } else {
        print_sizes(&sizes);
    }
    Ok(dist)
}

/// Builds the conformance probe (a test fixture) into target/probe-dist/.
pub fn build_probe(root: &Path, tools: &Tools) -> Result<PathBuf> {
    build_probe_flavours(root, tools, ALL_FLAVOURS)
}

/// [`build_probe`] in the flavours named only (the coverage gate's edge_host run needs the
/// two wasm32-wasip2 ones, not the Workers build).
pub fn build_probe_flavours(
    root: &Path,
    tools: &Tools,
    flavours: &[&'static str],
) -> Result<PathBuf> {
    let out = root.join("target/probe-dist");
    let krate = Crate::read(&root.join("tests/probe"))?;
    build_flavours(root, tools, &krate, &out, flavours, "build probe")?;
    Ok(out)
}

/// Builds one of the bench's wasi:http fixtures (`bench/empty`, `bench/relay`) as a WASI
/// function is built, into `target/bench/dist/wasi/<name>.wasm`.
///
/// # Errors
/// When the build fails.
pub fn build_bench_fixture(root: &Path, tools: &Tools, name: &str) -> Result<PathBuf> {
    let out = root.join("target/bench/dist");
    let krate = Crate::read(&root.join("bench").join(name))?;
    build_flavours(
        root,
        tools,
        &krate,
        &out,
        &["wasi"],
        &format!("build bench {name}"),
    )?;
    Ok(out.join("wasi").join(format!("{}.wasm", krate.name())))
}

struct Size {
    artifact: String,
    bytes: u64,
    gzip: u64,
}

/// Cargo `--config` override for the wasm32-wasip2 builds: no symbol names (wasm-bindgen,
/// which needs the target_features section that stripping symbols removes, never sees these
/// builds).
pub const WASIP2_CORE_MODULE_CONFIG: &[&str] = &["--config", "profile.release.strip=\"symbols\""];

/// The wasip2 rustflags: link a core module (rustc's linker would componentize it right
/// away) so binaryen can shrink it before `wasm-tools component new`,
/// and the paths panic locations embed lose the machine's prefixes (the crates.io source
/// directory, the checkout), so a component is the same bytes on every machine and about
/// 1 KB smaller.
fn wasip2_rustflags(root: &Path) -> String {
    let mut flags = vec!["-C".to_owned(), "link-arg=--skip-wit-component".to_owned()];
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let registries = cargo_home
        .and_then(|home| std::fs::read_dir(home.join("registry/src")).ok())
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok().map(|e| e.path()));
    for prefix in registries.chain([root.to_path_buf()]) {
        flags.push(format!("--remap-path-prefix={}/=", prefix.display()));
    }
    let quoted: Vec<String> = flags.iter().map(|f| format!("{f:?}")).collect();
    format!("target.wasm32-wasip2.rustflags=[{}]", quoted.join(", "))
}

/// The WASI preview 1 adapter of wasmtime 48 a component is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Adapter {
    /// For a function: imports nothing outside the wasi:http proxy world.
    Proxy,
    /// For a wasi:cli program (the core-cost bench): Rust's wasm32-wasip2 std exports
    /// `wasi:cli/run` from the module itself (no `_start` for the command adapter to call),
    /// so only its preview 1 calls are adapted.
    Reactor,
}

impl Adapter {
    fn file(self) -> &'static str {
        match self {
            Self::Proxy => "wasi_snapshot_preview1.proxy.wasm",
            Self::Reactor => "wasi_snapshot_preview1.reactor.wasm",
        }
    }

    fn bytes(self) -> &'static [u8] {
        use wasi_preview1_component_adapter_provider as provider;
        match self {
            Self::Proxy => provider::WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER,
            Self::Reactor => provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        }
    }
}

/// Where the WASI preview 1 adapter is written for `wasm-tools component new --adapt`.
fn preview1_adapter(root: &Path, kind: Adapter) -> Result<PathBuf> {
    let path = root.join("target/flavour").join(kind.file());
    let adapter = kind.bytes();
    if std::fs::read(&path).ok().as_deref() != Some(adapter) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&path, adapter).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(path)
}

/// wasm-opt -Oz on the core module, then `wasm-tools component new` (the WIT travels in the
/// module's `component-type` custom sections, which wasm-opt keeps). A module that imports
/// WASI preview 1 (getrandom 0.2 under the RSA crates asks for `random_get`) gets the proxy
/// adapter of wasmtime 48, which maps those calls onto wasi:* 0.2 and imports nothing outside
/// the wasi:http proxy world (a wasi:cli program gets the reactor adapter instead). Last, the
/// custom sections nothing reads are dropped ([`UNREAD_CUSTOM_SECTIONS`]).
fn componentize(root: &Path, tools: &Tools, core: &Path, out: &Path, kind: Adapter) -> Result {
    // wasm-opt is most of a no-change rebuild (about 10 s per module): when the core module,
    // the adapter and the tools (their cache paths carry their pins) are what made `out`, it
    // stands. The stamp is a hash, not a signature: a mismatch only means building again.
    let stamp_path = out.with_extension("stamp");
    let stamp = {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::hash::DefaultHasher::new();
        std::fs::read(core)
            .map_err(|e| format!("{}: {e}", core.display()))?
            .hash(&mut hasher);
        kind.bytes().hash(&mut hasher);
        tools.bin("wasm-opt").hash(&mut hasher);
        tools.bin("wasm-tools").hash(&mut hasher);
        WASM_OPT_ARGS.hash(&mut hasher);
        UNREAD_CUSTOM_SECTIONS.hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    };
    if out.exists() && std::fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
        return Ok(());
    }
    componentize_anew(root, tools, core, out, kind)?;
    std::fs::write(&stamp_path, stamp).map_err(|e| format!("{}: {e}", stamp_path.display()))
}

/// wasm-opt's flags for every component.
const WASM_OPT_ARGS: &[&str] = &[
    "-Oz",
    // Run -Oz's passes again while they still shrink the module (a few hundred bytes).
    "--converge",
    // Fold `x + C` (C < 1024) into a load's or store's offset (about 1.2 KB): the two differ
    // only when `x + C` wraps past 4 GiB into the first 1 KiB, which `--low-memory-unused`
    // rules out. Rust's pointers into a memory below 4 GiB never wrap, so no access moves; a
    // bogus address that would have wrapped now traps.
    "--low-memory-unused",
    // After -Oz (which would fold them back): a large constant used many times (mostly
    // addresses of static data) becomes one immutable global, about 1.5 KB less for about
    // 0.5 KB more gzipped. (`--reorder-functions` would save 0.7 KB for 1.6 KB more gzipped,
    // so it is left out.)
    "--const-hoisting",
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-multivalue",
    "--enable-reference-types",
];

fn componentize_anew(root: &Path, tools: &Tools, core: &Path, out: &Path, kind: Adapter) -> Result {
    let optimized = core.with_extension("opt.wasm");
    run(std::process::Command::new(tools.bin("wasm-opt"))
        .args(WASM_OPT_ARGS)
        .arg(core)
        .arg("-o")
        .arg(&optimized))?;
    let adapter = preview1_adapter(root, kind)?;
    let named = out.with_extension("named.wasm");
    run(std::process::Command::new(tools.bin("wasm-tools"))
        .args(["component", "new"])
        .arg(&optimized)
        .arg("--adapt")
        .arg(format!("wasi_snapshot_preview1={}", adapter.display()))
        .arg("-o")
        .arg(&named))?;
    let component = std::fs::read(&named).map_err(|e| format!("{}: {e}", named.display()))?;
    let stripped = without_custom_sections(&component, UNREAD_CUSTOM_SECTIONS)
        .ok_or_else(|| format!("{}: not a well-formed component", named.display()))?;
    std::fs::write(out, stripped).map_err(|e| format!("{}: {e}", out.display()))
}

/// Custom sections of a component that nothing reads at run time: `component-name` (debug
/// names of the component's own items, about 10 KB), the `name` sections of the modules
/// `wasm-tools component new` adds around the core module (its shim and fixup modules' function
/// names, about 2 KB; the core module has none, wasm-opt dropped them), which Wasmtime (so
/// Spin and the edge host) would only use to name frames in a trap's backtrace, and every
/// module's `producers` (the toolchain that made it, about 200 bytes).
const UNREAD_CUSTOM_SECTIONS: &[&[u8]] = &[b"component-name", b"name", b"producers"];

/// Reads an unsigned LEB128 at `at`, returning the value and the index after it.
fn leb128(bytes: &[u8], mut at: usize) -> Option<(usize, usize)> {
    let mut value = 0usize;
    let mut shift = 0;
    loop {
        let byte = *bytes.get(at)?;
        at += 1;
        value |= usize::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some((value, at));
        }
        shift += 7;
    }
}

/// Appends `value` as an unsigned LEB128.
fn push_leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// `wasm` (a module or a component: both start with the same preamble and section layout)
/// without its custom sections called one of `names`: at the top level and, in a component,
/// in every core module and component nested in it; `None` when the section structure does
/// not parse.
fn without_custom_sections(wasm: &[u8], names: &[&[u8]]) -> Option<Vec<u8>> {
    // A component's preamble says layer 1 (bytes 6..8); its sections 1 (core module) and 4
    // (component) each hold a whole binary. In a module, section 1 is the type section.
    let component = wasm.get(6..8)? == [1, 0];
    let mut out = wasm.get(..8)?.to_vec();
    let mut at = 8;
    while at < wasm.len() {
        let id = *wasm.get(at)?;
        let (size, body) = leb128(wasm, at + 1)?;
        let end = body.checked_add(size)?;
        let section = wasm.get(at..end)?;
        let contents = wasm.get(body..end)?;
        if id == 0 {
            let (len, start) = leb128(contents, 0)?;
            let name = contents.get(start..start.checked_add(len)?)?;
            if !names.contains(&name) {
                out.extend_from_slice(section);
            }
        } else if component && (id == 1 || id == 4) {
            let nested = without_custom_sections(contents, names)?;
            out.push(id);
            push_leb128(&mut out, nested.len());
            out.extend_from_slice(&nested);
        } else {
            out.extend_from_slice(section);
        }
        at = end;
    }
    Some(out)
}

/// Builds `krate` in each of `flavours`; the time of each flavour adds up in the phase
/// `<phase> <flavour>`.
fn build_flavours(
    root: &Path,
    tools: &Tools,
    krate: &Crate,
    out: &Path,
    flavours: &[&str],
    phase: &str,
) -> Result<Vec<Size>> {
    let mut sizes = Vec::new();
    for flavour in ["wasi", "spin"] {
        if flavours.contains(&flavour) {
            sizes.push(crate::phases::time(&format!("{phase} {flavour}"), || {
                build_wasip2(root, tools, krate, out, flavour)
            })?);
        }
    }
    if flavours.contains(&"workers") {
        sizes.extend(crate::phases::time(&format!("{phase} workers"), || {
            build_workers(root, tools, krate, out)
        })?);
    }
    Ok(sizes)
}

fn build_wasip2(
    root: &Path,
    tools: &Tools,
    krate: &Crate,
    out: &Path,
    flavour: &str,
) -> Result<Size> {
    let name = krate.name();
    {
        let target_dir = root.join("target/flavour").join(flavour);
        let mut args = vec!["--features".to_owned(), flavour.to_owned()];
        args.extend(speed_config(&krate.speed_over_size));
        cargo_build_wasip2(root, tools, &krate.package, &args, &target_dir)?;
        let core = target_dir
            .join("wasm32-wasip2/release")
            .join(krate.artifact());
        let built = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{name}.component.wasm"));
        componentize(root, tools, &core, &built, Adapter::Proxy)?;
        let dest = out.join(flavour).join(format!("{name}.wasm"));
        copy(&built, &dest)?;
        size_of(&dest, format!("{flavour}/{name}.wasm"))
    }
}

/// `cargo build --release --target wasm32-wasip2 -p <package> <args>` into `target_dir`, with
/// the flags of every wasip2 build ([`WASIP2_CORE_MODULE_CONFIG`], [`wasip2_rustflags`]): a
/// core module, for [`componentize`].
fn cargo_build_wasip2(
    root: &Path,
    tools: &Tools,
    package: &str,
    args: &[String],
    target_dir: &Path,
) -> Result {
    run(cargo()
        .current_dir(root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "-p"])
        .arg(package)
        .args(args)
        .arg("--target-dir")
        .arg(target_dir)
        .envs(tools.lint_env())
        .args(WASIP2_CORE_MODULE_CONFIG)
        .arg("--config")
        .arg(wasip2_rustflags(root)))
}

/// Builds the binary of the crate in `dir`, a wasi:cli program (the core-cost bench, `bench/core`), as
/// the functions are built (release profile, their flags, wasm-opt), into the WASI flavour's
/// target dir (which shares their dependencies' builds); componentized with the reactor
/// adapter. Returns the component's path, for `wasmtime run`.
pub fn build_wasip2_command(root: &Path, tools: &Tools, dir: &str) -> Result<PathBuf> {
    let target_dir = root.join("target/flavour/wasi");
    let krate = Crate::read(&root.join(dir))?;
    let package = krate.package.as_str();
    let mut args = vec!["--bin".to_owned(), package.to_owned()];
    args.extend(speed_config(&krate.speed_over_size));
    cargo_build_wasip2(root, tools, package, &args, &target_dir)?;
    let release = target_dir.join("wasm32-wasip2/release");
    let component = release.join(format!("{package}.component.wasm"));
    componentize(
        root,
        tools,
        &release.join(format!("{package}.wasm")),
        &component,
        Adapter::Reactor,
    )?;
    Ok(component)
}

fn build_workers(root: &Path, tools: &Tools, krate: &Crate, out: &Path) -> Result<Vec<Size>> {
    let name = krate.name();
    let mut sizes = Vec::new();
    // workers-rs: worker-build runs cargo, wasm-bindgen, wasm-opt and esbuild.
    let target_dir = root.join("target/flavour/workers");
    run(std::process::Command::new(tools.bin("worker-build"))
        .arg("--release")
        .current_dir(&krate.dir)
        .envs(tools.env())
        .envs(tools.lint_env())
        .env("CARGO_TARGET_DIR", &target_dir))?;
    let built = krate.dir.join("build");
    // worker-build runs wasm-opt with --debuginfo, which keeps the module's `name` section
    // (function names for stack traces, about a fifth of the file). Nothing at run time reads
    // it (the JS glue binds exports by export name), so the deployed module goes without.
    let module = built.join("index_bg.wasm");
    let bytes = std::fs::read(&module).map_err(|e| format!("{}: {e}", module.display()))?;
    let stripped = without_custom_sections(&bytes, &[b"name"])
        .ok_or_else(|| format!("{}: not a well-formed module", module.display()))?;
    std::fs::write(&module, stripped).map_err(|e| format!("{}: {e}", module.display()))?;
    for file in ["index.js", "index_bg.wasm"] {
        let dest = out.join("workers").join(&name).join(file);
        copy(&built.join(file), &dest)?;
        sizes.push(size_of(&dest, format!("workers/{name}/{file}"))?);
    }
    let _ = std::fs::remove_dir_all(&built);
    Ok(sizes)
}

fn copy(from: &Path, to: &Path) -> Result {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copy {} -> {}: {e}", from.display(), to.display()))
}

/// The file's size and its gzip size (best compression): (bytes, gzip bytes).
///
/// # Errors
/// When the file cannot be read.
pub fn file_sizes(path: &Path) -> Result<(u64, u64)> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&bytes).map_err(|e| e.to_string())?;
    let gzip = gz.finish().map_err(|e| e.to_string())?.len() as u64;
    Ok((bytes.len() as u64, gzip))
}

fn size_of(path: &Path, artifact: String) -> Result<Size> {
    let (bytes, gzip) = file_sizes(path)?;
    Ok(Size {
        artifact,
        bytes,
        gzip,
    })
}

fn print_sizes(sizes: &[Size]) {
    let rows: Vec<[String; 3]> = sizes
        .iter()
        .map(|s| [s.artifact.clone(), s.bytes.to_string(), s.gzip.to_string()])
        .collect();
    print_table(["artifact", "bytes", "gzip bytes"], &rows);
}

/// Prints a Markdown table of a name column and two right-aligned figure columns (the size
/// tables of `build` and of the Workers dry runs).
pub fn print_table(headers: [&str; 3], rows: &[[String; 3]]) {
    let width = rows
        .iter()
        .map(|r| r[0].len())
        .chain([headers[0].len()])
        .max()
        .unwrap_or(0);
    println!(
        "\n| {:<width$} | {:>10} | {:>10} |",
        headers[0], headers[1], headers[2]
    );
    println!(
        "|{}|{}|{}|",
        "-".repeat(width + 2),
        "-".repeat(12),
        "-".repeat(12)
    );
    for [name, first, second] in rows {
        println!("| {name:<width$} | {first:>10} | {second:>10} |");
    }
}

#[cfg(test)]
mod tests {
    use super::{push_leb128, speed_config, speed_over_size, without_custom_sections};

    #[test]
    fn a_crate_names_the_dependencies_it_builds_for_speed() {
        let manifest =
            "[package]\nname = \"f\"\n\n[package.metadata.pulser]\nspeed-over-size = [\"sha2\"]\n";
        let crates = speed_over_size(manifest).unwrap_or_default();
        assert_eq!(crates, ["sha2"]);
        assert_eq!(
            speed_config(&crates),
            ["--config", "profile.release.package.sha2.opt-level=3"]
        );
        assert_eq!(speed_over_size("[package]\nname = \"f\"\n"), Ok(Vec::new()));
        assert!(
            speed_over_size("[package.metadata.pulser]\nspeed-over-size = \"sha2\"\n").is_err()
        );
    }

    /// A module with a type section, a custom `name` section and a custom `keep` section.
    const MODULE: &[u8] = &[
        0, b'a', b's', b'm', 1, 0, 0, 0, // preamble
        1, 1, 0, // type section: no types
        0, 6, 4, b'n', b'a', b'm', b'e', 9, // custom `name`
        0, 5, 4, b'k', b'e', b'e', b'p', // custom `keep`
    ];

    /// A component preamble.
    const COMPONENT: &[u8] = &[0, b'a', b's', b'm', 0x0d, 0, 1, 0];

    #[test]
    fn only_the_named_custom_section_is_dropped() {
        let out = without_custom_sections(MODULE, &[b"name"]).unwrap_or_default();
        assert_eq!(out, [&MODULE[..11], &MODULE[19..]].concat());
        assert_eq!(
            without_custom_sections(MODULE, &[b"other"]).unwrap_or_default(),
            MODULE
        );
        assert_eq!(
            without_custom_sections(MODULE, &[b"name", b"keep"]).unwrap_or_default(),
            &MODULE[..11]
        );
    }

    #[test]
    fn a_components_nested_modules_and_components_lose_them_too() {
        let section = |id: u8, body: &[u8]| {
            let mut out = vec![id];
            push_leb128(&mut out, body.len());
            out.extend_from_slice(body);
            out
        };
        let nested = [COMPONENT, &section(1, MODULE)].concat();
        let component = [
            COMPONENT,
            &section(1, MODULE),
            &section(4, &nested),
            &MODULE[11..19], // a top-level custom `name`
        ]
        .concat();
        let stripped = [&MODULE[..11], &MODULE[19..]].concat();
        let nested_stripped = [COMPONENT, &section(1, &stripped)].concat();
        assert_eq!(
            without_custom_sections(&component, &[b"name"]).unwrap_or_default(),
            [
                COMPONENT,
                &section(1, &stripped),
                &section(4, &nested_stripped)
            ]
            .concat()
        );
    }

    #[test]
    fn a_truncated_section_is_refused() {
        assert_eq!(without_custom_sections(&MODULE[..15], &[b"name"]), None);
    }

    #[test]
    fn leb128_round_trips() {
        for value in [0, 1, 127, 128, 300, 16_384, 1 << 28] {
            let mut out = Vec::new();
            push_leb128(&mut out, value);
            assert_eq!(super::leb128(&out, 0), Some((value, out.len())));
        }
    }
}

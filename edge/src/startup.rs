//! From the command line to a ready [`Edge`]: read the manifest and env files, resolve
//! variables, plan, compile, pick each component's flavour and link it. Every failure here is
//! a clear one-line message and a non-zero exit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::admission::{Admission, AdmissionError, Claim};
use crate::app::{self, Defaults, PlanError};
use crate::cache::{Cache, Source};
use crate::cli::Args;
use crate::engine::{self, EngineError, EngineSettings};
use crate::guest::{Declared, Guest};
use crate::host::HostState;
use crate::invoke::Served;
use crate::link::{self, LinkError};
use crate::log;
use crate::manifest::{self, ManifestError};
use crate::pipeline::Edge;
use crate::reuse::{self, Kept};
use crate::spin::stores::{MAX_STORE_BYTES, Stores};
use crate::variables::{AppValues, ValueSources, VariableError};

/// Why the host did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The manifest file could not be read.
    #[error("cannot read the manifest {}: {reason}", .path.display())]
    ReadManifest {
        /// The path given.
        path: PathBuf,
        /// The OS reason.
        reason: String,
    },
    /// The manifest is not one the host can serve.
    #[error("{}: {error}", .path.display())]
    Manifest {
        /// The path given.
        path: PathBuf,
        /// What is wrong.
        error: ManifestError,
    },
    /// An env file could not be read or parsed.
    #[error("env file {}: {reason}", .path.display())]
    EnvFile {
        /// The path given.
        path: PathBuf,
        /// What is wrong (never a value from the file).
        reason: String,
    },
    /// A `SPIN_VARIABLE_*` environment variable is not UTF-8.
    #[error("environment variable {name} is not valid UTF-8")]
    Environment {
        /// The variable.
        name: String,
    },
    /// Variables could not be resolved.
    #[error(transparent)]
    Variables(VariableError),
    /// The application could not be planned.
    #[error(transparent)]
    Plan(PlanError),
    /// Engine or compilation failure.
    #[error(transparent)]
    Engine(EngineError),
    /// A component could not be instantiated (for example, it does not fit the pool).
    #[error(
        "component `{component}` cannot be instantiated: {reason} (--max-memory-mb and --max-instances size the pool)"
    )]
    Instantiate {
        /// The component id.
        component: String,
        /// Wasmtime's reason.
        reason: String,
    },
    /// The byte budget or the instance slots cannot hold every component's reserve.
    #[error(transparent)]
    Admission(AdmissionError),
    /// A component could not be linked.
    #[error("component `{component}` ({}): {error}", .path.display())]
    Link {
        /// The component id.
        component: String,
        /// The file.
        path: PathBuf,
        /// Why.
        error: LinkError,
    },
}

/// Reads, resolves, compiles and links everything `args` names.
///
/// # Errors
/// [`StartupError`] for the first problem found.
pub fn load(args: &Args, runtime: &tokio::runtime::Handle) -> Result<Edge, StartupError> {
    let text = std::fs::read_to_string(&args.manifest).map_err(|e| StartupError::ReadManifest {
        path: args.manifest.clone(),
        reason: e.to_string(),
    })?;
    let manifest = manifest::parse(&text).map_err(|error| StartupError::Manifest {
        path: args.manifest.clone(),
        error,
    })?;

    let mut sources = ValueSources::from_environment(spin_variables_from_environment()?);
    for path in &args.env_files {
        sources.add_env_file(read_env_file(path)?);
    }
    let values = AppValues::resolve(&manifest, &sources).map_err(StartupError::Variables)?;
    let defaults = Defaults {
        max_body_bytes: args.max_body_bytes,
        timeout: args.request_timeout,
    };
    let plan = app::plan(&manifest, &values, &args.components_dir(), defaults)
        .map_err(StartupError::Plan)?;
    if plan.components.is_empty() {
        log::event(
            log::Level::Warn,
            "the manifest routes no component; every request gets 404",
            &[("manifest", &args.manifest.display().to_string())],
        );
    }
    for duplicate in &plan.duplicates {
        log::event(
            log::Level::Warn,
            "route given twice; the later trigger wins",
            &[("route", &duplicate.route)],
        );
    }
    // Before compiling anything: limits that cannot hold every reserve fail fast. The
    // components keep the plan's order, which is the order `admission` knows them by.
    let claims: Vec<Claim<'_>> = plan
        .components
        .iter()
        .map(|c| Claim {
            id: &c.id,
            max_body_bytes: c.max_body_bytes,
        })
        .collect();
    let admission = Admission::new(args.max_buffered_bytes(), args.max_instances, &claims)
        .map_err(StartupError::Admission)?;

    let reuse_of = |component: &app::ComponentPlan| {
        if args.no_reuse { 1 } else { component.reuse }
    };
    let kept_instances = plan
        .components
        .iter()
        .filter(|c| reuse_of(c) > 1)
        .map(|_| reuse::KEPT_PER_COMPONENT)
        .sum();
    let engine = engine::new(&EngineSettings {
        max_instances: args.max_instances,
        kept_instances,
        max_memory_bytes: usize::try_from(args.max_memory_mb)
            .unwrap_or(usize::MAX)
            .saturating_mul(1024 * 1024),
        perf_map: args.perf_map,
    })
    .map_err(StartupError::Engine)?;
    engine::start_epoch_ticker(&engine);
    let cache = args
        .cache_dir
        .as_deref()
        .map(|dir| Cache::open(dir, &engine))
        .transpose()
        .map_err(StartupError::Engine)?;

    // Compiling (or mapping from the cache) and linking each component is independent of the
    // others and most of a start's time, so the components are loaded side by side; the
    // first request waits for the slowest, not the sum.
    let linked: Vec<Result<Linked, StartupError>> = std::thread::scope(|scope| {
        let loading: Vec<_> = plan
            .components
            .iter()
            .map(|component| {
                let (engine, cache) = (&engine, cache.as_ref());
                let handle = scope.spawn(move || compile_and_link(args, engine, cache, component));
                (component, handle)
            })
            .collect();
        loading
            .into_iter()
            .map(|(component, handle)| {
                handle.join().unwrap_or_else(|_| {
                    Err(StartupError::Engine(EngineError::Compile {
                        path: component.wasm.display().to_string(),
                        reason: "compiling stopped with a panic".to_owned(),
                    }))
                })
            })
            .collect()
    });

    // One store per key-value label for the whole process, shared by every component
    // granted the label, as under Spin.
    let mut stores = Stores::new(MAX_STORE_BYTES);
    let mut served = Vec::with_capacity(plan.components.len());
    let mut ready = Vec::with_capacity(plan.components.len());
    // In the plan's order, so the first problem reported is the same on every start.
    for (component, linked) in plan.components.into_iter().zip(linked) {
        let Linked {
            flavour,
            pre,
            source,
            took,
        } = linked?;
        let declared = Declared {
            id: &component.id,
            variables: &component.variables,
            environment: &component.environment,
            key_value_stores: &component.key_value_stores,
        };
        // The error names the component already.
        let guest = Guest::new(flavour, declared, &mut stores).map_err(StartupError::Variables)?;
        let reuse = reuse_of(&component);
        ready.push([
            ("component", component.id.clone()),
            ("file", component.wasm.display().to_string()),
            ("flavour", flavour.to_string()),
            ("cache", source.as_str().to_owned()),
            ("compile_ms", took.as_millis().to_string()),
            ("reuse", reuse.to_string()),
            ("environment", comma_list(guest.environment.names())),
            ("variables", comma_list(guest.spin.variables.names())),
            ("key_value_stores", comma_list(guest.spin.stores.labels())),
        ]);
        let ready_to_serve = Served {
            id: Arc::from(component.id.as_str()),
            guest,
            allowed_hosts: Arc::new(component.allowed_hosts),
            max_body_bytes: component.max_body_bytes,
            timeout: component.timeout,
            pre,
            kept: Arc::new(Kept::new(reuse)),
        };
        runtime
            .block_on(ready_to_serve.check_instantiation(&engine))
            .map_err(|reason| StartupError::Instantiate {
                component: component.id.clone(),
                reason,
            })?;
        served.push(ready_to_serve);
    }
    // Reported only once everything loaded, so a failed start-up prints its one error line.
    for fields in &ready {
        let fields = fields.each_ref().map(|(key, value)| (*key, value.as_str()));
        log::event(log::Level::Info, "component ready", &fields);
    }
    for (route, index) in plan.router.routes() {
        let component = served.get(*index).map_or("", |s| &*s.id);
        log::event(
            log::Level::Info,
            "route",
            &[("route", route), ("component", component)],
        );
    }
    Ok(Edge::new(
        engine,
        served,
        plan.router,
        admission,
        args.ready_url.clone(),
    ))
}

/// A component compiled and linked, before its variables are bound.
struct Linked {
    flavour: link::Flavour,
    pre: ProxyPre<HostState>,
    source: Source,
    /// Compiling (or mapping) and linking it.
    took: Duration,
}

/// Compiles (or maps from `cache`) and links one component: everything about it that needs
/// no other component, so it can run beside the others.
fn compile_and_link(
    args: &Args,
    engine: &Engine,
    cache: Option<&Cache>,
    component: &app::ComponentPlan,
) -> Result<Linked, StartupError> {
    let started = Instant::now();
    let (compiled, source) =
        engine::compile(engine, &component.wasm, cache).map_err(StartupError::Engine)?;
    let link_error = |error| StartupError::Link {
        component: component.id.clone(),
        path: component.wasm.clone(),
        error,
    };
    let flavour =
        link::Flavour::choose(args.forced_flavour(), engine, &compiled).map_err(link_error)?;
    let pre = link::prepare(engine, &compiled, flavour).map_err(link_error)?;
    Ok(Linked {
        flavour,
        pre,
        source,
        took: started.elapsed(),
    })
}

/// Names for a start-up line: `a,b,c`.
fn comma_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(",")
}

/// `SPIN_VARIABLE_*` from the process environment.
fn spin_variables_from_environment() -> Result<Vec<(String, String)>, StartupError> {
    let mut vars = Vec::new();
    for (key, value) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if !key.starts_with(crate::variables::ENV_PREFIX) {
            continue;
        }
        let value = value.into_string().map_err(|_| StartupError::Environment {
            name: key.to_owned(),
        })?;
        vars.push((key.to_owned(), value));
    }
    Ok(vars)
}

/// One dotenv file, parsed as Spin parses them (dotenvy).
fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, StartupError> {
    let env_file_error = |reason: String| StartupError::EnvFile {
        path: path.to_path_buf(),
        reason,
    };
    let entries = dotenvy::from_path_iter(path).map_err(|e| env_file_error(describe(&e)))?;
    entries
        .enumerate()
        .map(|(position, entry)| {
            entry.map_err(|e| env_file_error(format!("entry {}: {}", position + 1, describe(&e))))
        })
        .collect()
}

/// A dotenvy error without the offending line, which may hold a secret.
fn describe(error: &dotenvy::Error) -> String {
    match error {
        dotenvy::Error::LineParse(_, index) => {
            format!("cannot parse the line (at character {index})")
        }
        dotenvy::Error::Io(e) => e.to_string(),
        dotenvy::Error::EnvVar(e) => e.to_string(),
        _ => "cannot be read".to_owned(),
    }
}

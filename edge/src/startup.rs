//! From the command line to a ready [`Edge`]: read the manifest and env files, resolve
//! variables, plan, compile, pick each component's flavour and link it. Every failure here is
//! a clear one-line message and a non-zero exit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::admission::{Admission, AdmissionError, Claim};
use crate::app::{self, Defaults, PlanError};
use crate::cli::Args;
use crate::engine::{self, EngineError, EngineSettings};
use crate::guest::{Declared, Guest};
use crate::invoke::Served;
use crate::link::{self, LinkError};
use crate::log;
use crate::manifest::{self, ManifestError};
use crate::pipeline::Edge;
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

    let engine = engine::new(&EngineSettings {
        max_instances: args.max_instances,
        max_memory_bytes: usize::try_from(args.max_memory_mb)
            .unwrap_or(usize::MAX)
            .saturating_mul(1024 * 1024),
        cache_dir: args.cache_dir.clone(),
    })
    .map_err(StartupError::Engine)?;
    engine::start_epoch_ticker(&engine);

    // One store per key-value label for the whole process, shared by every component
    // granted the label, as under Spin.
    let mut stores = Stores::new(MAX_STORE_BYTES);
    let mut served = Vec::with_capacity(plan.components.len());
    let mut ready = Vec::with_capacity(plan.components.len());
    for component in plan.components {
        let started = Instant::now();
        let compiled = engine::compile(&engine, &component.wasm).map_err(StartupError::Engine)?;
        let link_error = |error| StartupError::Link {
            component: component.id.clone(),
            path: component.wasm.clone(),
            error,
        };
        let flavour =
            link::Flavour::choose(args.forced_flavour(), &engine, &compiled).map_err(link_error)?;
        let pre = link::prepare(&engine, &compiled, flavour).map_err(link_error)?;
        let declared = Declared {
            id: &component.id,
            variables: &component.variables,
            environment: &component.environment,
            key_value_stores: &component.key_value_stores,
        };
        // The error names the component already.
        let guest = Guest::new(flavour, declared, &mut stores).map_err(StartupError::Variables)?;
        ready.push([
            ("component", component.id.clone()),
            ("file", component.wasm.display().to_string()),
            ("flavour", flavour.to_string()),
            ("compile_ms", started.elapsed().as_millis().to_string()),
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

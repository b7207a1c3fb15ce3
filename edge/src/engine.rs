//! The Wasmtime engine: cranelift, the pooling allocator sized from the command line, and
//! epoch interruption driven by a ticker thread (each request's store turns ticks into its
//! deadline, see `invoke`).

use std::path::Path;
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::{Cache, Source};

/// How often the epoch advances: the granularity of CPU deadlines and of yielding a busy
/// guest back to the executor.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine settings from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSettings {
    /// Concurrent instances (one per in-flight request).
    pub max_instances: u32,
    /// Instances kept between requests at most, beside those in flight (`reuse`).
    pub kept_instances: u32,
    /// Largest linear memory an instance may grow to.
    pub max_memory_bytes: usize,
    /// Whether to write a perf map of the guests' code (`--perf-map`).
    pub perf_map: bool,
}

/// Core instances, memories and tables a component instance may need: a wasm32-wasip2 Rust
/// component has one main module plus a few small adapter shims.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 4;

/// Bytes of a returning instance's linear memory put back in place rather than unmapped.
/// Most requests get a fresh instance (`reuse` keeps some), and resetting a returned slot with
/// `madvise` costs a system call, TLB-shootdown interrupts on the other cores and, for the
/// next request, a page fault on each page it touches again. With Linux's `PAGEMAP_SCAN`
/// (6.7 and later) Wasmtime finds the pages a request dirtied and rewrites just those, up to
/// this many bytes (a request here dirties a few hundred KB), so the common request takes no
/// fault and no `madvise`.
/// Without the scan this would `memset` the lowest bytes of every memory whether touched or
/// not, which costs more than it saves, so it is then left off.
const KEEP_RESIDENT_BYTES: usize = 1 << 20;
/// The same for tables (a few KB each).
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;

/// Why the engine or a component could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The engine (and its instance pool) could not be created.
    #[error(
        "cannot create the Wasmtime engine: {0} (a smaller --max-instances or --max-memory-mb needs less address space)"
    )]
    Engine(String),
    /// The compilation cache directory cannot be used.
    #[error("cannot use {dir} as the compilation cache: {reason}")]
    Cache {
        /// The directory given.
        dir: String,
        /// The OS reason.
        reason: String,
    },
    /// A component file could not be read or compiled.
    #[error("cannot compile {path}: {reason}")]
    Compile {
        /// The file.
        path: String,
        /// Wasmtime's reason.
        reason: String,
    },
}

/// An engine with the pooling allocator and epoch interruption.
///
/// # Errors
/// [`EngineError::Engine`] when the pool cannot be reserved.
pub fn new(settings: &EngineSettings) -> Result<Engine, EngineError> {
    let n = settings
        .max_instances
        .max(1)
        .saturating_add(settings.kept_instances);
    let mut pooling = PoolingAllocationConfig::new();
    pooling
        .total_component_instances(n)
        .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_memories(n.saturating_mul(MEMORIES_PER_COMPONENT))
        .total_tables(n.saturating_mul(TABLES_PER_COMPONENT))
        .total_stacks(n)
        .max_memory_size(settings.max_memory_bytes);
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pooling
            .pagemap_scan(wasmtime::Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES);
    }
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    if settings.perf_map {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Engine::new(&config).map_err(|e| EngineError::Engine(format!("{e:#}")))
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until the engine is dropped.
pub fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let ticker = std::thread::Builder::new()
        .name("edge-epoch".to_owned())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(error) = ticker {
        // Without the ticker a guest busy on the CPU is stopped only by the async timeout,
        // which it never yields to.
        crate::log::event(
            crate::log::Level::Error,
            "cannot start the epoch ticker",
            &[("error", &error.to_string())],
        );
    }
}

/// Compiles one component file, through `cache` when there is one.
///
/// # Errors
/// [`EngineError::Compile`] naming the file.
pub fn compile(
    engine: &Engine,
    path: &Path,
    cache: Option<&Cache>,
) -> Result<(Component, Source), EngineError> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::Compile {
        path: path.display().to_string(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            "no such file (build the WASI flavour first: cargo xtask build)".to_owned()
        } else {
            e.to_string()
        },
    })?;
    match cache {
        Some(cache) => cache.load_or_compile(engine, path, &bytes),
        None => Component::new(engine, &bytes)
            .map(|component| (component, Source::Uncached))
            .map_err(|e| compile_error(path, &e)),
    }
}

/// [`EngineError::Compile`] for `path` from Wasmtime's `error`.
pub(crate) fn compile_error(path: &Path, error: &wasmtime::Error) -> EngineError {
    EngineError::Compile {
        path: path.display().to_string(),
        reason: format!("{error:#}"),
    }
}

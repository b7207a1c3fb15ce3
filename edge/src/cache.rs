//! The compiled-component cache behind `--cache-dir`: one file per component build and engine
//! configuration, mapped straight into memory on the next start.
//!
//! Wasmtime's own cache (its `cache` feature) stores the same artifact zstd-compressed, so every
//! hit is a read, a decompression and a copy into fresh executable memory, plus a statistics
//! file written behind it. A start of the edge host loads every component before it answers,
//! so those costs add up in the first request's latency. Here a hit is an `mmap` of the
//! precompiled file (what `wasmtime compile` writes and `wasmtime run --allow-precompiled`
//! loads), and the page cache shares it between processes.
//!
//! A file is named after the SHA-256 of the component's bytes and a hash of everything in the
//! engine that changes the compiled code (Wasmtime's version, target, cranelift settings,
//! tunables), so a rebuilt component or a different host build misses rather than loading
//! something stale. Files are written under a temporary name and renamed into place, never
//! changed where they are, which is what makes mapping them and sharing the directory between
//! processes sound.
//!
//! Every rebuild leaves its old file behind, so opening the cache removes the files no start
//! has used for [`UNUSED_FOR`] (a hit moves its file's modification time forward, at most
//! once a day) and temporary files a killed process abandoned.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::engine::{EngineError, compile_error};

/// A compiled file no start has used for this long is removed when a host opens the cache:
/// every rebuild of a component (and every host upgrade) leaves a file behind, and nothing
/// else would ever delete them.
pub const UNUSED_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// A hit moves its file's modification time forward at most this often, so a start that
/// maps every component writes nothing in the common case.
const MARK_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
/// A temporary file this old was left by a write that never finished (a killed process).
const ABANDONED_AFTER: Duration = Duration::from_secs(60 * 60);

/// How a component was obtained, for its start-up line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Mapped from the cache.
    Hit,
    /// Compiled, then written to the cache for the next start.
    Stored,
    /// Compiled; the cache could not take it (the reason was logged).
    NotStored,
    /// Compiled; no cache directory was given.
    Uncached,
}

impl Source {
    /// The word in the start-up line.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Stored => "stored",
            Self::NotStored => "not-stored",
            Self::Uncached => "off",
        }
    }
}

/// A cache directory, opened for one engine.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    /// The engine's part of every file name.
    engine_key: String,
}

impl Cache {
    /// Opens (creating it if need be) `dir` as the cache for `engine`'s builds. A relative
    /// `dir` is the working directory's, as for every other path on the command line.
    ///
    /// # Errors
    /// [`EngineError::Cache`] when the directory cannot be created.
    pub fn open(dir: &Path, engine: &Engine) -> Result<Self, EngineError> {
        let cache_error = |reason: String| EngineError::Cache {
            dir: dir.display().to_string(),
            reason,
        };
        let dir = std::path::absolute(dir).map_err(|e| cache_error(e.to_string()))?;
        std::fs::create_dir_all(&dir).map_err(|e| cache_error(e.to_string()))?;
        // The hasher only has to agree with itself within one host build: another build
        // whose hash came out differently only misses.
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        prune(&dir, SystemTime::now());
        Ok(Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    /// Where `wasm`'s compiled form lives.
    fn file_for(&self, wasm: &[u8]) -> PathBuf {
        let digest = pulser_signing::sha256_hex(wasm);
        self.dir
            .join(format!("{}-{}.cwasm", digest.as_str(), self.engine_key))
    }

    /// `wasm` (read from `path`) compiled for `engine`: mapped from the cache when an earlier
    /// start stored it, else compiled and stored.
    ///
    /// # Errors
    /// [`EngineError::Compile`] when `wasm` does not compile.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        path: &Path,
        wasm: &[u8],
    ) -> Result<(Component, Source), EngineError> {
        let file = self.file_for(wasm);
        // One look at the file answers both whether it is there and when it was last used.
        let found = std::fs::metadata(&file)
            .ok()
            .filter(std::fs::Metadata::is_file);
        if let Some(found) = found {
            // SAFETY: the file was written by `store` below from `Engine::precompile_component`
            // under a temporary name and renamed into place, and is never modified after, so
            // the mapping stays what Wasmtime wrote. Wasmtime checks its header against this
            // engine (version, target, settings) and refuses a mismatch. Whoever can write the
            // cache directory can run code in this process, as with Wasmtime's own cache; the
            // directory is the operator's, like the binary.
            #[allow(unsafe_code)]
            let mapped = unsafe { Component::deserialize_file(engine, &file) };
            match mapped {
                Ok(component) => {
                    if let Ok(last_used) = found.modified() {
                        mark_used(&file, last_used, SystemTime::now());
                    }
                    return Ok((component, Source::Hit));
                }
                // A truncated or foreign file: compile and replace it.
                Err(error) => crate::log::event(
                    crate::log::Level::Warn,
                    "cached component unusable; compiling it again",
                    &[
                        ("file", &file.display().to_string()),
                        ("error", &format!("{error:#}")),
                    ],
                ),
            }
        }
        let compiled = engine
            .precompile_component(wasm)
            .map_err(|e| compile_error(path, &e))?;
        let source = match self.store(&file, &compiled) {
            Ok(()) => Source::Stored,
            Err(reason) => {
                crate::log::event(
                    crate::log::Level::Warn,
                    "cannot write to the compilation cache; the next start compiles again",
                    &[("file", &file.display().to_string()), ("error", &reason)],
                );
                Source::NotStored
            }
        };
        // SAFETY: `compiled` came from `Engine::precompile_component` on this engine just now.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| compile_error(path, &e))?;
        Ok((component, source))
    }

    /// Writes `bytes` to `file` atomically: a temporary file in the same directory, renamed.
    fn store(&self, file: &Path, bytes: &[u8]) -> Result<(), String> {
        // Unique per write: two components with the same bytes compile side by side, and
        // other processes may share the directory.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let temporary = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            file.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, file))
            .map_err(|e| {
                let _ = std::fs::remove_file(&temporary);
                e.to_string()
            })
    }
}

/// Removes from `dir` the compiled files unused for [`UNUSED_FOR`] and temporary files
/// abandoned for [`ABANDONED_AFTER`] as of `now`. Best effort: a file that cannot be read or
/// removed (another process took it first, say) is left alone.
fn prune(dir: &Path, now: SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let limit = if name.ends_with(".cwasm") {
            UNUSED_FOR
        } else if name.starts_with('.') && name.ends_with(".tmp") {
            ABANDONED_AFTER
        } else {
            continue;
        };
        let modified = entry.metadata().and_then(|m| m.modified());
        let idle = modified.ok().and_then(|m| now.duration_since(m).ok());
        if idle.is_some_and(|idle| idle > limit) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Moves `file`'s modification time (`last_used`) to `now` if it is more than
/// [`MARK_EVERY`] behind: the "last used" that [`prune`] reads. The contents are not touched.
fn mark_used(file: &Path, last_used: SystemTime, now: SystemTime) {
    let behind = now.duration_since(last_used).ok();
    if behind.is_some_and(|behind| behind > MARK_EVERY)
        && let Ok(handle) = std::fs::File::options().append(true).open(file)
    {
        let _ = handle.set_modified(now);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The smallest component: no imports, no exports.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    /// Loads the empty component through `cache`: how it was obtained.
    fn load(cache: &Cache, engine: &Engine) -> Source {
        let (_, source) = cache
            .load_or_compile(engine, Path::new("empty.wasm"), EMPTY_COMPONENT)
            .unwrap();
        source
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("edge-cache-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_component_is_stored_on_the_first_load_and_mapped_on_the_second() {
        let dir = scratch("store-then-hit");
        let engine = engine();
        let cache = Cache::open(&dir, &engine).unwrap();
        let first = load(&cache, &engine);
        let second = load(&cache, &engine);
        assert_eq!((first, second), (Source::Stored, Source::Hit));
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 1, "one file, no temporary left: {names:?}");
        assert!(names[0].ends_with(".cwasm"), "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_file_is_compiled_again_and_replaced() {
        let dir = scratch("damaged");
        let engine = engine();
        let cache = Cache::open(&dir, &engine).unwrap();
        let file = cache.file_for(EMPTY_COMPONENT);
        std::fs::write(&file, b"not a precompiled component").unwrap();
        assert_eq!(load(&cache, &engine), Source::Stored);
        assert_eq!(load(&cache, &engine), Source::Hit);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_build_of_a_component_does_not_load_the_old_one() {
        let engine = engine();
        let cache = Cache::open(&scratch("keys"), &engine).unwrap();
        let mut other = EMPTY_COMPONENT.to_vec();
        // A custom section: the same component to Wasmtime, other bytes to the cache.
        other.extend_from_slice(b"\0\x02\x01x");
        assert_ne!(cache.file_for(EMPTY_COMPONENT), cache.file_for(&other));
    }

    #[test]
    fn an_engine_with_other_settings_has_other_files() {
        let dir = scratch("engines");
        let plain = engine();
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true).epoch_interruption(true);
        let interruptible = Engine::new(&config).unwrap();
        let a = Cache::open(&dir, &plain).unwrap();
        let b = Cache::open(&dir, &interruptible).unwrap();
        assert_ne!(a.file_for(EMPTY_COMPONENT), b.file_for(EMPTY_COMPONENT));
    }

    fn age(file: &Path, by: Duration) {
        let then = SystemTime::now() - by;
        std::fs::File::options()
            .append(true)
            .open(file)
            .unwrap()
            .set_modified(then)
            .unwrap();
    }

    #[test]
    fn files_unused_for_a_month_and_abandoned_temporaries_are_removed_on_open() {
        let dir = scratch("prune");
        std::fs::create_dir_all(&dir).unwrap();
        let day = Duration::from_secs(24 * 60 * 60);
        let files = [
            ("old-build.cwasm", 31 * day, false),
            ("recent-build.cwasm", 29 * day, true),
            (".half-written.cwasm.1.0.tmp", day, false),
            (
                ".being-written.cwasm.2.0.tmp",
                Duration::from_secs(60),
                true,
            ),
            ("someone-elses-file", 365 * day, true),
        ];
        for (name, idle, _) in files {
            let path = dir.join(name);
            std::fs::write(&path, b"x").unwrap();
            age(&path, idle);
        }
        Cache::open(&dir, &engine()).unwrap();
        for (name, _, kept) in files {
            assert_eq!(dir.join(name).exists(), kept, "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_hit_marks_its_file_used_so_it_is_not_pruned() {
        let dir = scratch("mark");
        let engine = engine();
        let cache = Cache::open(&dir, &engine).unwrap();
        load(&cache, &engine);
        let file = cache.file_for(EMPTY_COMPONENT);
        age(&file, UNUSED_FOR - Duration::from_secs(60));
        assert_eq!(load(&cache, &engine), Source::Hit);
        let idle = SystemTime::now()
            .duration_since(std::fs::metadata(&file).unwrap().modified().unwrap())
            .unwrap();
        assert!(idle < Duration::from_secs(60), "still {idle:?} old");
        Cache::open(&dir, &engine).unwrap();
        assert!(file.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_relative_cache_dir_is_taken_from_the_working_directory() {
        let engine = engine();
        let cache = Cache::open(Path::new("target/edge-cache-relative"), &engine).unwrap();
        assert!(cache.dir.is_absolute(), "{}", cache.dir.display());
    }
}

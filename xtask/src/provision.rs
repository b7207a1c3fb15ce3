//! Installing one tool into the cache so that a half-finished install is never mistaken for
//! a finished one.
//!
//! Every tool lives in its own directory, `<cache>/<kind>/<id>`, whose name carries the exact
//! version. An install runs in `<cache>/partial/<kind>-<id>.<pid>` and is renamed into place
//! only after it finished and its binary answered `--version` correctly, so a Ctrl-C, a failed
//! download or a full disk leaves at most a partial directory, which the next run deletes
//! (once the process that made it is gone) and never reads.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Result;

/// Where one tool is installed, and how to tell that it is.
#[derive(Debug)]
pub struct Slot<'a> {
    pub cache: &'a Path,
    /// `cargo`, `pip` or `npm`: one directory per installer.
    pub kind: &'a str,
    /// Unique per content: name and exact version (or a hash of a lock file).
    pub id: &'a str,
}

impl Slot<'_> {
    /// The directory the finished install lives in.
    pub fn dir(&self) -> PathBuf {
        self.cache.join(self.kind).join(self.id)
    }

    /// Returns the tool's directory, running `install` only when it is not already there.
    ///
    /// `ready` decides whether a directory holds a working install (it is asked of the
    /// partial directory before the rename, and of the final one on later runs); `install`
    /// fills the empty directory it is given.
    pub fn ensure(
        &self,
        ready: impl Fn(&Path) -> bool,
        install: impl FnOnce(&Path) -> Result,
    ) -> Result<PathBuf> {
        let dir = self.dir();
        if dir.is_dir() {
            if ready(&dir) {
                return Ok(dir);
            }
            // Not ours to trust (another version's binary, a tampered directory): start over.
            remove(&dir)?;
        }
        let partial_root = self.cache.join("partial");
        create(&partial_root)?;
        sweep_abandoned(&partial_root);
        let partial =
            partial_root.join(format!("{}-{}.{}", self.kind, self.id, std::process::id()));
        if partial.exists() {
            remove(&partial)?;
        }
        create(&partial)?;
        let installed = install(&partial).and_then(|()| {
            if ready(&partial) {
                Ok(())
            } else {
                Err(format!(
                    "{} {}: installed, but its binary does not answer with the expected version",
                    self.kind, self.id
                ))
            }
        });
        if let Err(e) = installed {
            // Best effort: the next run sweeps it anyway.
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
        create(&self.cache.join(self.kind))?;
        match std::fs::rename(&partial, &dir) {
            Ok(()) => Ok(dir),
            // Another run finished the same install first: keep theirs.
            Err(_) if dir.is_dir() && ready(&dir) => {
                let _ = std::fs::remove_dir_all(&partial);
                Ok(dir)
            }
            Err(e) => Err(format!(
                "rename {} -> {}: {e}",
                partial.display(),
                dir.display()
            )),
        }
    }
}

/// Deletes partial installs whose process has exited (interrupted runs). A partial
/// directory of a live process is a concurrent run's and is left alone.
fn sweep_abandoned(partial_root: &Path) {
    let Ok(entries) = std::fs::read_dir(partial_root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let owner = name
            .to_string_lossy()
            .rsplit_once('.')
            .and_then(|(_, pid)| pid.parse::<u32>().ok());
        let alive = owner.is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// True when `bin --version` runs and prints `version` as a whole word.
pub fn answers_version(bin: &Path, version: &str) -> bool {
    answers_version_to(bin, &["--version"], version)
}

/// [`answers_version`] for a tool that is asked its version another way (cargo-llvm-cov
/// answers only as a cargo subcommand: `cargo-llvm-cov llvm-cov --version`).
pub fn answers_version_to(bin: &Path, args: &[&str], version: &str) -> bool {
    Command::new(bin).args(args).output().is_ok_and(|out| {
        out.status.success()
            && String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .any(|word| word == version)
    })
}

fn create(dir: &Path) -> Result {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))
}

fn remove(dir: &Path) -> Result {
    std::fs::remove_dir_all(dir).map_err(|e| format!("remove {}: {e}", dir.display()))
}

#[cfg(test)]
pub(crate) mod tests {
    //! The code paths a warm machine never runs: a cache that does not exist yet, an install
    //! that fails half-way, a run killed mid-install, a wrong version in place.

    use super::*;
    use std::cell::Cell;
    use std::os::unix::fs::PermissionsExt as _;

    /// A fresh directory under the system temp dir, removed on drop.
    pub(crate) struct Scratch(pub(crate) PathBuf);

    impl Scratch {
        pub(crate) fn new(label: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "xtask-provision-{label}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Writes an executable `bin/tool` into `dir` that prints `tool <version>`.
    fn fake_tool(dir: &Path, version: &str) -> Result {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
        let path = bin.join("tool");
        std::fs::write(&path, format!("#!/bin/sh\necho tool {version}\n"))
            .map_err(|e| e.to_string())?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())
    }

    fn ready_at(version: &'static str) -> impl Fn(&Path) -> bool {
        move |dir| answers_version(&dir.join("bin/tool"), version)
    }

    fn partials(cache: &Path) -> Vec<String> {
        std::fs::read_dir(cache.join("partial"))
            .map(|it| {
                it.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_missing_cache_directory_is_created_and_the_tool_installed_once() {
        let scratch = Scratch::new("missing");
        let cache = scratch.0.join("does/not/exist/tools");
        let slot = Slot {
            cache: &cache,
            kind: "cargo",
            id: "tool-1.2.3",
        };
        let installs = Cell::new(0);
        let first = slot
            .ensure(ready_at("1.2.3"), |dir| {
                installs.set(installs.get() + 1);
                fake_tool(dir, "1.2.3")
            })
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(first, cache.join("cargo/tool-1.2.3"));
        assert!(answers_version(&first.join("bin/tool"), "1.2.3"));
        assert_eq!(partials(&cache), Vec::<String>::new());

        let second = slot
            .ensure(ready_at("1.2.3"), |_| {
                installs.set(installs.get() + 1);
                Err("must not reinstall a tool that answers with the right version".into())
            })
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(second, first);
        assert_eq!(installs.get(), 1);
    }

    #[test]
    fn a_failed_install_leaves_nothing_that_counts_as_installed() {
        let scratch = Scratch::new("failed");
        let cache = scratch.0.join("tools");
        let slot = Slot {
            cache: &cache,
            kind: "pip",
            id: "tool-2.0.0",
        };
        // The binary landed, then the install failed (a later file could not be written).
        let failed = slot.ensure(ready_at("2.0.0"), |dir| {
            fake_tool(dir, "2.0.0")?;
            Err("No space left on device".into())
        });
        assert_eq!(failed, Err("No space left on device".to_owned()));
        assert!(!slot.dir().exists());
        assert_eq!(partials(&cache), Vec::<String>::new());

        let installs = Cell::new(0);
        let dir = slot
            .ensure(ready_at("2.0.0"), |dir| {
                installs.set(installs.get() + 1);
                fake_tool(dir, "2.0.0")
            })
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(installs.get(), 1);
        assert!(answers_version(&dir.join("bin/tool"), "2.0.0"));
    }

    #[test]
    fn an_install_whose_binary_answers_another_version_is_refused() {
        let scratch = Scratch::new("wrong-answer");
        let cache = scratch.0.join("tools");
        let slot = Slot {
            cache: &cache,
            kind: "pip",
            id: "tool-3.0.0",
        };
        let result = slot.ensure(ready_at("3.0.0"), |dir| fake_tool(dir, "3.0.1"));
        assert!(result.is_err_and(|e| e.contains("expected version")));
        assert!(!slot.dir().exists());
    }

    #[test]
    fn a_run_killed_mid_install_is_swept_and_never_used() {
        let scratch = Scratch::new("killed");
        let cache = scratch.0.join("tools");
        // What a Ctrl-C during `cargo install` leaves: a partial directory whose process is
        // gone (no pid is this large on Linux) holding a binary that already works.
        let abandoned = cache.join("partial/cargo-tool-1.0.0.4294967295");
        fake_tool(&abandoned, "1.0.0").unwrap_or_else(|e| unreachable!("{e}"));
        let slot = Slot {
            cache: &cache,
            kind: "cargo",
            id: "tool-1.0.0",
        };
        assert!(!slot.dir().exists(), "a partial install is not an install");

        let installs = Cell::new(0);
        slot.ensure(ready_at("1.0.0"), |dir| {
            installs.set(installs.get() + 1);
            fake_tool(dir, "1.0.0")
        })
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(installs.get(), 1);
        assert!(!abandoned.exists());
        assert_eq!(partials(&cache), Vec::<String>::new());
    }

    #[test]
    fn a_partial_install_of_a_live_process_is_left_alone() {
        let scratch = Scratch::new("live");
        let cache = scratch.0.join("tools");
        let ours = format!("npm-other.{}", std::process::id());
        fake_tool(&cache.join("partial").join(&ours), "9").unwrap_or_else(|e| unreachable!("{e}"));
        let slot = Slot {
            cache: &cache,
            kind: "cargo",
            id: "tool-1.0.0",
        };
        slot.ensure(ready_at("1.0.0"), |dir| fake_tool(dir, "1.0.0"))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(partials(&cache), vec![ours]);
    }

    #[test]
    fn a_directory_that_does_not_answer_correctly_is_replaced() {
        let scratch = Scratch::new("replaced");
        let cache = scratch.0.join("tools");
        let slot = Slot {
            cache: &cache,
            kind: "cargo",
            id: "tool-4.0.0",
        };
        fake_tool(&slot.dir(), "3.9.9").unwrap_or_else(|e| unreachable!("{e}"));
        let dir = slot
            .ensure(ready_at("4.0.0"), |dir| fake_tool(dir, "4.0.0"))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(answers_version(&dir.join("bin/tool"), "4.0.0"));
    }

    #[test]
    fn the_version_must_be_a_whole_word_of_the_answer() {
        let scratch = Scratch::new("word");
        fake_tool(&scratch.0, "148.0.21").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(!answers_version(&scratch.0.join("bin/tool"), "48.0.2"));
        assert!(answers_version(&scratch.0.join("bin/tool"), "148.0.21"));
        assert!(!answers_version(&scratch.0.join("bin/absent"), "148.0.21"));
    }

    #[test]
    fn a_tool_can_be_asked_its_version_with_other_arguments() {
        let scratch = Scratch::new("args");
        let bin = scratch.0.join("subcommand");
        std::fs::create_dir_all(&scratch.0).unwrap_or_else(|e| unreachable!("{e}"));
        // Like cargo-llvm-cov: it answers only when its subcommand comes first.
        std::fs::write(
            &bin,
            "#!/bin/sh\n[ \"$1 $2\" = 'llvm-cov --version' ] || exit 2\necho cargo-llvm-cov 0.9.1\n",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(!answers_version(&bin, "0.9.1"));
        assert!(answers_version_to(
            &bin,
            &["llvm-cov", "--version"],
            "0.9.1"
        ));
    }
}

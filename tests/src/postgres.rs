//! A throwaway PostgreSQL 15 cluster: initdb into a directory, postgres on 127.0.0.1, run as
//! the `postgres` user when we are root (PostgreSQL refuses to run as root), plus psql.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Service, free_port};

/// Where the PostgreSQL server binaries are: `PULSER_PG_BIN_DIR`, else Debian's PostgreSQL 15.
pub fn bin_dir() -> PathBuf {
    let dir = std::env::var_os("PULSER_PG_BIN_DIR").map_or_else(
        || PathBuf::from("/usr/lib/postgresql/15/bin"),
        PathBuf::from,
    );
    for tool in ["initdb", "postgres", "psql"] {
        assert!(
            dir.join(tool).is_file(),
            "PostgreSQL 15 is required: {} not found. Install it with `apt-get install postgresql-15` \
             (or point PULSER_PG_BIN_DIR at its bin directory)",
            dir.join(tool).display()
        );
    }
    dir
}

/// The uid and gid of the `postgres` user, when we run as root.
fn run_as() -> Option<(u32, u32)> {
    let me = std::fs::metadata("/proc/self").ok()?;
    if std::os::unix::fs::MetadataExt::uid(&me) != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let ids = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    });
    Some(ids.unwrap_or_else(|| {
        panic!("running as root needs a `postgres` user to run PostgreSQL as (apt-get install postgresql-15 creates it)")
    }))
}

fn command(bin: &Path, as_user: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(bin);
    if let Some((uid, gid)) = as_user {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    if path.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            chown_tree(&entry.path(), uid, gid);
        }
    }
}

/// A running cluster.
#[derive(Debug)]
pub struct Postgres {
    service: Service,
    bin: PathBuf,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
}

impl Postgres {
    /// Starts a cluster whose data lives in `data_dir` (created with initdb when empty, reused
    /// otherwise), on `port` or a free one.
    pub fn start(data_dir: &Path, port: Option<u16>) -> Self {
        let bin = bin_dir();
        let as_user = run_as();
        std::fs::create_dir_all(data_dir)
            .unwrap_or_else(|e| panic!("create {}: {e}", data_dir.display()));
        if let Some((uid, gid)) = as_user {
            chown_tree(data_dir, uid, gid);
        }
        if !data_dir.join("PG_VERSION").is_file() {
            let out = command(&bin.join("initdb"), as_user)
                .args([
                    "--auth=trust",
                    "--username=postgres",
                    "--encoding=UTF8",
                    "--no-sync",
                ])
                .arg("-D")
                .arg(data_dir)
                .output()
                .expect("run initdb");
            assert!(
                out.status.success(),
                "initdb failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let port = port.unwrap_or_else(free_port);
        let mut cmd = command(&bin.join("postgres"), as_user);
        cmd.arg("-D")
            .arg(data_dir)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"]);
        let service = Service::start(cmd, port, "postgres").with_interrupt_on_drop();
        let pg = Self { service, bin, port };
        pg.wait_ready();
        pg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.psql_command().args(["-c", "select 1"]).output();
            if out.is_ok_and(|o| o.status.success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not become ready:\n{}",
                self.service.logs()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn psql_command(&self) -> Command {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres"]);
        cmd
    }

    /// Runs SQL and returns psql's unaligned, tuples-only output, trimmed.
    pub fn sql(&self, sql: &str) -> String {
        let out = self
            .psql_command()
            .args(["-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed for {sql}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs a SQL file in one transaction.
    pub fn apply_file(&self, path: &Path) {
        let out = self
            .psql_command()
            .arg("--single-transaction")
            .arg("-f")
            .arg(path)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "applying {} failed:\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Applies every `supabase/migrations/*.sql` not applied yet, in file-name order, and
    /// records each in `supabase_migrations.schema_migrations` as the Supabase CLI does.
    /// Returns the versions applied now.
    pub fn migrate(&self, migrations_dir: &Path) -> Vec<String> {
        self.sql(
            "create schema if not exists supabase_migrations; \
             create table if not exists supabase_migrations.schema_migrations \
             (version text primary key, name text)",
        );
        let mut files: Vec<PathBuf> = std::fs::read_dir(migrations_dir)
            .unwrap_or_else(|e| panic!("{}: {e}", migrations_dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        let mut applied = Vec::new();
        for file in files {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (version, name) = stem.split_once('_').unwrap_or((&stem, ""));
            assert!(
                version.len() == 14 && version.bytes().all(|b| b.is_ascii_digit()),
                "{}: migrations are named <14-digit timestamp>_<name>.sql",
                file.display()
            );
            let done = self.sql(&format!(
                "select count(*) from supabase_migrations.schema_migrations where version = '{version}'"
            ));
            if done == "1" {
                continue;
            }
            self.apply_file(&file);
            self.sql(&format!(
                "insert into supabase_migrations.schema_migrations (version, name) values ('{version}', '{}')",
                name.replace('\'', "''")
            ));
            applied.push(version.to_owned());
        }
        applied
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// What the server logged so far.
    pub fn logs(&self) -> String {
        self.service.logs()
    }
}

//! The benchmark's peers (`bench/peers/`): what users would run instead of our functions. Each
//! one is started against a [`Stack`]'s PostgREST with the settings our functions get there.
//! `cargo xtask bench` measures them next to ours; tests/tests/bench_peers.rs holds them to
//! ours. They are written for the bench only and are no part of the product.
//!
//! Each peer runs as one process of the native runtime (Deno's binary, Node's), never through a
//! shim, so [`Service::pid`] is the process whose peak RSS the bench reads. Its environment holds
//! its settings and nothing else, as a deploy of our function has only its own. The tools come
//! from `DENO_BIN`, `NODE_BIN` and `PULSER_NODE_MODULES`, which `cargo xtask test` sets (or
//! [`crate::stack::StackBuilder::tool`]). A missing one fails the start loudly.

use std::process::Command;

use crate::stack::{Stack, project_root};
use crate::{Service, free_port};

/// The settings every peer reads from the stack, by the names our functions read.
const SUPABASE_SETTINGS: [&str; 3] = [
    "SUPABASE_URL",
    "SUPABASE_REST_URL",
    "SUPABASE_SERVICE_ROLE_KEY",
];

/// A benchmark peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// `bench/peers/ingest.ts`: a Supabase-style Edge Function on Deno, the peer of
    /// `odoo_event_ingest`.
    DenoIngest,
    /// `bench/peers/github.mjs`: `node:http` and `@octokit/webhooks` on Node 22, the peer of
    /// `github_webhook`.
    NodeGithub,
}

impl Peer {
    /// Every peer.
    pub const ALL: [Self; 2] = [Self::DenoIngest, Self::NodeGithub];

    /// A short name, for logs and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::DenoIngest => "deno-ingest",
            Self::NodeGithub => "node-github",
        }
    }

    /// The function of ours it stands beside.
    pub const fn function(self) -> &'static str {
        match self {
            Self::DenoIngest => "odoo_event_ingest",
            Self::NodeGithub => "github_webhook",
        }
    }

    /// The variable naming its runtime's binary.
    pub const fn runtime_var(self) -> &'static str {
        match self {
            Self::DenoIngest => "DENO_BIN",
            Self::NodeGithub => "NODE_BIN",
        }
    }

    /// Its source, relative to the repository root.
    pub const fn script(self) -> &'static str {
        match self {
            Self::DenoIngest => "bench/peers/ingest.ts",
            Self::NodeGithub => "bench/peers/github.mjs",
        }
    }

    /// The secret list it verifies with (the one its function reads).
    pub const fn secret_var(self) -> &'static str {
        match self {
            Self::DenoIngest => "EDGE_HMAC_SECRET",
            Self::NodeGithub => "GITHUB_WEBHOOK_SECRET",
        }
    }
}

/// `host:port` of an `http(s)://` URL.
fn authority(url: &str) -> &str {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

/// Starts `peer` on a free port of 127.0.0.1, reading PostgREST and its secret from `stack`,
/// and waits until it accepts connections. Its output goes to `logs/<peer>-<port>.log` in
/// [`Stack::dir`]. The returned [`Service`] gives the port ([`Service::url`]) and the PID,
/// and stops the peer on drop.
///
/// # Panics
/// When the runtime's variable is unset or names no file, or the peer does not start.
pub fn start(peer: Peer, stack: &Stack) -> Service {
    let port = free_port();
    let script = project_root().join(peer.script());
    let mut settings: Vec<(&str, String)> = vec![
        ("PORT", port.to_string()),
        (peer.secret_var(), stack.var(peer.secret_var())),
    ];
    settings.extend(SUPABASE_SETTINGS.map(|name| (name, stack.var(name))));

    let mut cmd = Command::new(stack.tool(peer.runtime_var()));
    cmd.env_clear()
        .envs(settings.iter().map(|(name, value)| (*name, value)));
    match peer {
        Peer::DenoIngest => {
            // The same database the peer's SUPABASE_REST_URL names (SUPABASE_URL's otherwise).
            let rest = stack.var("SUPABASE_REST_URL");
            let database = if rest.is_empty() {
                stack.var("SUPABASE_URL")
            } else {
                rest
            };
            let names: Vec<&str> = settings.iter().map(|(name, _)| *name).collect();
            // Only what it needs: its own port, the database, its settings. It imports no
            // module (no remote, npm or config lookup), and Deno's own state stays in the stack.
            cmd.args(["run", "--no-config", "--no-lock", "--no-remote", "--no-npm"])
                .arg("--no-prompt")
                .arg(format!(
                    "--allow-net=127.0.0.1:{port},{}",
                    authority(&database)
                ))
                .arg(format!("--allow-env={}", names.join(",")))
                .arg(&script)
                .env("DENO_DIR", stack.dir().join("deno"))
                .env("DENO_NO_UPDATE_CHECK", "1")
                .env("NO_COLOR", "1");
        }
        Peer::NodeGithub => {
            // Where @octokit/webhooks is installed; github.mjs says why it imports from there.
            cmd.arg(&script)
                .env("PULSER_NODE_MODULES", stack.tool("PULSER_NODE_MODULES"));
        }
    }
    let log = stack
        .dir()
        .join("logs")
        .join(format!("{}-{port}.log", peer.name()));
    Service::start_logging_to(cmd, port, peer.name(), log, stack.keeps_logs())
}

#[cfg(test)]
mod tests {
    use super::authority;

    #[test]
    fn the_authority_of_a_url_is_its_host_and_port() {
        assert_eq!(authority("http://127.0.0.1:3000"), "127.0.0.1:3000");
        assert_eq!(
            authority("https://ref.supabase.co/rest/v1"),
            "ref.supabase.co"
        );
        assert_eq!(authority("127.0.0.1:9"), "127.0.0.1:9");
    }
}

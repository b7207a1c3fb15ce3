//! `edge`: the Wasmtime-based edge host. Serves every component of a Spin application on one
//! address, WASI-flavour or Spin-flavour builds, with routes, variables, key-value stores and
//! outbound allow-lists from spin.toml. See `edge --help` and the README section "The edge
//! host".

mod admission;
mod app;
mod body;
mod cache;
mod cli;
mod engine;
mod guest;
mod health;
mod host;
mod invoke;
mod link;
mod log;
mod manifest;
mod outbound;
mod pipeline;
mod pool;
mod reply;
mod reuse;
mod routes;
mod serve;
mod spin;
mod startup;
mod variables;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("edge")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    runtime.block_on(run(args))
}

async fn run(args: cli::Args) -> ExitCode {
    // Compiling is CPU-bound; keep it off the async workers.
    let (args, result) = match tokio::task::spawn_blocking(move || {
        let result = startup::load(&args, &tokio::runtime::Handle::current());
        (args, result)
    })
    .await
    {
        Ok(pair) => pair,
        Err(error) => return fail(&format!("start-up failed: {error}")),
    };
    let edge = match result {
        Ok(edge) => edge,
        Err(error) => return fail(&error.to_string()),
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => return fail(&format!("cannot listen on {}: {error}", args.listen)),
    };
    let address = listener.local_addr().unwrap_or(args.listen);
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "edge: listening on http://{address}");
        let _ = stdout.flush();
    }
    serve::serve(
        Arc::new(edge),
        listener,
        serve::Limits {
            max_connections: args.max_connections,
            grace: args.shutdown_grace,
        },
        serve::shutdown_signal(),
    )
    .await;
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr().lock(), "edge: error: {message}");
    ExitCode::FAILURE
}

//! When to stop: Ctrl-C or SIGTERM.

use crate::log;

/// Resolves on Ctrl-C or SIGTERM.
pub async fn signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                log::event(
                    log::Level::Warn,
                    "cannot listen for SIGTERM; only Ctrl-C stops the host",
                    &[("error", &error.to_string())],
                );
                std::future::pending::<()>().await;
            }
        }
    };
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            log::event(
                log::Level::Warn,
                "cannot listen for Ctrl-C; only SIGTERM stops the host",
                &[("error", &error.to_string())],
            );
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

//! Shutdown signals.

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub async fn shutdown() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}

/// Reloads the configuration on every SIGHUP, in a background task. Does nothing on
/// platforms without SIGHUP.
pub fn reload_on_hangup(reloader: std::sync::Arc<crate::reload::Reloader>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let mut hangups = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::hangup(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGHUP; reload with POST /admin/reload instead");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            tracing::info!("received SIGHUP; reloading");
            // The result is logged and counted by the reloader.
            let _ = reloader.reload();
        }
    });
    #[cfg(not(unix))]
    let _ = reloader;
}

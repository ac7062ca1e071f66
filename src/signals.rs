//! Shutdown signals.

/// Handlers for the shutdown signals.
///
/// Create it with [`listen`] before the process reports that it is ready. A signal that
/// arrives before its handler is installed still has its default effect, so it kills the
/// process instead of stopping it cleanly.
pub struct Shutdown {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

/// Installs the handlers for Ctrl-C (SIGINT) and, on Unix, SIGTERM now.
pub fn listen() -> Shutdown {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind: SignalKind, name: &'static str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(error) => {
                tracing::error!(%error, signal = name, "failed to install a shutdown signal handler");
                None
            }
        };
        Shutdown {
            interrupt: install(SignalKind::interrupt(), "SIGINT"),
            terminate: install(SignalKind::terminate(), "SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    Shutdown {}
}

impl Shutdown {
    /// Resolves when one of the signals arrives.
    pub async fn recv(self) {
        #[cfg(unix)]
        {
            async fn next(signal: Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = next(self.interrupt) => tracing::info!("received SIGINT"),
                () = next(self.terminate) => tracing::info!("received SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::error!(%error, "failed to install the Ctrl-C handler");
                std::future::pending::<()>().await;
            }
            tracing::info!("received Ctrl-C");
        }
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

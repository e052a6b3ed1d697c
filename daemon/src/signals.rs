//! Signals and shutdown, one mechanism for both daemons.
//!
//! SIGTERM and SIGINT stop a daemon; they trigger its [`Shutdown`], which
//! every task holds a clone of. SIGHUP never stops a daemon: the caller says
//! what it means (the collector reopens its files, the shipper logs it).

use std::sync::Arc;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

/// Triggers the [`Shutdown`] it was made with; clones trigger the same one
/// (a signal handler and an input that reached its end, say).
#[derive(Debug, Clone)]
pub struct ShutdownTrigger {
    tx: Arc<watch::Sender<bool>>,
}

/// A shutdown that any number of tasks can check or wait for.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// A new, untriggered shutdown and its trigger.
pub fn shutdown() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx: Arc::new(tx) }, Shutdown { rx })
}

impl ShutdownTrigger {
    /// Starts the shutdown: every waiting task wakes, every later check sees it.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Another handle on the same shutdown.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown { rx: self.tx.subscribe() }
    }
}

impl Shutdown {
    /// Whether shutdown has started.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown has started (at once if it already has, or if
    /// every trigger is gone). Cancellation-safe: fit for `select!`.
    pub async fn triggered(&mut self) {
        let _ = self.rx.wait_for(|stopping| *stopping).await;
    }

    /// Sleeps for `d`; returns true, early, when shutdown starts first.
    pub async fn sleep(&mut self, d: std::time::Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => false,
            _ = self.triggered() => true,
        }
    }
}

/// Why a daemon is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGTERM: systemd, `kill`, an init script.
    Terminate,
    /// SIGINT: Ctrl-C.
    Interrupt,
}

impl StopSignal {
    /// The signal's name, for log lines.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Interrupt => "SIGINT",
        }
    }
}

/// The signals a daemon listens to, installed once at start.
#[derive(Debug)]
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    /// Installs the handlers (from then on none of these signals kills the
    /// process by its default action). Call inside the runtime.
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for SIGTERM or SIGINT; calls `on_hangup` for every SIGHUP on the way.
    pub async fn stop_requested(&mut self, mut on_hangup: impl FnMut()) -> StopSignal {
        loop {
            tokio::select! {
                _ = self.term.recv() => return StopSignal::Terminate,
                _ = self.int.recv() => return StopSignal::Interrupt,
                _ = self.hup.recv() => on_hangup(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_reaches_every_clone_and_late_subscribers() {
        let (trigger, mut a) = shutdown();
        let mut b = a.clone();
        assert!(!a.is_triggered());
        let waiter = tokio::spawn(async move { b.triggered().await });
        trigger.trigger();
        waiter.await.unwrap();
        a.triggered().await;
        assert!(trigger.subscribe().is_triggered());
    }

    #[tokio::test]
    async fn a_dropped_trigger_counts_as_shutdown() {
        let (trigger, mut s) = shutdown();
        drop(trigger);
        s.triggered().await;
    }

    #[tokio::test]
    async fn hangups_do_not_stop_but_term_does() {
        let mut signals = Signals::install().unwrap();
        let mut hups = 0;
        // Its handlers for SIGHUP and SIGTERM are installed above.
        crate::os::signal_self(libc::SIGHUP);
        let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            tokio::select! {
                s = signals.stop_requested(|| hups += 1) => s,
                _ = async {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    crate::os::signal_self(libc::SIGTERM);
                    std::future::pending::<()>().await
                } => unreachable!(),
            }
        })
        .await
        .expect("SIGTERM is seen");
        assert_eq!(stopped, StopSignal::Terminate);
        assert_eq!(hups, 1);
    }
}

//! `tune apply --restart`: a running domain whose persistent definition
//! changed is shut down gracefully and started again, so the change takes
//! effect now. The shutdown is the guest's own (the ACPI power button,
//! `virDomainShutdown`); a guest that has not stopped by the deadline is
//! left running and the change waits for its next start. isotune never
//! forces a domain off: that is the admin's call (`virsh destroy`).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What happened to one domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RestartOutcome {
    /// Shut down and started again: the new definition is live.
    Restarted {
        /// Seconds the guest took to shut down.
        shutdown_seconds: f64,
    },
    /// Not running: the change takes effect at its next start anyway.
    NotRunning,
    /// Still running at the deadline: left running, the change is pending.
    ShutdownTimedOut {
        /// The deadline, seconds.
        waited_seconds: f64,
    },
    /// libvirt refused a step (the call and libvirt's message). When the
    /// shutdown succeeded but the start failed the domain is off.
    Failed {
        /// What went wrong.
        error: String,
        /// Whether the domain is off now because of the restart.
        left_off: bool,
    },
}

/// One domain's restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restart {
    /// The connection URI.
    pub uri: String,
    /// The domain.
    pub domain: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: RestartOutcome,
}

impl Restart {
    /// Whether the domain now runs with its new definition (or was off).
    pub fn ok(&self) -> bool {
        matches!(
            self.outcome,
            RestartOutcome::Restarted { .. } | RestartOutcome::NotRunning
        )
    }
}

/// Restarts `domain` when it runs: graceful shutdown, wait up to `timeout`
/// (polling every 200 ms), start.
pub fn restart_domain(uri: &str, domain: &str, timeout: Duration) -> Restart {
    let outcome = restart(uri, domain, timeout);
    Restart {
        uri: uri.to_owned(),
        domain: domain.to_owned(),
        outcome,
    }
}

fn restart(uri: &str, domain: &str, timeout: Duration) -> RestartOutcome {
    let failed = |e: isotune_libvirt::DefineError, left_off| RestartOutcome::Failed {
        error: e.to_string(),
        left_off,
    };
    match isotune_libvirt::is_active(uri, domain) {
        Ok(false) => return RestartOutcome::NotRunning,
        Ok(true) => {}
        Err(e) => return failed(e, false),
    }
    let began = Instant::now();
    if let Err(e) = isotune_libvirt::shutdown(uri, domain) {
        return failed(e, false);
    }
    loop {
        match isotune_libvirt::is_active(uri, domain) {
            Ok(false) => break,
            Ok(true) if began.elapsed() >= timeout => {
                return RestartOutcome::ShutdownTimedOut {
                    waited_seconds: timeout.as_secs_f64(),
                }
            }
            Ok(true) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => return failed(e, false),
        }
    }
    let shutdown_seconds = began.elapsed().as_secs_f64();
    match isotune_libvirt::start(uri, domain) {
        Ok(()) => RestartOutcome::Restarted { shutdown_seconds },
        Err(e) => failed(e, true),
    }
}

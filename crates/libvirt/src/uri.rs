//! Which libvirt to connect to. The order (the same as `virsh`'s, minus the
//! client config file): an explicit `--connect URI`, else the
//! `LIBVIRT_DEFAULT_URI` environment variable, else `qemu:///system` when
//! its socket exists (the monolithic `libvirtd` or the modular `virtqemud`),
//! else none: no libvirt on this host, which is a note, not an error.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The system URI isotune falls back to.
pub const SYSTEM_URI: &str = "qemu:///system";

/// Sockets that serve `qemu:///system`, relative to the run directory
/// (`/run`): the monolithic daemon's, then the modular one's.
pub const SYSTEM_SOCKETS: &[&str] = &["libvirt/libvirt-sock", "libvirt/virtqemud-sock"];

/// The URI chosen and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum UriChoice {
    /// Given on the command line (`--connect`).
    Explicit {
        /// The URI.
        uri: String,
    },
    /// From `LIBVIRT_DEFAULT_URI`.
    Environment {
        /// The URI.
        uri: String,
    },
    /// `qemu:///system`, because its socket exists.
    SystemSocket {
        /// The URI (`qemu:///system`).
        uri: String,
        /// The socket found.
        socket: PathBuf,
    },
    /// No libvirt to read.
    None {
        /// Why.
        reason: NoLibvirt,
    },
}

/// Why no libvirt is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum NoLibvirt {
    /// Neither a URI was given nor a system socket exists.
    NoSocket {
        /// The sockets looked for.
        looked_for: Vec<PathBuf>,
    },
}

impl UriChoice {
    /// The URI to connect to, when there is one.
    pub fn uri(&self) -> Option<&str> {
        match self {
            UriChoice::Explicit { uri }
            | UriChoice::Environment { uri }
            | UriChoice::SystemSocket { uri, .. } => Some(uri),
            UriChoice::None { .. } => None,
        }
    }
}

impl std::fmt::Display for UriChoice {
    /// One info line for the human report.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UriChoice::Explicit { uri } => write!(f, "libvirt: {uri} (--connect)"),
            UriChoice::Environment { uri } => write!(f, "libvirt: {uri} (LIBVIRT_DEFAULT_URI)"),
            UriChoice::SystemSocket { uri, socket } => {
                write!(f, "libvirt: {uri} ({} exists)", socket.display())
            }
            UriChoice::None {
                reason: NoLibvirt::NoSocket { looked_for },
            } => {
                let list: Vec<String> =
                    looked_for.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "libvirt: not read (no --connect, no LIBVIRT_DEFAULT_URI, no socket at {})",
                    list.join(" or ")
                )
            }
        }
    }
}

/// Chooses the URI from what was given: `connect` (`--connect`), `env_uri`
/// (the value of `LIBVIRT_DEFAULT_URI`) and the run directory where the
/// system sockets would be (`/run`; tests pass a temporary directory).
/// Empty strings count as not given.
pub fn resolve_uri(connect: Option<&str>, env_uri: Option<&str>, run_dir: &Path) -> UriChoice {
    let given = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if let Some(uri) = given(connect) {
        return UriChoice::Explicit { uri };
    }
    if let Some(uri) = given(env_uri) {
        return UriChoice::Environment { uri };
    }
    let looked_for: Vec<PathBuf> = SYSTEM_SOCKETS.iter().map(|s| run_dir.join(s)).collect();
    for socket in &looked_for {
        if std::fs::symlink_metadata(socket).is_ok() {
            return UriChoice::SystemSocket {
                uri: SYSTEM_URI.to_string(),
                socket: socket.clone(),
            };
        }
    }
    UriChoice::None {
        reason: NoLibvirt::NoSocket { looked_for },
    }
}

/// [`resolve_uri`] on this host: the real environment and `/run`.
pub fn resolve_uri_from_host(connect: Option<&str>) -> UriChoice {
    let env = std::env::var("LIBVIRT_DEFAULT_URI").ok();
    resolve_uri(connect, env.as_deref(), Path::new("/run"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_connect_env_socket_none() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let c = resolve_uri(Some("test:///default"), Some("qemu:///session"), run);
        assert_eq!(c.uri(), Some("test:///default"));
        assert!(c.to_string().contains("--connect"));
        let c = resolve_uri(Some(" "), Some("qemu:///session"), run);
        assert_eq!(
            c,
            UriChoice::Environment {
                uri: "qemu:///session".into()
            }
        );
        let c = resolve_uri(None, Some(""), run);
        assert_eq!(c.uri(), None);
        let line = c.to_string();
        assert!(
            line.contains("not read") && line.contains("libvirt-sock"),
            "{line}"
        );
        std::fs::create_dir(run.join("libvirt")).unwrap();
        let sock = run.join("libvirt/virtqemud-sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let c = resolve_uri(None, None, run);
        assert_eq!(
            c,
            UriChoice::SystemSocket {
                uri: SYSTEM_URI.into(),
                socket: sock
            }
        );
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"source\":\"system-socket\""), "{json}");
    }
}

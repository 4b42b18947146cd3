//! The one place engines are made: [`open_engine`] turns an [`EngineChoice`]
//! into a boxed [`Engine`], probing io_uring once per process
//! ([`uring_available`], cached in a `OnceLock`) and falling back to psync
//! for [`EngineChoice::Auto`] with a notice saying why.
//!
//! ```text
//!   EngineChoice::Psync   ─────────────────────────────> PsyncEngine
//!   EngineChoice::IoUring ── probe ok ─> UringEngine
//!                          └ probe fails / setup fails ─> Err(UringUnavailable)
//!   EngineChoice::Auto    ── probe ok ─> UringEngine
//!                          └ otherwise ─> PsyncEngine + fallback_notice
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::engine::psync::PsyncEngine;
use crate::engine::Engine;
use crate::target::Target;
use crate::warning::Notice;
use crate::{Error, ErrorKind, Result};

/// The deepest queue an engine can be opened with.
pub const MAX_QUEUE_DEPTH: u32 = 256;

/// Which engine the user asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineChoice {
    /// `pread`, one request at a time.
    Psync,
    /// io_uring, or an error when it is unavailable.
    IoUring,
    /// io_uring when available, else psync.
    #[default]
    Auto,
}

impl fmt::Display for EngineChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineChoice::Psync => "psync",
            EngineChoice::IoUring => "io_uring",
            EngineChoice::Auto => "auto",
        })
    }
}

impl FromStr for EngineChoice {
    type Err = Error;

    /// Accepts `psync`, `io_uring` (or `io-uring`, `uring`) and `auto`.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "psync" => Ok(EngineChoice::Psync),
            "io_uring" | "io-uring" | "iouring" | "uring" => Ok(EngineChoice::IoUring),
            "auto" => Ok(EngineChoice::Auto),
            _ => Err(Error::new(
                ErrorKind::InvalidInput,
                format!("unknown engine {s:?}; use psync, io_uring or auto"),
            )),
        }
    }
}

/// How to open an engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Which engine.
    pub choice: EngineChoice,
    /// The deepest queue [`Engine::run`] will be called with, 1..=256
    /// (io_uring sizes its ring and buffer pool by it).
    pub queue_depth: u32,
    /// The largest request, in bytes (sizes the buffers).
    pub max_request_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            choice: EngineChoice::Auto,
            queue_depth: 1,
            max_request_bytes: 1 << 20,
        }
    }
}

/// An engine and, when `Auto` fell back to psync, why.
pub struct OpenedEngine {
    /// The engine.
    pub engine: Box<dyn Engine>,
    /// Set when [`EngineChoice::Auto`] fell back to psync, with the reason.
    pub fallback_notice: Option<Notice>,
}

impl fmt::Debug for OpenedEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedEngine")
            .field("engine", &self.engine.kind())
            .field("fallback_notice", &self.fallback_notice)
            .finish()
    }
}

/// Opens the engine `config` asks for, sized for `target` (its alignment)
/// and for `config.queue_depth` requests of up to `config.max_request_bytes`.
///
/// Errors: [`ErrorKind::InvalidInput`] for a queue depth outside 1..=256 or
/// a zero or over-large request size; [`ErrorKind::UringUnavailable`] when
/// io_uring was asked for explicitly and cannot be used.
pub fn open_engine(target: &Target, config: &EngineConfig) -> Result<OpenedEngine> {
    if config.queue_depth == 0 || config.queue_depth > MAX_QUEUE_DEPTH {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "queue depth {} is outside 1..={MAX_QUEUE_DEPTH}",
                config.queue_depth
            ),
        ));
    }
    if config.max_request_bytes == 0 || config.max_request_bytes > u32::MAX as usize {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "maximum request size {} bytes is outside 1..={} bytes",
                config.max_request_bytes,
                u32::MAX
            ),
        ));
    }
    let psync =
        || -> Box<dyn Engine> { Box::new(PsyncEngine::new(target, config.max_request_bytes)) };
    match config.choice {
        EngineChoice::Psync => Ok(OpenedEngine {
            engine: psync(),
            fallback_notice: None,
        }),
        EngineChoice::IoUring => {
            let engine = open_uring(target, config).map_err(|reason| {
                Error::new(
                    ErrorKind::UringUnavailable,
                    format!("io_uring is unavailable: {reason}"),
                )
            })?;
            Ok(OpenedEngine {
                engine,
                fallback_notice: None,
            })
        }
        EngineChoice::Auto => Ok(match open_uring(target, config) {
            Ok(engine) => OpenedEngine {
                engine,
                fallback_notice: None,
            },
            Err(reason) => OpenedEngine {
                engine: psync(),
                fallback_notice: Some(Notice::UringFallback { reason }),
            },
        }),
    }
}

#[cfg(feature = "io_uring")]
fn open_uring(target: &Target, config: &EngineConfig) -> Result<Box<dyn Engine>, String> {
    uring_available()?;
    let engine =
        super::uring::UringEngine::new(target, config.queue_depth, config.max_request_bytes)
            .map_err(|e| {
                format!(
                    "cannot set up a ring of {} entries: {e}",
                    config.queue_depth
                )
            })?;
    Ok(Box::new(engine))
}

#[cfg(not(feature = "io_uring"))]
fn open_uring(_target: &Target, _config: &EngineConfig) -> Result<Box<dyn Engine>, String> {
    uring_available().map(|()| unreachable!("io_uring is never available without the feature"))
}

/// Whether io_uring works here: a ring of 2 entries is set up and a NOP
/// submitted and completed, once per process; later calls return the cached
/// answer. The error says why not (kernel too old, `kernel.io_uring_disabled`,
/// a seccomp filter, or isotune built without the `io_uring` feature).
pub fn uring_available() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE.get_or_init(probe).clone()
}

#[cfg(feature = "io_uring")]
fn probe() -> Result<(), String> {
    super::uring::probe()
}

#[cfg(not(feature = "io_uring"))]
fn probe() -> Result<(), String> {
    Err("isotune was built without the io_uring feature".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineKind;
    use crate::target::TargetOptions;
    use std::io::Write;

    fn target() -> (tempfile::NamedTempFile, Target) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[3u8; 8192]).unwrap();
        let t = Target::open(f.path(), TargetOptions::default()).unwrap();
        (f, t)
    }

    #[test]
    fn psync_is_always_available() {
        let (_f, t) = target();
        let config = EngineConfig {
            choice: EngineChoice::Psync,
            ..EngineConfig::default()
        };
        let opened = open_engine(&t, &config).unwrap();
        assert_eq!(opened.engine.kind(), EngineKind::Psync);
        assert!(opened.fallback_notice.is_none());
        assert!(format!("{opened:?}").contains("Psync"));
    }

    #[test]
    fn auto_picks_uring_or_says_why_not() {
        let (_f, t) = target();
        let opened = open_engine(&t, &EngineConfig::default()).unwrap();
        match uring_available() {
            Ok(()) => {
                assert_eq!(opened.engine.kind(), EngineKind::IoUring);
                assert!(opened.fallback_notice.is_none());
            }
            Err(reason) => {
                assert_eq!(opened.engine.kind(), EngineKind::Psync);
                assert_eq!(
                    opened.fallback_notice,
                    Some(Notice::UringFallback { reason })
                );
            }
        }
    }

    #[test]
    fn explicit_uring_errors_when_unavailable() {
        let (_f, t) = target();
        let config = EngineConfig {
            choice: EngineChoice::IoUring,
            queue_depth: 4,
            ..EngineConfig::default()
        };
        match (uring_available(), open_engine(&t, &config)) {
            (Ok(()), Ok(opened)) => assert_eq!(opened.engine.kind(), EngineKind::IoUring),
            (Err(_), Err(e)) => assert_eq!(e.kind(), ErrorKind::UringUnavailable),
            (probe, opened) => panic!(
                "probe {probe:?} but open {:?}",
                opened.map(|o| o.engine.kind())
            ),
        }
    }

    #[test]
    fn probe_is_cached() {
        assert_eq!(uring_available(), uring_available());
    }

    #[test]
    fn rejects_bad_depth_and_size() {
        let (_f, t) = target();
        for (queue_depth, max_request_bytes) in [(0, 4096), (257, 4096), (1, 0)] {
            let config = EngineConfig {
                choice: EngineChoice::Psync,
                queue_depth,
                max_request_bytes,
            };
            let err = open_engine(&t, &config).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidInput,
                "{queue_depth} {max_request_bytes}"
            );
        }
    }

    #[test]
    fn choice_parses_and_prints() {
        for c in [
            EngineChoice::Psync,
            EngineChoice::IoUring,
            EngineChoice::Auto,
        ] {
            assert_eq!(c.to_string().parse::<EngineChoice>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{c}\""));
        }
        assert_eq!(
            "io-uring".parse::<EngineChoice>().unwrap(),
            EngineChoice::IoUring
        );
        assert_eq!(
            "bogus".parse::<EngineChoice>().unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}

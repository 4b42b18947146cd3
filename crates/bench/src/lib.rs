//! `isotune-bench` replays an ISO's access patterns on the storage that holds
//! it, measured the way fio measures, so the numbers can be checked with fio.
//!
//! ```text
//!   Target::open (read-only file or block device, buffered or O_DIRECT)
//!        │
//!   workload ──> Vec<Request> (seq, rand, boot trace)     cache: cold (fadvise DONTNEED
//!        │                                                 + residency check) or warm
//!   runner ──> Engine (psync | io_uring, factory probes once) ──> per-request latency
//!        │
//!   result: RunResult per run, WorkloadResult summary (isotune-stats), baseline comparison
//!   fio: job file + iolog that reproduce each workload
//!   net: the same workloads over HTTP Range requests or NBD (isotune-net),
//!        predict: what a boot over that link would cost
//! ```
//!
//! Nothing here prints; progress goes through [`runner::Progress`].

#![warn(missing_docs)]

pub mod align;
pub mod cache;
pub mod compare;
pub mod engine;
pub mod error;
pub mod fio;
pub mod net;
pub mod predict;
pub mod result;
pub mod runner;
pub mod target;
pub mod warning;
pub mod workload;

pub use engine::{Completion, Engine, EngineKind, Request};
pub use error::{Error, ErrorKind, Result};
pub use target::{Alignment, Target, TargetKind, TargetOptions};
pub use warning::{ComparisonNote, FioNote, Notice, Warning};

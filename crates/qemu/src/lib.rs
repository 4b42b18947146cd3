//! QEMU for isotune: a QMP client, a launcher that builds argv from an
//! `isotune-vmconfig` definition, and the boot measurement runner.

// unsafe_code is denied workspace-wide; only `cleanup` allows it, once,
// to set the parent-death signal in the child (pre_exec).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod advice;
pub mod cleanup;
pub mod error;
pub mod keys;
pub mod launch;
pub mod netserve;
pub mod outcome;
pub mod qmp;
pub mod run;
mod serial;
pub mod session;
pub mod source;
pub mod tempfiles;

pub use error::{Error, ErrorKind, QmpError, Result};
pub use launch::{find_qemu, AccelChoice, AccelUsed, QemuBinary, QemuVersion};
pub use qmp::Qmp;
pub use run::{run_boot, EndReason, ReadCounters, RunResult, RunSpec, SerialLine};
pub use session::{run_matrix, AccelRequest, MatrixPlan, NoProgress, Progress};

pub mod compare;
pub mod matrix;
pub mod rank;
pub mod report;

pub mod workload;

//! isotune-tune: the doctor's findings turned into a plan of changes that
//! isotune can make itself, applied with a journal so that every change can
//! be verified and rolled back, also after a crash.
//!
//! ```text
//!  findings ──plan()──> Plan { changes, manual }
//!                         │
//!  apply() ── per change: journal entry (old value, fsync) ─> write ─> mark applied
//!  verify() ── re-read every applied value; on drift, who else sets it
//!  rollback() ── restore old values in reverse order (idempotent)
//! ```
//!
//! Backends are the variants of [`Target`]: a sysfs attribute (applied now,
//! lost at reboot) and a whole file (a udev rule: persists). A libvirt
//! domain change will be one more variant.
//!
//! Limitations: only `storage.low-readahead` has an automatic change today;
//! every other finding is listed as manual with the doctor's fix.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod error;
mod journal;
mod model;
mod ops;
mod others;
mod plan;
mod warm;

pub use error::{Error, JournalIssue, JournalProblem};
pub use journal::{EntryState, Journal, JournalEntry, Transaction, TRANSACTION_SCHEMA_VERSION};
pub use model::{Change, ChangeNote, Effect, Manual, Plan, Roots, Target, PLAN_SCHEMA_VERSION};
pub use ops::{
    apply, rollback, status, verify, ApplyHooks, ApplyReport, RollbackAction, RollbackItem,
    RollbackReport, RollbackSelect, StatusItem, StatusReport, VerifyItem, VerifyReport,
    VerifyState, REPORT_SCHEMA_VERSION,
};
pub use others::OtherSetter;
pub use plan::plan;
pub use plan::{READAHEAD_KB, RULE_FILE};
pub use warm::{warm, WarmReport, WARM_SCHEMA_VERSION};

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
//! lost at reboot), a whole file (a udev rule: persists) and an element of
//! a libvirt domain's persistent XML (defined through libvirtd: persists,
//! takes effect at a running domain's next start).
//!
//! Automatic changes: `storage.low-readahead`, and every finding about a
//! domain read through libvirtd whose fix is a structured XML edit (cdrom
//! off IDE, raw format, readonly, io/cache, iothread), except the
//! accelerator. Every other finding is listed as manual with the doctor's
//! fix (QEMU command lines, Proxmox `qm set`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod domain;
mod error;
mod journal;
mod model;
mod ops;
mod others;
mod plan;
mod restart;
mod warm;

pub use error::{Error, JournalIssue, JournalProblem};
pub use journal::{EntryState, Journal, JournalEntry, Transaction, TRANSACTION_SCHEMA_VERSION};
pub use model::{
    Bus, BusChoice, Change, ChangeNote, DomainChange, Effect, Manual, Plan, Roots, Target,
    PLAN_SCHEMA_VERSION,
};
pub use ops::{
    apply, rollback, status, verify, ApplyHooks, ApplyReport, RollbackAction, RollbackItem,
    RollbackReport, RollbackSelect, StatusItem, StatusReport, VerifyItem, VerifyReport,
    VerifyState, REPORT_SCHEMA_VERSION,
};
pub use others::OtherSetter;
pub use plan::{plan, PlanOptions};
pub use plan::{READAHEAD_KB, RULE_FILE};
pub use restart::{restart_domain, Restart, RestartOutcome};
pub use warm::{warm, WarmReport, WARM_SCHEMA_VERSION};

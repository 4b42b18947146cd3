//! Host facts, read under a [`SysRoot`] so tests (and `--sysroot`) can point
//! every reader at a captured `/proc` + `/sys` tree instead of this machine
//! (`scripts/capture-host` makes such a tree).
//!
//! Entry points:
//! - [`host_facts`]: memory, accelerator, sysctls, running QEMU processes.
//! - [`file_facts`] (live) and [`file_facts_at`] (pure on the tree, given a
//!   device number): the mount and storage chain under one file;
//!   [`stat_file`] is the live `statx` part.
//!
//! Modules:
//! - [`facts`]: the serde data ([`HostFacts`], [`FileFacts`] and parts).
//! - `sysroot`: [`SysRoot`].
//! - `host`: [`host_facts`], gathering the per-concern readers `memory`
//!   (`/proc/meminfo`), `accel` (`/dev/kvm`, cpu flags, KVM modules,
//!   nested, pvm), `sysctl` (`/proc/sys`) and `procs` (QEMU processes and
//!   the ISOs they hold open).
//! - `file`: [`stat_file`], [`file_facts_at`], [`file_facts`], built on
//!   `mounts` (`/proc/self/mountinfo`, network filesystems) and `blockdev`
//!   (the `/sys/dev/block` chain: partitions, dm, md, loop, disks; a loop
//!   device is followed through its backing file, which a capture must
//!   list as an extra PATH for the captured chain to be complete).
//! - [`pagecache`]: page-cache residency of an open file (cachestat,
//!   mincore), a verified drop (fadvise, then measured), warming; used by
//!   bench, boot and the doctor.
//! - [`process_cpu_seconds`]: one process's CPU time (`/proc/PID/stat`).
//! - `read`: reading entries under the root, warnings, and resolving a
//!   captured tree's symlinks inside the tree.
//! - `error`: [`Error`].
//!
//! Readers never fail because one entry is unreadable: they record a
//! warning in the facts and go on. They fail only when the file asked about
//! does not exist.

// unsafe_code is denied workspace-wide; only `pagecache` allows it, for
// cachestat, mmap and mincore (each with a SAFETY comment).
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod accel;
mod blockdev;
mod cputime;
mod error;
pub mod facts;
mod file;
mod host;
mod memory;
mod mounts;
pub mod pagecache;
mod procs;
mod read;
mod sysctl;
mod sysroot;

pub use blockdev::{MAX_DEPTH, MAX_LAYERS};
pub use cputime::process_cpu_seconds;
pub use error::{Error, ErrorKind};
pub use facts::*;
pub use file::{device_facts_at, file_facts, file_facts_at, stat_file};
pub use host::host_facts;
pub use sysctl::SYSCTLS;
pub use sysroot::SysRoot;

//! isotune's rules. Facts go in ([`Facts`]: host facts from `isotune-host`,
//! file facts for each ISO, image facts from verify/inspect, VM definitions
//! from `isotune-vmconfig`); findings come out ([`Finding`]), each with the
//! evidence it saw, why it matters, the exact fix and a reference.
//!
//! Rules never read the host, so every rule is tested on literal facts.
//! [`RULES`] is the catalogue and [`diagnose`] runs it; `docs/rules.md` is
//! generated from it ([`rules_markdown`]) and a test keeps the two equal.
//! [`Severity`] is defined here (not in the ISO reader), so the rules engine
//! depends on no parser.
//! [`sysctl_note`] says what each sysctl the host readers collect does (and
//! does not do) for ISO reads.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod catalog;
mod describe;
pub mod facts;
pub mod finding;
pub mod fix;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod fixtures_check;
mod rules;
mod sysctl;

pub use catalog::rules_markdown;
pub use describe::vm_label_of;
pub use facts::*;
pub use finding::*;
pub use rules::{diagnose, Rule, RULES};
pub use sysctl::{sysctl_default, sysctl_note};

//! isotune's rules. Facts go in ([`Facts`]: host facts from `isotune-host`,
//! file facts for each ISO, image facts from verify/inspect, VM definitions
//! from `isotune-vmconfig`); findings come out ([`Finding`]), each with the
//! evidence it saw, why it matters, the exact fix and a reference.
//!
//! Rules never read the host, so every rule is tested on literal facts.
//! [`RULES`] is the catalogue; `docs/rules.md` is generated from it
//! ([`rules_markdown`]) and a test keeps the two equal.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod facts;
pub mod finding;

pub use facts::*;
pub use finding::*;

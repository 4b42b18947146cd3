//! QEMU for isotune: a QMP client, a launcher that builds argv from an
//! `isotune-vmconfig` definition, and the boot measurement runner.

#![warn(missing_docs)]

//! isotune-verify

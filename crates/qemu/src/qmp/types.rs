//! Typed views of the QMP messages isotune reads. Deserialisation is
//! lenient on purpose: QEMU adds fields between versions, so unknown fields
//! are ignored, missing numbers default to zero and states such as the run
//! status stay strings (a value this code does not know is kept, not an
//! error).

use serde::{Deserialize, Serialize};

/// QEMU's version triple as QMP reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionTriple {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Micro version.
    pub micro: u32,
}

impl std::fmt::Display for VersionTriple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

/// The reply of `query-version` (and the `version` of the greeting).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionInfo {
    /// The upstream version.
    pub qemu: VersionTriple,
    /// The distribution's package string (`Debian 1:10.0.2+ds-1`), may be empty.
    pub package: String,
}

/// The greeting QEMU sends when a client connects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Greeting {
    /// QEMU's version.
    pub version: VersionInfo,
    /// Capabilities offered (`oob`); isotune enables none of them.
    pub capabilities: Vec<String>,
}

/// The time QEMU stamped on an event (host wall clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Microseconds.
    pub microseconds: i64,
}

/// An asynchronous QMP event (`RESUME`, `STOP`, `SHUTDOWN`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event name.
    pub event: String,
    /// When QEMU emitted it.
    #[serde(default)]
    pub timestamp: Timestamp,
    /// Its data, `null` when there is none.
    #[serde(default)]
    pub data: serde_json::Value,
}

/// The reply of `query-status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusInfo {
    /// Whether the guest CPUs run.
    pub running: bool,
    /// The run state as QEMU names it (`prelaunch`, `running`, `paused`,
    /// `shutdown`, `guest-panicked`, ...).
    pub status: String,
}

/// The reply of `query-kvm`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KvmInfo {
    /// KVM is in use by this VM.
    pub enabled: bool,
    /// KVM is available to this QEMU.
    pub present: bool,
}

/// The I/O counters of one block device (`query-blockstats` `stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlockCounters {
    /// Bytes the guest read.
    pub rd_bytes: u64,
    /// Bytes the guest wrote.
    pub wr_bytes: u64,
    /// Read requests.
    pub rd_operations: u64,
    /// Write requests.
    pub wr_operations: u64,
    /// Flush requests.
    pub flush_operations: u64,
    /// Total time spent in reads, nanoseconds.
    pub rd_total_time_ns: u64,
    /// Total time spent in writes, nanoseconds.
    pub wr_total_time_ns: u64,
    /// Reads merged into others.
    pub rd_merged: u64,
    /// Writes merged into others.
    pub wr_merged: u64,
    /// Reads that failed.
    pub failed_rd_operations: u64,
    /// Reads of an invalid range.
    pub invalid_rd_operations: u64,
}

/// One entry of `query-blockstats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlockStats {
    /// The legacy drive name (`cd0` for `-drive id=cd0`, `ide1-cd0` for
    /// `-cdrom`); empty for `-blockdev` nodes.
    pub device: String,
    /// The guest device's id or QOM path, when attached.
    pub qdev: Option<String>,
    /// The block node name.
    #[serde(rename = "node-name")]
    pub node_name: Option<String>,
    /// The counters.
    pub stats: BlockCounters,
}

impl BlockStats {
    /// Whether `id` names this device: its drive name, its guest device
    /// (the id or the last element of the QOM path) or its node name.
    pub fn matches(&self, id: &str) -> bool {
        if id.is_empty() {
            return false;
        }
        if self.device == id || self.node_name.as_deref() == Some(id) {
            return true;
        }
        match self.qdev.as_deref() {
            Some(q) => q == id || q.rsplit('/').next() == Some(id),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blockstats_are_lenient_and_match_any_name() {
        let v = serde_json::json!({
            "device": "", "qdev": "/machine/peripheral/cd0/virtio-backend",
            "node-name": "#block123", "new-field": [1, 2],
            "stats": {"rd_bytes": 4096, "rd_operations": 2, "whatever": true}
        });
        let s: BlockStats = serde_json::from_value(v).unwrap();
        assert_eq!(s.stats.rd_bytes, 4096);
        assert_eq!(s.stats.rd_total_time_ns, 0);
        assert!(s.matches("virtio-backend"));
        assert!(s.matches("/machine/peripheral/cd0/virtio-backend"));
        assert!(s.matches("#block123"));
        assert!(!s.matches("cd0"));
        assert!(!s.matches(""));
        let s: BlockStats = serde_json::from_value(serde_json::json!({"device": "cd0"})).unwrap();
        assert!(s.matches("cd0"));
    }

    #[test]
    fn unknown_status_values_are_kept() {
        let s: StatusInfo =
            serde_json::from_str(r#"{"running": false, "status": "brand-new-state"}"#).unwrap();
        assert_eq!(s.status, "brand-new-state");
    }
}

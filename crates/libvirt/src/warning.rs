//! What a scan could not read. Each warning is data (JSON gets a stable
//! `code`) with a one-sentence `Display` for the human report.

use serde::{Deserialize, Serialize};

/// Something the scan could not read; the rest of the scan still stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum LibvirtWarning {
    /// The connection could not be opened (no daemon, socket missing, ...).
    #[error("libvirt at {uri} is unreachable: {reason}")]
    Unreachable {
        /// The URI.
        uri: String,
        /// libvirt's message.
        reason: String,
    },
    /// The connection or a call was refused for lack of permission.
    #[error("libvirt at {uri} refused access: {reason}")]
    PermissionDenied {
        /// The URI.
        uri: String,
        /// libvirt's message.
        reason: String,
    },
    /// A call got no answer within the deadline; the scan stopped there.
    #[error(
        "libvirt call {call} got no answer within {timeout_seconds} s; the scan stopped there"
    )]
    Timeout {
        /// The call (`virConnectListAllDomains`, `virDomainGetXMLDesc(web1)`).
        call: String,
        /// The deadline.
        timeout_seconds: u64,
    },
    /// The domain disappeared while it was being read.
    #[error("domain {domain} vanished during the scan ({call})")]
    DomainVanished {
        /// The domain name (or UUID when the name was not read yet).
        domain: String,
        /// The call that found it gone.
        call: String,
    },
    /// A call failed for another reason.
    #[error("libvirt call {call} failed: {reason}")]
    CallFailed {
        /// The call.
        call: String,
        /// libvirt's message.
        reason: String,
    },
    /// libvirt returned XML the domain parser could not use.
    #[error("the {config} XML of domain {domain} cannot be parsed: {reason}")]
    XmlUnparsable {
        /// The domain.
        domain: String,
        /// `live` or `inactive`.
        config: String,
        /// The parser's message.
        reason: String,
    },
}

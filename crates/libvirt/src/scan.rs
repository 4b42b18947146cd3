//! Reads every domain of one libvirt connection: state, the live XML of a
//! running domain, the persistent (inactive) XML of a defined one, both as
//! [`VmDefinition`]s; its cdroms (target, media, read counters), and the
//! cdroms whose media differ between the two XMLs (a change made with
//! `virsh edit` or `change-media --config` that waits for the next boot).

use std::sync::Arc;
use std::time::Duration;

use isotune_vmconfig::{LibvirtConfig, Media, Origin, Source, VmDefinition};
use serde::{Deserialize, Serialize};
use virt::connect::Connect;
use virt::domain::Domain as VirtDomain;
use virt::error::ErrorNumber;

use crate::warning::LibvirtWarning;
use crate::worker::{CallError, Worker};

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The deadline for each libvirt call.
    pub call_timeout: Duration,
    /// Only running domains, and only their live XML (no persistent XML,
    /// so no pending changes): what a metrics scrape needs, at a third of
    /// the calls on a host with many shut-off domains.
    pub running_only: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            call_timeout: Duration::from_secs(5),
            running_only: false,
        }
    }
}

/// What one scan found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibvirtScan {
    /// The URI scanned.
    pub uri: String,
    /// Every domain read, in libvirt's order.
    pub domains: Vec<Domain>,
    /// What could not be read.
    pub warnings: Vec<LibvirtWarning>,
}

/// A domain's state (`virDomainGetState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DomainState {
    /// Running.
    Running,
    /// Blocked on a resource.
    Blocked,
    /// Paused.
    Paused,
    /// Being shut down.
    ShuttingDown,
    /// Off (defined, not running).
    Shutoff,
    /// Crashed.
    Crashed,
    /// Suspended by guest power management.
    PmSuspended,
    /// No state, or one this build does not know.
    Unknown,
}

impl DomainState {
    /// Whether QEMU runs for it (its live XML and block stats exist).
    pub fn is_active(self) -> bool {
        !matches!(self, DomainState::Shutoff | DomainState::Unknown)
    }
}

/// Read counters of one drive (`virDomainBlockStatsFlags`); `None` where
/// the hypervisor does not report a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockReadStats {
    /// Read requests.
    pub rd_req: Option<u64>,
    /// Bytes read.
    pub rd_bytes: Option<u64>,
    /// Total time spent on reads, nanoseconds.
    pub rd_total_times_ns: Option<u64>,
}

/// One cdrom of a domain, as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CdromFacts {
    /// The target name (`hdc`, `sda`).
    pub target: String,
    /// The media: [`Source::Empty`] for an empty tray, else the ISO.
    pub media: Source,
    /// Whether the tray is open, for a running domain (from the live XML,
    /// which writes `tray='open'` only while it is); `None` when shut off.
    #[serde(default)]
    pub tray_open: Option<bool>,
    /// Read counters, for a running domain.
    pub stats: Option<BlockReadStats>,
    /// Why there are no counters for a running domain.
    pub stats_error: Option<String>,
}

/// A cdrom whose media differ between the live and the persistent XML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingCdromChange {
    /// The target name.
    pub target: String,
    /// The media now (`None`: no such drive in the live XML).
    pub live: Option<Source>,
    /// The media at the next boot (`None`: no such drive in the persistent XML).
    pub next_boot: Option<Source>,
}

/// One domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    /// Its name.
    pub name: String,
    /// Its UUID.
    pub uuid: Option<String>,
    /// Its state.
    pub state: DomainState,
    /// Whether it is defined (persistent), not only created.
    pub persistent: bool,
    /// The live XML, parsed (running domains).
    pub live: Option<VmDefinition>,
    /// The persistent XML, parsed (defined domains).
    pub inactive: Option<VmDefinition>,
    /// Its cdroms as they are now (from the live XML when running).
    pub cdroms: Vec<CdromFacts>,
    /// Cdroms whose media change at the next boot.
    pub pending_cdrom_changes: Vec<PendingCdromChange>,
}

impl Domain {
    /// The definition in effect: the live one when running, else the persistent one.
    pub fn current(&self) -> Option<&VmDefinition> {
        self.live.as_ref().or(self.inactive.as_ref())
    }
}

/// Reads every domain of `uri` (read-only). Never fails and never waits
/// longer than the deadline per call: what could not be read is a warning.
pub fn scan(uri: &str, opts: &ScanOptions) -> LibvirtScan {
    // libvirt's default error handler prints to stderr; libraries stay quiet.
    virt::error::clear_error_callback();
    let mut s = Scanner {
        worker: Worker::start(opts.call_timeout),
        running_only: opts.running_only,
        bulk: None,
        out: LibvirtScan {
            uri: uri.to_string(),
            domains: Vec::new(),
            warnings: Vec::new(),
        },
    };
    s.run();
    let Scanner { worker, out, .. } = s;
    drop(worker);
    out
}

struct Scanner {
    worker: Worker,
    out: LibvirtScan,
    /// [`ScanOptions::running_only`].
    running_only: bool,
    /// With `running_only`: every running domain's block counters, read in
    /// one call that does not wait for a busy domain.
    bulk: Option<crate::bulk::BulkBlockStats>,
}

/// A call's failure, sorted for the warning it becomes.
enum Failed {
    /// Reported already (timeout) or nothing more can be sent.
    Stop,
    /// libvirt answered with an error.
    Error(virt::error::Error),
}

impl Scanner {
    fn call<R: Send + 'static>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> Result<R, virt::error::Error> + Send + 'static,
    ) -> Result<R, Failed> {
        match self.worker.call(f) {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(Failed::Error(e)),
            Err(CallError::Timeout) => {
                self.out.warnings.push(LibvirtWarning::Timeout {
                    call: name.to_string(),
                    timeout_seconds: self.worker.timeout().as_secs().max(1),
                });
                Err(Failed::Stop)
            }
            Err(CallError::Panicked) => {
                self.out.warnings.push(LibvirtWarning::CallFailed {
                    call: name.to_string(),
                    reason: "the libvirt bindings panicked; the scan stopped there".into(),
                });
                Err(Failed::Stop)
            }
            Err(CallError::Abandoned) => Err(Failed::Stop),
        }
    }

    fn run(&mut self) {
        let uri = self.out.uri.clone();
        let u = uri.clone();
        let conn = match self.call("virConnectOpenReadOnly", move || {
            Connect::open_read_only(Some(&u))
        }) {
            Ok(c) => Arc::new(c),
            Err(Failed::Error(e)) => {
                let reason = e.message().to_string();
                self.out.warnings.push(if is_permission(&e) {
                    LibvirtWarning::PermissionDenied { uri, reason }
                } else {
                    LibvirtWarning::Unreachable { uri, reason }
                });
                return;
            }
            Err(Failed::Stop) => return,
        };
        let c = Arc::clone(&conn);
        let flags = if self.running_only {
            virt::sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE
        } else {
            0
        };
        let doms = match self.call("virConnectListAllDomains", move || {
            c.list_all_domains(flags)
        }) {
            Ok(d) => d,
            Err(f) => return self.failed(f, None, "virConnectListAllDomains"),
        };
        if self.running_only {
            let c = Arc::clone(&conn);
            match self.call("virConnectGetAllDomainStats", move || {
                crate::bulk::all_block_read_stats_nowait(&c)
            }) {
                Ok(b) => self.bulk = Some(b),
                Err(Failed::Stop) => return,
                // Older libvirt or a driver without it: per-drive calls.
                Err(f) => self.failed(f, None, "virConnectGetAllDomainStats"),
            }
        }
        for dom in doms {
            match self.domain(Arc::new(dom)) {
                Ok(Some(d)) => self.out.domains.push(d),
                Ok(None) => {}
                Err(()) => break,
            }
        }
    }

    /// Records a failure as a warning; `domain` is set for per-domain calls.
    fn failed(&mut self, f: Failed, domain: Option<&str>, call: &str) {
        let Failed::Error(e) = f else { return };
        let w = match (domain, e.code()) {
            (Some(d), virt::enumutil::Enum::Known(ErrorNumber::NoDomain)) => {
                LibvirtWarning::DomainVanished {
                    domain: d.to_string(),
                    call: call.to_string(),
                }
            }
            _ if is_permission(&e) => LibvirtWarning::PermissionDenied {
                uri: self.out.uri.clone(),
                reason: e.message().to_string(),
            },
            _ => LibvirtWarning::CallFailed {
                call: match domain {
                    Some(d) => format!("{call}({d})"),
                    None => call.to_string(),
                },
                reason: e.message().to_string(),
            },
        };
        self.out.warnings.push(w);
    }

    /// Reads one domain. `Ok(None)`: it vanished or failed (warned);
    /// `Err(())`: the scan must stop (a call timed out).
    fn domain(&mut self, dom: Arc<VirtDomain>) -> Result<Option<Domain>, ()> {
        // The name is kept in the handle (no round trip); it names the
        // domain in the warnings below.
        let d = Arc::clone(&dom);
        let name = match self.call("virDomainGetName", move || d.name()) {
            Ok(n) => n,
            Err(Failed::Stop) => return Err(()),
            Err(f) => {
                self.failed(f, Some("(unnamed)"), "virDomainGetName");
                return Ok(None);
            }
        };
        let d = Arc::clone(&dom);
        let call = format!("virDomainGetState({name})");
        let ident = self.call(&call, move || {
            let uuid = d.uuid_string().ok();
            let persistent = d.is_persistent()?;
            let active = d.is_active()?;
            let (state, _) = d.state()?;
            Ok((uuid, persistent, active, state))
        });
        let (uuid, persistent, active, state) = match ident {
            Ok(v) => v,
            Err(Failed::Stop) => return Err(()),
            Err(f) => {
                self.failed(f, Some(&name), "virDomainGetState");
                return Ok(None);
            }
        };
        let mut state = map_state(state);
        if !active {
            state = DomainState::Shutoff;
        }
        let mut out = Domain {
            name: name.clone(),
            uuid,
            state,
            persistent,
            live: None,
            inactive: None,
            cdroms: Vec::new(),
            pending_cdrom_changes: Vec::new(),
        };
        let configs: Vec<LibvirtConfig> = [
            active.then_some(LibvirtConfig::Live),
            (persistent && !self.running_only).then_some(LibvirtConfig::Inactive),
        ]
        .into_iter()
        .flatten()
        .collect();
        for config in configs {
            let d = Arc::clone(&dom);
            let flags = match config {
                LibvirtConfig::Live => 0,
                LibvirtConfig::Inactive => virt::sys::VIR_DOMAIN_XML_INACTIVE,
            };
            let call = format!("virDomainGetXMLDesc({name})");
            let xml = match self.call(&call, move || d.xml_desc(flags)) {
                Ok(x) => x,
                Err(Failed::Stop) => return Err(()),
                Err(f) => {
                    self.failed(f, Some(&name), "virDomainGetXMLDesc");
                    return Ok(None);
                }
            };
            let origin = Origin::Libvirt {
                uri: self.out.uri.clone(),
                domain: name.clone(),
                config,
            };
            match isotune_vmconfig::parse_domain_xml(&xml, origin) {
                Ok(def) => match config {
                    LibvirtConfig::Live => out.live = Some(def),
                    LibvirtConfig::Inactive => out.inactive = Some(def),
                },
                Err(e) => self.out.warnings.push(LibvirtWarning::XmlUnparsable {
                    domain: name.clone(),
                    config: match config {
                        LibvirtConfig::Live => "live".into(),
                        LibvirtConfig::Inactive => "inactive".into(),
                    },
                    reason: e.to_string(),
                }),
            }
        }
        out.pending_cdrom_changes = pending_changes(out.live.as_ref(), out.inactive.as_ref());
        let current: Vec<(String, Source)> = out.current().map(cdroms).unwrap_or_default();
        for (target, media) in current {
            let bulk = self.bulk.as_ref().filter(|_| out.live.is_some());
            let (stats, stats_error) = if let Some(bulk) = bulk {
                match bulk.get(&name) {
                    Some(disks) => match disks.get(&target) {
                        Some(s) => (Some(*s), None),
                        None => (None, Some("no block stats for this drive".to_string())),
                    },
                    None => (
                        None,
                        Some(
                            "libvirt left it out of the bulk stats (busy in a job; \
                             VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)"
                                .to_string(),
                        ),
                    ),
                }
            } else if out.live.is_some() {
                let d = Arc::clone(&dom);
                let t = target.clone();
                let call = format!("virDomainBlockStatsFlags({name}, {target})");
                match self.call(&call, move || crate::stats::block_read_stats(&d, &t)) {
                    Ok(s) => (Some(s), None),
                    Err(Failed::Stop) => return Err(()),
                    Err(Failed::Error(e)) => {
                        if matches!(e.code(), virt::enumutil::Enum::Known(ErrorNumber::NoDomain)) {
                            self.failed(Failed::Error(e), Some(&name), "virDomainBlockStatsFlags");
                            return Ok(None);
                        }
                        (None, Some(e.message().to_string()))
                    }
                }
            } else {
                (None, None)
            };
            let tray_open = out.live.as_ref().map(|live| {
                live.drives
                    .iter()
                    .find(|d| d.media == Media::Cdrom && d.id.as_deref() == Some(target.as_str()))
                    .and_then(|d| d.tray_open)
                    .unwrap_or(false)
            });
            out.cdroms.push(CdromFacts {
                target,
                media,
                tray_open,
                stats,
                stats_error,
            });
        }
        Ok(Some(out))
    }
}

/// The cdroms of a definition: target and media.
fn cdroms(def: &VmDefinition) -> Vec<(String, Source)> {
    def.drives
        .iter()
        .filter(|d| d.media == Media::Cdrom)
        .map(|d| (d.id.clone().unwrap_or_default(), d.source.clone()))
        .collect()
}

/// Cdroms whose media differ between the live and the persistent XML.
pub(crate) fn pending_changes(
    live: Option<&VmDefinition>,
    inactive: Option<&VmDefinition>,
) -> Vec<PendingCdromChange> {
    let (Some(live), Some(inactive)) = (live, inactive) else {
        return Vec::new();
    };
    let (now, next) = (cdroms(live), cdroms(inactive));
    let mut targets: Vec<&String> = now.iter().chain(next.iter()).map(|(t, _)| t).collect();
    targets.sort();
    targets.dedup();
    let find =
        |v: &[(String, Source)], t: &str| v.iter().find(|(x, _)| x == t).map(|(_, s)| s.clone());
    targets
        .into_iter()
        .filter_map(|t| {
            let (a, b) = (find(&now, t), find(&next, t));
            (a != b).then(|| PendingCdromChange {
                target: t.clone(),
                live: a,
                next_boot: b,
            })
        })
        .collect()
}

fn map_state(s: virt::domain::DomainStateEnum) -> DomainState {
    use virt::domain::DomainState as S;
    match s {
        virt::enumutil::Enum::Known(k) => match k {
            S::Running => DomainState::Running,
            S::Blocked => DomainState::Blocked,
            S::Paused => DomainState::Paused,
            S::Shutdown => DomainState::ShuttingDown,
            S::Shutoff => DomainState::Shutoff,
            S::Crashed => DomainState::Crashed,
            S::PMSuspended => DomainState::PmSuspended,
            S::NoState => DomainState::Unknown,
        },
        virt::enumutil::Enum::Unknown(_) => DomainState::Unknown,
    }
}

fn is_permission(e: &virt::error::Error) -> bool {
    matches!(
        e.code(),
        virt::enumutil::Enum::Known(
            ErrorNumber::OperationDenied | ErrorNumber::AuthFailed | ErrorNumber::AuthUnavailable
        )
    ) || e.message().contains("Permission denied")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `running_only`: the live XML of running domains and nothing else
    /// (libvirt's test driver: one running, persistent domain).
    #[test]
    fn running_only_reads_no_persistent_xml() {
        let all = scan("test:///default", &ScanOptions::default());
        assert!(all.warnings.is_empty(), "{:?}", all.warnings);
        assert!(all.domains.iter().any(|d| d.inactive.is_some()));
        let running = scan(
            "test:///default",
            &ScanOptions {
                running_only: true,
                ..ScanOptions::default()
            },
        );
        assert!(running.warnings.is_empty(), "{:?}", running.warnings);
        assert!(!running.domains.is_empty());
        for d in &running.domains {
            assert!(d.state.is_active() && d.live.is_some() && d.inactive.is_none());
        }
    }

    /// A domain destroyed between the listing and the reading of it (here:
    /// a transient domain of libvirt's test driver, destroyed through
    /// another handle) is a `domain-vanished` warning, not a failure.
    #[test]
    fn a_vanished_domain_is_a_warning() {
        virt::error::clear_error_callback();
        let conn = Connect::open(Some("test:///default")).unwrap();
        let xml = "<domain type='test'><name>isotune-vanishing</name><memory>65536</memory>\
                   <os><type>hvm</type></os></domain>";
        let dom = conn.create_domain_xml(xml, 0).unwrap();
        let other = conn.lookup_domain_by_name("isotune-vanishing").unwrap();
        other.destroy().unwrap();
        let mut s = Scanner {
            worker: Worker::start(Duration::from_secs(5)),
            running_only: false,
            bulk: None,
            out: LibvirtScan {
                uri: "test:///default".into(),
                domains: Vec::new(),
                warnings: Vec::new(),
            },
        };
        assert!(matches!(s.domain(Arc::new(dom)), Ok(None)));
        assert_eq!(
            s.out.warnings,
            [LibvirtWarning::DomainVanished {
                domain: "isotune-vanishing".into(),
                call: "virDomainGetState".into()
            }]
        );
        let json = serde_json::to_value(&s.out.warnings[0]).unwrap();
        assert_eq!(json["code"], "domain-vanished");
    }

    fn def(xml_cdrom: &str) -> VmDefinition {
        let xml =
            format!("<domain type='qemu'><name>a</name><devices>{xml_cdrom}</devices></domain>");
        isotune_vmconfig::parse_domain_xml(&xml, Origin::QemuCmdline).unwrap()
    }

    #[test]
    fn pending_changes_compare_cdrom_media_by_target() {
        let a = def("<disk type='file' device='cdrom'><source file='/a.iso'/><target dev='hdc' bus='ide'/></disk>");
        let b = def("<disk type='file' device='cdrom'><source file='/b.iso'/><target dev='hdc' bus='ide'/></disk>");
        let empty = def("<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>");
        assert!(pending_changes(Some(&a), Some(&a)).is_empty());
        assert!(pending_changes(Some(&a), None).is_empty());
        let c = pending_changes(Some(&a), Some(&b));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].target, "hdc");
        assert_eq!(
            c[0].next_boot,
            Some(Source::File {
                path: "/b.iso".into()
            })
        );
        let c = pending_changes(Some(&empty), Some(&a));
        assert_eq!(c[0].live, Some(Source::Empty));
    }
}

//! What only `doctor --probe` can know about a network source: that its
//! URL redirects, that its server ignores Range requests, or that it could
//! not be reached at all; and how every rule finds a drive's probe and
//! quotes its numbers ([`probe_of`], [`probe_evidence`]).

use isotune_vmconfig::{Drive, Source, VmDefinition};

use crate::describe::short_bytes;
use crate::describe::{drive_name, drive_subject, Style};
use crate::facts::{redact_url, Facts, NetProbe, ProbeKind};
use crate::finding::{Finding, Layer, Severity};
use crate::fix::{ArgvEdit, Attr, FixEdit};
use crate::rules::net::libvirt_network_source;
use crate::rules::vm::drive_ref;
use crate::rules::Rule;

/// The probe of a drive's URL, when `--probe` measured it.
pub(crate) fn probe_of<'a>(facts: &'a Facts, url: &str) -> Option<&'a NetProbe> {
    let key = redact_url(url);
    facts
        .probes
        .iter()
        .find(|p| matches!(p.kind, Some(ProbeKind::Http | ProbeKind::Nbd)) && p.source == key)
}

/// `2.1 ms`, `340 µs`.
pub(crate) fn millis(ns: u64) -> String {
    if ns < 1_000_000 {
        format!("{} µs", ns / 1000)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

/// The probe's numbers as evidence lines (or its error).
pub(crate) fn probe_evidence(p: &NetProbe) -> Vec<String> {
    let mut e = Vec::new();
    if let Some(err) = &p.error {
        e.push(format!("probe of {}: failed: {err}", p.server));
        return e;
    }
    let mut line = format!("probe of {}:", p.server);
    if let Some(c) = p.connect_ns {
        line += &format!(" TCP connect {}", millis(c));
    }
    if let Some(r) = p.rtt_ns {
        line += &format!(", round trip (one small read) {}", millis(r));
    }
    if let Some(t) = p.throughput_bytes_per_s() {
        line += &format!(
            ", first {} read at {:.1} MiB/s",
            short_bytes(p.read_bytes),
            t / f64::from(1 << 20)
        );
    }
    e.push(line);
    e
}

/// `net.http-redirect`.
pub(crate) const REDIRECT: Rule = Rule {
    id: "net.http-redirect",
    layer: Layer::Network,
    severity: Severity::Warn,
    title: "An HTTP ISO URL that redirects (found by --probe)",
    why: "QEMU's curl driver sets CURLOPT_FOLLOWLOCATION but keeps the URL it was given: \
          every Range request goes to the first URL again and follows the redirect again, \
          so each read pays one more round trip per redirect. The final URL avoids them \
          (unless it is a signed, short-lived one: then keep a local copy).",
    reference: "QEMU block/curl.c (curl_init_state: CURLOPT_URL, CURLOPT_FOLLOWLOCATION); \
                https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms",
    check: redirect,
};

/// `net.http-no-ranges`.
pub(crate) const NO_RANGES: Rule = Rule {
    id: "net.http-no-ranges",
    layer: Layer::Network,
    severity: Severity::Error,
    title: "An HTTP ISO on a server without Range support (found by --probe)",
    why: "QEMU's curl driver reads an image only through byte-range requests; when the \
          server's answer to its HEAD has no `Accept-Ranges: bytes`, it refuses to open \
          the drive (\"CURL: Error opening file: Server does not support 'range' (byte \
          ranges).\") and the VM does not start. Serve the image from a server that \
          supports Range requests (nginx, Apache, lighttpd, busybox httpd do), or attach a \
          local copy.",
    reference: "QEMU block/curl.c (curl_open: accept_range); RFC 9110 section 14 (Range \
                requests, Accept-Ranges)",
    check: no_ranges,
};

/// `net.probe-failed`.
pub(crate) const FAILED: Rule = Rule {
    id: "net.probe-failed",
    layer: Layer::Network,
    severity: Severity::Warn,
    title: "A network source --probe could not measure",
    why: "`doctor --probe` connects to every network source with bounded timeouts; one \
          that refuses the connection, times out or answers something unexpected is \
          what the VM will meet too when it opens or reads the drive.",
    reference: "docs/doctor.md (--probe)",
    check: failed,
};

/// A drive with a URL source: its VM, index, drive, URL and probe.
type Probed<'a> = (&'a VmDefinition, usize, &'a Drive, &'a str, &'a NetProbe);

/// Each VM drive with a URL source and that URL's probe.
fn probed(facts: &Facts) -> impl Iterator<Item = Probed<'_>> {
    facts.vms.iter().flat_map(move |vm| {
        vm.drives.iter().enumerate().filter_map(move |(i, d)| {
            let url = match &d.source {
                Source::Http { url, .. } | Source::Nbd { url } => url.as_str(),
                _ => return None,
            };
            Some((vm, i, d, url, probe_of(facts, url)?))
        })
    })
}

fn redirect(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for (vm, i, d, url, p) in probed(facts) {
        let Some(target) = p.final_url.as_deref().filter(|_| p.redirects > 0) else {
            continue;
        };
        let shown = redact_url(url);
        let mut evidence = vec![
            format!("URL: {shown}"),
            format!("redirects: {} to {target}", p.redirects),
        ];
        evidence.extend(probe_evidence(p));
        let title = format!(
            "drive {}: {shown} redirects {} time(s): every read pays {} extra round trip(s)",
            drive_name(i, d),
            p.redirects,
            p.redirects
        );
        let subject = drive_subject(vm, i, d);
        out.push(match url_edit(vm, i, d, target) {
            Some(edit) => REDIRECT.finding_edit(Severity::Warn, title, subject, evidence, edit, ""),
            None => {
                let fix = match libvirt_network_source(target, "") {
                    Some(src) if Style::of(vm) == Style::Libvirt => format!(
                        "`{}`, and in the <disk> with target {}: replace its <source> (keep its \
                         children) by {src}",
                        crate::describe::virsh_edit(vm),
                        drive_name(i, d)
                    ),
                    _ => format!(
                        "Point drive {} at the final URL {target} in {}",
                        drive_name(i, d),
                        crate::describe::where_to_edit(vm)
                    ),
                };
                REDIRECT.finding(Severity::Warn, title, subject, evidence, fix)
            }
        });
    }
    out
}

/// The drive's URL replaced on a command line.
fn url_edit(vm: &VmDefinition, i: usize, d: &Drive, url: &str) -> Option<FixEdit> {
    if Style::of(vm) != Style::Qemu {
        return None;
    }
    let scheme = url.split("://").next()?.to_ascii_lowercase();
    Some(FixEdit::Argv {
        edits: vec![ArgvEdit::DriveOptions {
            drive: drive_ref(i, d),
            set: vec![
                Attr::new("file.driver", &scheme),
                Attr::new("file.url", url),
            ],
            remove: vec!["file".into()],
        }],
    })
}

fn no_ranges(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for (vm, i, d, url, p) in probed(facts) {
        if p.ranges != Some(false) {
            continue;
        }
        let shown = redact_url(url);
        let mut evidence = vec![format!("URL: {shown}")];
        evidence.extend(probe_evidence(p));
        let file = shown
            .rsplit('/')
            .next()
            .filter(|f| !f.is_empty())
            .unwrap_or("image.iso");
        let fix = format!(
            "Serve the image from a server that answers Range requests (nginx, Apache, \
             lighttpd, `busybox httpd`), or copy it once and attach the local file: \
             `curl -fLo /var/lib/isos/{file} '{shown}'`, then point drive {} at \
             /var/lib/isos/{file} ({}).",
            drive_name(i, d),
            crate::describe::where_to_edit(vm)
        );
        out.push(NO_RANGES.finding(
            Severity::Error,
            format!(
                "drive {}: the server of {shown} does not serve byte ranges: QEMU refuses to open it",
                drive_name(i, d)
            ),
            drive_subject(vm, i, d),
            evidence,
            fix,
        ));
    }
    out
}

fn failed(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in &facts.probes {
        let Some(err) = &p.error else { continue };
        // A server without Range support has its own rule.
        if p.ranges == Some(false) {
            continue;
        }
        let users: Vec<String> = facts
            .vms
            .iter()
            .flat_map(|vm| {
                vm.drives.iter().enumerate().filter_map(move |(i, d)| {
                    let url = match &d.source {
                        Source::Http { url, .. } | Source::Nbd { url } => url,
                        _ => return None,
                    };
                    (redact_url(url) == p.source).then(|| drive_subject(vm, i, d))
                })
            })
            .collect();
        let mut evidence = probe_evidence(p);
        evidence.extend(users.iter().map(|u| format!("used by {u}")));
        let what = match p.kind {
            Some(ProbeKind::NetworkFs) => "the server of the network filesystem holding",
            _ => "",
        };
        let fix = match p.kind {
            Some(ProbeKind::NetworkFs) => format!(
                "Check that {} is up and reachable from this host (`ping`, `showmount -e` or \
                 `rpcinfo -p` for NFS), or copy the ISO to local storage.",
                p.server
            ),
            _ => format!(
                "Check that the server at {} is up and serves {} (`curl -I` for HTTP, \
                 `qemu-img info` for NBD), or fix the drive's URL.",
                p.server, p.source
            ),
        };
        out.push(
            FAILED.finding(
                Severity::Warn,
                format!("{what} {}: the probe failed: {err}", p.source)
                    .trim_start()
                    .to_string(),
                p.source.clone(),
                evidence,
                fix,
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{example, healthy, qemu_vm};

    #[test]
    fn a_redirect_is_fixed_by_the_final_url() {
        let facts = example("net.http-redirect").unwrap();
        let f = redirect(&facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("redirects 1 time(s)"), "{}", f[0].title);
        assert!(
            f[0].fix
                .contains("<source protocol='https' name='/real/x.iso'><host name='cdn.example.org'/></source>"),
            "{}",
            f[0].fix
        );
        let mut q = facts;
        let mut vm = qemu_vm();
        vm.drives = q.vms[0].drives.clone();
        q.vms = vec![vm];
        let f = redirect(&q);
        assert!(
            f[0].fix
                .contains("file.url=https://cdn.example.org/real/x.iso"),
            "{}",
            f[0].fix
        );
        assert!(redirect(&healthy()).is_empty());
    }

    #[test]
    fn no_ranges_is_an_error_and_not_a_failed_probe() {
        let facts = example("net.http-no-ranges").unwrap();
        let f = no_ranges(&facts);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(f[0].fix.contains("curl -fLo /var/lib/isos/x.iso"));
        assert!(failed(&facts).is_empty());
    }

    #[test]
    fn a_failed_probe_names_its_error_and_users() {
        let facts = example("net.probe-failed").unwrap();
        let f = failed(&facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("connection refused"), "{}", f[0].title);
        assert!(f[0].evidence.iter().any(|e| e.starts_with("used by VM")));
    }
}

//! The network path to an ISO that QEMU reads itself: the curl driver
//! (HTTP/HTTPS/FTP) and its readahead window. With `--probe` the window is
//! judged by the boot trace replayed over the measured link
//! ([`NetProbe::readahead`]); without it, only against curl's default.

use isotune_vmconfig::{Drive, Source, VmDefinition};

use crate::describe::{bytes, drive_name, drive_subject, short_bytes, virsh_edit, Style};
use crate::facts::{redact_url, Facts, NetProbe, ReadaheadEstimate};
use crate::finding::{Finding, Layer, Severity};
use crate::fix::{ArgvEdit, Attr, DomainEdit, FixEdit};
use crate::rules::probe::{probe_evidence, probe_of};
use crate::rules::vm::{domain_edit, drive_ref};
use crate::rules::Rule;

/// curl's default `readahead`, bytes (`READ_AHEAD_DEFAULT` in QEMU's
/// block/curl.c).
pub(crate) const CURL_DEFAULT_READAHEAD: u64 = 256 * 1024;
/// What the fix proposes without a probe: four times curl's default window,
/// fewer round trips for a sequential installer read (measure it on the
/// link: see the rule text).
const PROPOSED_READAHEAD: u64 = 1024 * 1024;
/// With a probe, the configured window is "clearly slower" when its
/// predicted time is at least this many times the best candidate's...
const SLOWER_RATIO: f64 = 1.25;
/// ...and at least this many seconds longer.
const SLOWER_SECONDS: f64 = 0.2;

/// The configured window's estimate and the best one, when the probe has them.
fn judged(p: &NetProbe, ra: u64) -> Option<(ReadaheadEstimate, ReadaheadEstimate)> {
    let mine = *p.readahead.iter().find(|e| e.readahead_bytes == ra)?;
    let best = *p
        .readahead
        .iter()
        .min_by(|a, b| a.predicted_seconds.total_cmp(&b.predicted_seconds))?;
    Some((mine, best))
}

/// A URL split the way libvirt's `<source protocol name><host/>` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) scheme: String,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    /// The path with its query, starting with `/`.
    pub(crate) path: String,
}

/// Splits `scheme://host[:port]/path`; `None` for anything else (user
/// info, IPv6 literals, unix sockets are left to the user).
pub(crate) fn parse_url(url: &str) -> Option<Url> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains(['@', '[']) || scheme.contains('+') {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse().ok()?)),
        None => (authority, None),
    };
    Some(Url {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

/// `<source protocol='https' name='/path' query='q'><host name='h' port='p'/>INNER</source>`
/// for a URL, `None` when the URL does not split.
pub(crate) fn libvirt_network_source(url: &str, inner: &str) -> Option<String> {
    let u = parse_url(url)?;
    let (name, query) = match u.path.split_once('?') {
        Some((n, q)) => (
            n,
            format!(
                " query='{}'",
                q.replace('&', "&amp;").replace('\'', "&apos;")
            ),
        ),
        None => (u.path.as_str(), String::new()),
    };
    let port = u.port.map_or(String::new(), |p| format!(" port='{p}'"));
    Some(format!(
        "<source protocol='{}' name='{}'{query}><host name='{}'{port}/>{inner}</source>",
        u.scheme,
        name.replace('&', "&amp;").replace('\'', "&apos;"),
        u.host
    ))
}

/// A `readahead` below this was most likely meant in KiB or MiB: QEMU's
/// smallest useful window is far above it (2048 at 2 ms per request booted
/// 12.3x slower than 2M: `ONLY=ide-readahead scripts/bench/boot-net.sh`).
const SMALLEST_MEANT_READAHEAD: u64 = 64 * 1024;

/// `net.curl-readahead`.
pub(crate) const CURL_READAHEAD: Rule = Rule {
    id: "net.curl-readahead",
    layer: Layer::Network,
    severity: Severity::Warn,
    title: "An HTTP ISO read with curl's default (or smaller) readahead",
    why: "QEMU's curl driver turns every guest read it cannot serve from its buffer into \
          one HTTP range request of the readahead window (default 256 KiB), so each cache \
          miss costs a server round trip. A larger window means fewer round trips but \
          more bytes read that the guest never asked for; which size wins depends on the \
          link's latency, its bandwidth and the guest's access pattern. Without `--probe` a \
          window below 64 KiB is a warning (QEMU and libvirt read the value in bytes: \
          `readahead=2048` is 2 KiB, not 2 MiB) and one at or below the default is \
          information; `doctor --probe` measures the link's round trip \
          and throughput, replays the image's boot trace through a model of the driver for \
          64 KiB to 4 MiB, and reports a window predicted at least 1.25x and 0.2 s slower \
          than the best, too small or too large (a model, not a boot: `isotune boot` \
          measures one). For repeated \
          boots a local copy, or a qcow2 overlay with copy-on-read, avoids the network \
          after the first boot.",
    reference: "https://www.qemu.org/docs/master/system/qemu-block-drivers.html#http-https-ftp-and-ftps \
                (readahead, timeout); https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms \
                (<source protocol='http'>, <readahead size=>)",
    check: curl_readahead,
};

/// A drive QEMU's curl driver reads, with its options.
pub(crate) struct HttpDrive<'a> {
    pub(crate) vm: &'a VmDefinition,
    pub(crate) i: usize,
    pub(crate) d: &'a Drive,
    pub(crate) url: &'a str,
    pub(crate) readahead_bytes: Option<u64>,
    pub(crate) timeout_seconds: Option<u64>,
    pub(crate) sslverify: Option<bool>,
}

/// Every drive of every VM whose source is an HTTP(S)/FTP(S) URL.
pub(crate) fn http_drives(facts: &Facts) -> impl Iterator<Item = HttpDrive<'_>> {
    facts.vms.iter().flat_map(|vm| {
        vm.drives
            .iter()
            .enumerate()
            .filter_map(move |(i, d)| match &d.source {
                Source::Http {
                    url,
                    readahead_bytes,
                    timeout_seconds,
                    sslverify,
                } => Some(HttpDrive {
                    vm,
                    i,
                    d,
                    url,
                    readahead_bytes: *readahead_bytes,
                    timeout_seconds: *timeout_seconds,
                    sslverify: *sslverify,
                }),
                _ => None,
            })
    })
}

fn curl_readahead(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for h in http_drives(facts) {
        let (vm, i, d, url) = (h.vm, h.i, h.d, h.url);
        let (readahead_bytes, timeout_seconds) = (h.readahead_bytes, h.timeout_seconds);
        let ra = readahead_bytes.unwrap_or(CURL_DEFAULT_READAHEAD);
        let shown = redact_url(url);
        let ra_line = match readahead_bytes {
            Some(r) => format!("readahead: {}", bytes(r)),
            None => format!(
                "readahead: not set (curl default {})",
                bytes(CURL_DEFAULT_READAHEAD)
            ),
        };
        let mut evidence = vec![format!("URL: {shown}"), ra_line];
        if readahead_bytes.is_some_and(|r| r < SMALLEST_MEANT_READAHEAD) {
            evidence.push(format!(
                "QEMU and libvirt read `readahead` in bytes: {ra} means {ra} bytes, not {ra} KiB \
                 or MiB (every guest read that misses the driver's buffers becomes a request)"
            ));
        }
        if let Some(t) = timeout_seconds {
            evidence.push(format!("timeout: {t} s"));
        }
        let probe = probe_of(facts, url);
        // QEMU cannot open it at all: net.http-no-ranges says so.
        if probe.is_some_and(|p| p.ranges == Some(false)) {
            continue;
        }
        let (title, proposed, severity) = match probe.and_then(|p| judged(p, ra)) {
            // Measured: judge the window by the replayed boot trace.
            Some((mine, best)) => {
                let slower = mine.predicted_seconds >= best.predicted_seconds * SLOWER_RATIO
                    && mine.predicted_seconds - best.predicted_seconds >= SLOWER_SECONDS;
                if !slower {
                    continue;
                }
                evidence.extend(probe_evidence(probe.expect("judged")));
                for e in &probe.expect("judged").readahead {
                    evidence.push(format!(
                        "boot trace with readahead {}: {} requests, {} from the server, \
                             predicted {:.2} s{}",
                        short_bytes(e.readahead_bytes),
                        e.server_requests,
                        short_bytes(e.server_bytes),
                        e.predicted_seconds,
                        if e.readahead_bytes == ra {
                            " (configured)"
                        } else {
                            ""
                        }
                    ));
                }
                let dir = if ra > best.readahead_bytes {
                    "too large"
                } else {
                    "too small"
                };
                (
                    format!(
                        "drive {}: readahead {} is {dir} for this link: the boot's reads are \
                             predicted to take {:.2} s, {:.2} s with {}",
                        drive_name(i, d),
                        short_bytes(ra),
                        mine.predicted_seconds,
                        best.predicted_seconds,
                        short_bytes(best.readahead_bytes)
                    ),
                    best.readahead_bytes,
                    Severity::Warn,
                )
            }
            // Not measured: a window below 64 KiB is a warning (a value meant
            // in KiB or MiB); the default or a little less is information:
            // whether a larger window is faster depends on the link's
            // bandwidth as well as its latency (`scripts/bench/boot-net.sh`
            // ONLY=rate: 2M beat 256K on loopback and lost at 100 Mbit/s).
            None => {
                if ra > CURL_DEFAULT_READAHEAD {
                    continue;
                }
                if let Some(p) = probe {
                    evidence.extend(probe_evidence(p));
                    if let Some(why) = &p.readahead_error {
                        evidence.push(format!("readahead not judged on this link: {why}"));
                    }
                }
                let severity = if ra < SMALLEST_MEANT_READAHEAD {
                    Severity::Warn
                } else {
                    Severity::Info
                };
                let mut title = format!(
                    "drive {} reads {shown} in {} HTTP requests",
                    drive_name(i, d),
                    short_bytes(ra)
                );
                if severity == Severity::Info {
                    title.push_str(" (not judged without `--probe`)");
                }
                (title, PROPOSED_READAHEAD, severity)
            }
        };
        let subject = drive_subject(vm, i, d);
        let note = repeated_boots_note(&shown);
        out.push(match readahead_edit(vm, i, d, &shown, proposed) {
            Some(edit) => {
                CURL_READAHEAD.finding_edit(severity, title, subject, evidence, edit, &note)
            }
            None => CURL_READAHEAD.finding(
                severity,
                title,
                subject,
                evidence,
                format!(
                    "{}\n{note}",
                    curl_fix(vm, &drive_name(i, d), &shown, proposed)
                ),
            ),
        });
    }
    out
}

fn curl_fix(vm: &VmDefinition, name: &str, url: &str, proposed: u64) -> String {
    let scheme = url
        .split("://")
        .next()
        .unwrap_or("http")
        .to_ascii_lowercase();
    let esc = url.replace(',', ",,");
    let set = match Style::of(vm) {
        Style::Libvirt => {
            let inner = format!("<readahead size='{proposed}'/>");
            let source = libvirt_network_source(url, &inner)
                .unwrap_or_else(|| format!("{inner} inside its <source>"));
            format!(
                "`{}`, and in the <disk> with target {name}: {source}",
                virsh_edit(vm)
            )
        }
        // A Proxmox VM gets a network ISO only through `args:`, in QEMU's syntax.
        Style::Qemu | Style::Proxmox => format!(
            "-drive file.driver={scheme},file.url={esc},file.readahead={},if=none,id={name},\
             media=cdrom,format=raw,readonly=on",
            qemu_size(proposed)
        ),
    };
    set
}

/// The readahead fix as an edit: `<readahead size=.../>` in the libvirt
/// `<source>`, or the drive's protocol options on a command line.
fn readahead_edit(
    vm: &VmDefinition,
    i: usize,
    d: &Drive,
    url: &str,
    proposed: u64,
) -> Option<FixEdit> {
    let xml = format!("<readahead size='{proposed}'/>");
    curl_option_edit(
        vm,
        (i, d),
        url,
        ("readahead", xml),
        ("readahead", &qemu_size(proposed)),
    )
}

/// A curl driver option as an edit of drive `(i, d)`: `libvirt.1` (element
/// `libvirt.0`) in the libvirt `<source>`, or on a command line the URL as
/// protocol options with `file.KEY=VALUE` for `qemu`.
pub(crate) fn curl_option_edit(
    vm: &VmDefinition,
    (i, d): (usize, &Drive),
    url: &str,
    libvirt: (&str, String),
    qemu: (&str, &str),
) -> Option<FixEdit> {
    let scheme = url.split("://").next()?.to_ascii_lowercase();
    match Style::of(vm) {
        Style::Libvirt => domain_edit(vm, i, d, |target| DomainEdit::SetSourceChild {
            target,
            name: libvirt.0.into(),
            xml: libvirt.1,
        }),
        Style::Proxmox => None,
        Style::Qemu => Some(FixEdit::Argv {
            edits: vec![ArgvEdit::DriveOptions {
                drive: drive_ref(i, d),
                set: vec![
                    Attr::new("file.driver", &scheme),
                    Attr::new("file.url", url),
                    Attr::new(&format!("file.{}", qemu.0), qemu.1),
                ],
                remove: vec!["file".into()],
            }],
        }),
    }
}

/// A size in QEMU's syntax: `1M`, `256K`, or bytes.
pub(crate) fn qemu_size(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{}M", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{}K", n >> 10)
    } else {
        n.to_string()
    }
}

/// What to do when the same ISO is booted again and again.
fn repeated_boots_note(url: &str) -> String {
    let file = url
        .rsplit('/')
        .next()
        .filter(|f| !f.is_empty())
        .unwrap_or("image.iso");
    format!(
        "For repeated boots, copy it once: `curl -fLo /var/lib/isos/{file} '{url}'` and \
         attach the local file; or keep it remote behind a local copy-on-read overlay: \
         `qemu-img create -f qcow2 -F raw -b '{url}' /var/lib/isos/{file}.cor.qcow2`, attached \
         with `-blockdev driver=file,filename=/var/lib/isos/{file}.cor.qcow2,node-name=ovf \
         -blockdev driver=qcow2,file=ovf,node-name=ov -blockdev \
         driver=copy-on-read,file=ov,node-name=cor -device scsi-cd,drive=cor` (a plain \
         copy-on-read=on on a read-only cdrom drive is silently disabled)."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::ProbeKind;
    use crate::fixtures::{example, healthy, qemu_vm};

    #[test]
    fn default_readahead_warns_with_a_1m_fix() {
        let f = curl_readahead(&example("net.curl-readahead").unwrap());
        assert_eq!(f.len(), 1);
        assert!(f[0].evidence[1].contains("curl default"));
        assert!(
            f[0].fix.contains(
                "in the <source> of the <disk> with target sda: <readahead size='1048576'/>"
            ),
            "{}",
            f[0].fix
        );
        assert!(curl_readahead(&healthy()).is_empty());
        assert!(!f[0].evidence.iter().any(|e| e.contains("in bytes")));
        // Not measured: the default is information, not a warning.
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].title.ends_with("(not judged without `--probe`)"));
    }

    #[test]
    fn a_readahead_of_2048_is_said_to_be_bytes() {
        let mut facts = example("net.curl-readahead").unwrap();
        if let Source::Http {
            readahead_bytes, ..
        } = &mut facts.vms[0].drives[0].source
        {
            *readahead_bytes = Some(2048);
        }
        let f = curl_readahead(&facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.contains("2048 means 2048 bytes, not 2048 KiB or MiB")),
            "{:?}",
            f[0].evidence
        );
    }

    #[test]
    fn qemu_fix_and_large_readahead() {
        let mut facts = example("net.curl-readahead").unwrap();
        let mut vm = qemu_vm();
        vm.drives = facts.vms[0].drives.clone();
        facts.vms = vec![vm];
        let f = curl_readahead(&facts);
        assert!(
            f[0].fix.starts_with(
                "On drive sda: set file.driver=https,file.url=https://mirror.example.org/isos/x.iso,\
                 file.readahead=1M, and remove file="
            ),
            "{}",
            f[0].fix
        );
        if let Source::Http {
            readahead_bytes, ..
        } = &mut facts.vms[0].drives[0].source
        {
            *readahead_bytes = Some(1 << 20);
        }
        assert!(curl_readahead(&facts).is_empty());
    }

    #[test]
    fn urls_split() {
        assert_eq!(
            parse_url("http://nas:8080/isos/a.iso?x=1"),
            Some(Url {
                scheme: "http".into(),
                host: "nas".into(),
                port: Some(8080),
                path: "/isos/a.iso?x=1".into()
            })
        );
        assert_eq!(parse_url("nbd+unix:///x?socket=/s"), None);
        assert_eq!(parse_url("/not/a/url"), None);
        assert_eq!(
            libvirt_network_source("http://h:81/a.iso?t=1&u=2", "").unwrap(),
            "<source protocol='http' name='/a.iso' query='t=1&amp;u=2'><host name='h' port='81'/></source>"
        );
    }

    /// The example with a probe whose estimates are `(readahead, seconds)`.
    fn probed(ra: Option<u64>, estimates: &[(u64, f64)]) -> Facts {
        let mut facts = example("net.curl-readahead").unwrap();
        let Source::Http {
            url,
            readahead_bytes,
            ..
        } = &mut facts.vms[0].drives[0].source
        else {
            unreachable!()
        };
        *readahead_bytes = ra;
        let url = url.clone();
        facts.probes.push(NetProbe {
            source: url,
            kind: Some(ProbeKind::Http),
            server: "mirror.example.org:443".into(),
            rtt_ns: Some(2_000_000),
            read_bytes: 1 << 20,
            read_ns: Some(100_000_000),
            readahead: estimates
                .iter()
                .map(|&(r, s)| ReadaheadEstimate {
                    readahead_bytes: r,
                    server_requests: 1,
                    server_bytes: r,
                    predicted_seconds: s,
                })
                .collect(),
            ..NetProbe::default()
        });
        facts
    }

    #[test]
    fn a_probe_judges_too_small_too_large_and_close_enough() {
        let est = [(256 << 10, 9.1), (1 << 20, 4.0), (2 << 20, 59.7)];
        // The default, predicted slower than 1 MiB: too small, fix 1 MiB.
        let f = curl_readahead(&probed(None, &est));
        assert_eq!(f.len(), 1);
        assert!(
            f[0].title.contains("256.0 KiB is too small"),
            "{}",
            f[0].title
        );
        assert!(
            f[0].fix.contains("<readahead size='1048576'/>"),
            "{}",
            f[0].fix
        );
        assert!(f[0]
            .evidence
            .iter()
            .any(|e| e.contains("predicted 9.10 s (configured)")));
        // 2 MiB, predicted far slower than 1 MiB: too large.
        let f = curl_readahead(&probed(Some(2 << 20), &est));
        assert!(
            f[0].title.contains("2.0 MiB is too large"),
            "{}",
            f[0].title
        );
        // The best, or within 1.25x / 0.2 s of it: nothing.
        assert!(curl_readahead(&probed(Some(1 << 20), &est)).is_empty());
        let close = [(256 << 10, 4.15), (1 << 20, 4.0)];
        assert!(curl_readahead(&probed(None, &close)).is_empty());
        let fast = [(256 << 10, 0.3), (1 << 20, 0.2)];
        assert!(curl_readahead(&probed(None, &fast)).is_empty());
        // A probe without estimates: today's judgement, no number claimed.
        let f = curl_readahead(&probed(None, &[]));
        assert!(
            f[0].title.contains("in 256.0 KiB HTTP requests"),
            "{}",
            f[0].title
        );
        assert!(!f[0].evidence.iter().any(|e| e.contains("predicted")));
    }

    #[test]
    fn every_network_protocol_is_recognised() {
        use isotune_vmconfig::{parse_argv, parse_domain_xml, Origin};
        let argv: Vec<String> = [
            "qemu-system-x86_64",
            "-drive",
            "file=http://h/a.iso,if=none,id=a",
            "-drive",
            "file=https://h/b.iso,if=none,id=b",
            "-drive",
            "file=ftp://h/c.iso,if=none,id=c",
            "-drive",
            "file=nbd://h:10809/d,if=none,id=d",
            "-drive",
            "file=iscsi://h/iqn.2001-04.com.example:s/1,if=none,id=e",
            "-drive",
            "file=rbd:pool/image,if=none,id=f",
            "-drive",
            "file=gluster+tcp://h/vol/g.iso,if=none,id=g",
        ]
        .map(String::from)
        .to_vec();
        let vm = parse_argv(&argv, Origin::QemuCmdline);
        let kinds: Vec<String> = vm
            .drives
            .iter()
            .map(|d| match &d.source {
                Source::Http { url, .. } => format!("curl {}", url.split(':').next().unwrap()),
                Source::Nbd { .. } => "nbd".into(),
                Source::Network { protocol, .. } => protocol.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "curl http",
                "curl https",
                "curl ftp",
                "nbd",
                "iscsi",
                "rbd",
                "gluster"
            ]
        );
        let xml = "<domain type='kvm'><name>n</name><devices>\
            <disk type='network' device='cdrom'><source protocol='ftp' name='/c.iso'><host name='h'/></source><target dev='sda' bus='scsi'/></disk>\
            <disk type='network' device='disk'><source protocol='iscsi' name='iqn.x/1'><host name='h'/></source><target dev='vda' bus='virtio'/></disk>\
            <disk type='network' device='disk'><source protocol='rbd' name='pool/img'><host name='h'/></source><target dev='vdb' bus='virtio'/></disk>\
            <disk type='network' device='cdrom'><source protocol='gluster' name='vol/g.iso'><host name='h'/></source><target dev='sdb' bus='scsi'/></disk>\
            </devices></domain>";
        let vm = parse_domain_xml(
            xml,
            Origin::LibvirtXml {
                path: "n.xml".into(),
            },
        )
        .unwrap();
        assert!(matches!(&vm.drives[0].source, Source::Http { url, .. } if url == "ftp://h/c.iso"));
        for (d, p) in vm.drives[1..].iter().zip(["iscsi", "rbd", "gluster"]) {
            assert!(
                matches!(&d.source, Source::Network { protocol, .. } if protocol == p),
                "{:?}",
                d.source
            );
        }
    }
}

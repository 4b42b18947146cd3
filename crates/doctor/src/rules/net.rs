//! The network path to an ISO that QEMU reads itself: the curl driver
//! (HTTP/HTTPS/FTP) and its readahead window.

use isotune_vmconfig::{Drive, Source, VmDefinition};

use crate::describe::{bytes, drive_name, drive_subject, virsh_edit, Style};
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::fix::{ArgvEdit, Attr, DomainEdit, FixEdit};
use crate::rules::vm::{domain_edit, drive_ref};
use crate::rules::Rule;

/// curl's default `readahead`, bytes.
const CURL_DEFAULT_READAHEAD: u64 = 256 * 1024;
/// What the fix proposes: four times curl's default window, fewer round trips
/// for a sequential installer read (measure it on the link: see the rule text).
const PROPOSED_READAHEAD: u64 = 1024 * 1024;

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
          link's latency and the guest's access pattern, so measure it on your link (boot \
          the VM with each value and compare). For repeated \
          boots a local copy, or a qcow2 overlay with copy-on-read, avoids the network \
          after the first boot.",
    reference: "https://www.qemu.org/docs/master/system/qemu-block-drivers.html#http-https-ftp-and-ftps \
                (readahead, timeout); https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms \
                (<source protocol='http'>, <readahead size=>)",
    check: curl_readahead,
};

fn curl_readahead(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for vm in &facts.vms {
        for (i, d) in vm.drives.iter().enumerate() {
            let Source::Http {
                url,
                readahead_bytes,
                timeout_seconds,
                ..
            } = &d.source
            else {
                continue;
            };
            if readahead_bytes.is_some_and(|r| r > CURL_DEFAULT_READAHEAD) {
                continue;
            }
            let ra = match readahead_bytes {
                Some(r) => format!("readahead: {}", bytes(*r)),
                None => format!(
                    "readahead: not set (curl default {})",
                    bytes(CURL_DEFAULT_READAHEAD)
                ),
            };
            let mut evidence = vec![format!("URL: {url}"), ra];
            if let Some(t) = timeout_seconds {
                evidence.push(format!("timeout: {t} s"));
            }
            let title = format!(
                "drive {} reads {url} in {} HTTP requests",
                drive_name(i, d),
                readahead_bytes.map_or("256 KiB".to_string(), bytes)
            );
            let subject = drive_subject(vm, i, d);
            let note = repeated_boots_note(url);
            out.push(match readahead_edit(vm, i, d, url) {
                Some(edit) => CURL_READAHEAD.finding_edit(
                    Severity::Warn,
                    title,
                    subject,
                    evidence,
                    edit,
                    &note,
                ),
                None => CURL_READAHEAD.finding(
                    Severity::Warn,
                    title,
                    subject,
                    evidence,
                    format!("{}\n{note}", curl_fix(vm, &drive_name(i, d), url)),
                ),
            });
        }
    }
    out
}

fn curl_fix(vm: &VmDefinition, name: &str, url: &str) -> String {
    let scheme = url
        .split("://")
        .next()
        .unwrap_or("http")
        .to_ascii_lowercase();
    let esc = url.replace(',', ",,");
    let set = match Style::of(vm) {
        Style::Libvirt => {
            let inner = format!("<readahead size='{PROPOSED_READAHEAD}'/>");
            let source = libvirt_network_source(url, &inner)
                .unwrap_or_else(|| format!("{inner} inside its <source>"));
            format!(
                "`{}`, and in the <disk> with target {name}: {source}",
                virsh_edit(vm)
            )
        }
        // A Proxmox VM gets a network ISO only through `args:`, in QEMU's syntax.
        Style::Qemu | Style::Proxmox => format!(
            "-drive file.driver={scheme},file.url={esc},file.readahead=1M,if=none,id={name},\
             media=cdrom,format=raw,readonly=on"
        ),
    };
    set
}

/// The readahead fix as an edit: `<readahead size=.../>` in the libvirt
/// `<source>`, or the drive's protocol options on a command line.
fn readahead_edit(vm: &VmDefinition, i: usize, d: &Drive, url: &str) -> Option<FixEdit> {
    let scheme = url.split("://").next()?.to_ascii_lowercase();
    match Style::of(vm) {
        Style::Libvirt => domain_edit(vm, i, d, |target| DomainEdit::SetSourceChild {
            target,
            name: "readahead".into(),
            xml: format!("<readahead size='{PROPOSED_READAHEAD}'/>"),
        }),
        Style::Proxmox => None,
        Style::Qemu => Some(FixEdit::Argv {
            edits: vec![ArgvEdit::DriveOptions {
                drive: drive_ref(i, d),
                set: vec![
                    Attr::new("file.driver", &scheme),
                    Attr::new("file.url", url),
                    Attr::new("file.readahead", "1M"),
                ],
                remove: vec!["file".into()],
            }],
        }),
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
}

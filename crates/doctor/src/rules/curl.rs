//! QEMU's curl driver options besides `readahead`: the per-request
//! `timeout` and `sslverify`.

use isotune_vmconfig::{Drive, VmDefinition};

use crate::describe::{drive_name, drive_subject, short_bytes};
use crate::facts::{redact_url, Facts};
use crate::finding::{Finding, Layer, Severity};
use crate::fix::FixEdit;
use crate::rules::net::{curl_option_edit, http_drives, CURL_DEFAULT_READAHEAD};
use crate::rules::probe::{probe_evidence, probe_of};
use crate::rules::Rule;

/// `CURL_TIMEOUT_DEFAULT` in QEMU's block/curl.c, seconds.
pub(crate) const CURL_DEFAULT_TIMEOUT: u64 = 5;
/// The timeout a fix proposes is at least this many times the measured
/// time of one readahead window.
const TIMEOUT_MARGIN: f64 = 4.0;

/// `net.curl-timeout`.
pub(crate) const TIMEOUT: Rule = Rule {
    id: "net.curl-timeout",
    layer: Layer::Network,
    severity: Severity::Warn,
    title: "An HTTP ISO whose curl timeout is shorter than one readahead transfer",
    why: "QEMU's curl driver sets CURLOPT_TIMEOUT to `timeout` (default 5 s; 0 = none) on \
          every Range request, and each request fetches the guest's read plus the \
          readahead window. A transfer that takes longer is aborted and the guest read \
          fails with an I/O error (a firmware or installer error, not a slow boot). Without \
          `--probe` a value below the default is reported; with `--probe` the time of one \
          window at the measured round trip and throughput is compared with the timeout.",
    reference: "QEMU block/curl.c (CURL_TIMEOUT_DEFAULT, CURLOPT_TIMEOUT); \
                https://www.qemu.org/docs/master/system/qemu-block-drivers.html#http-https-ftp-and-ftps \
                (timeout); https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms \
                (<timeout seconds=>)",
    check: timeout,
};

/// `net.curl-sslverify-off`.
pub(crate) const SSLVERIFY_OFF: Rule = Rule {
    id: "net.curl-sslverify-off",
    layer: Layer::Network,
    severity: Severity::Warn,
    title: "An HTTPS ISO read without certificate verification",
    why: "With `sslverify=off` (libvirt `<ssl verify='no'/>`) QEMU's curl driver accepts \
          any certificate: anyone on the path can serve a different image, which the VM \
          then boots and installs from. For a server with a private CA, trust the CA on \
          the host instead: QEMU's curl uses the system's CA store.",
    reference: "QEMU block/curl.c (sslverify, CURLOPT_SSL_VERIFYPEER); \
                https://www.qemu.org/docs/master/system/qemu-block-drivers.html#http-https-ftp-and-ftps \
                (sslverify); https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms \
                (<ssl verify=>); update-ca-certificates(8)",
    check: sslverify_off,
};

fn timeout(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for h in http_drives(facts) {
        let (vm, i, d, url) = (h.vm, h.i, h.d, h.url);
        let (readahead_bytes, timeout_seconds) = (h.readahead_bytes, h.timeout_seconds);
        let limit = timeout_seconds.unwrap_or(CURL_DEFAULT_TIMEOUT);
        if limit == 0 {
            continue;
        }
        let ra = readahead_bytes.unwrap_or(CURL_DEFAULT_READAHEAD);
        let shown = redact_url(url);
        let mut evidence = vec![
            format!("URL: {shown}"),
            match timeout_seconds {
                Some(t) => format!("timeout: {t} s"),
                None => format!("timeout: not set (QEMU default {CURL_DEFAULT_TIMEOUT} s)"),
            },
            format!("readahead: {}", short_bytes(ra)),
        ];
        let probe = probe_of(facts, url).filter(|p| p.error.is_none());
        let window = probe.and_then(|p| {
            let rate = p.streaming_bytes_per_s()?;
            let rtt = p.rtt_ns? as f64 / 1e9 * f64::from(1 + p.redirects);
            Some(rtt + ra as f64 / rate)
        });
        let (title, proposed) = match window {
            Some(secs) => {
                if secs <= limit as f64 {
                    continue;
                }
                evidence.extend(probe_evidence(probe.expect("measured")));
                evidence.push(format!(
                    "one readahead window ({}) at that rate: {secs:.1} s",
                    short_bytes(ra)
                ));
                (
                    format!(
                        "drive {}: one {} readahead transfer takes {secs:.1} s on this link, \
                             longer than the curl timeout of {limit} s: its reads fail",
                        drive_name(i, d),
                        short_bytes(ra)
                    ),
                    ((secs * TIMEOUT_MARGIN).ceil() as u64).max(CURL_DEFAULT_TIMEOUT),
                )
            }
            None => {
                if limit >= CURL_DEFAULT_TIMEOUT {
                    continue;
                }
                (
                    format!(
                        "drive {}: curl timeout {limit} s is below QEMU's default of \
                             {CURL_DEFAULT_TIMEOUT} s: a slower transfer fails the guest's read",
                        drive_name(i, d)
                    ),
                    CURL_DEFAULT_TIMEOUT,
                )
            }
        };
        let subject = drive_subject(vm, i, d);
        let edit = option_edit(vm, i, d, &shown, "timeout", &proposed.to_string());
        out.push(finish(&TIMEOUT, title, subject, evidence, edit, vm, i, d));
    }
    out
}

fn sslverify_off(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for h in http_drives(facts) {
        let (vm, i, d, url, sslverify) = (h.vm, h.i, h.d, h.url, h.sslverify);
        let scheme = url.split("://").next().unwrap_or("").to_ascii_lowercase();
        if sslverify != Some(false) || !matches!(scheme.as_str(), "https" | "ftps") {
            continue;
        }
        let shown = redact_url(url);
        let evidence = vec![format!("URL: {shown}"), "sslverify: off".to_string()];
        let title = format!(
            "drive {} reads {shown} without verifying the server's certificate",
            drive_name(i, d)
        );
        let subject = drive_subject(vm, i, d);
        let edit = option_edit(vm, i, d, &shown, "sslverify", "on");
        out.push(finish(
            &SSLVERIFY_OFF,
            title,
            subject,
            evidence,
            edit,
            vm,
            i,
            d,
        ));
    }
    out
}

/// The finding with its edit, and the note on a private CA for sslverify.
#[allow(clippy::too_many_arguments)]
fn finish(
    rule: &Rule,
    title: String,
    subject: String,
    evidence: Vec<String>,
    edit: Option<FixEdit>,
    vm: &VmDefinition,
    i: usize,
    d: &Drive,
) -> Finding {
    let note = if rule.id == SSLVERIFY_OFF.id {
        "If the server's certificate comes from a private CA, trust that CA on the host \
         (QEMU's curl reads the system store): `sudo cp my-ca.crt \
         /usr/local/share/ca-certificates/ && sudo update-ca-certificates`, then restart the VM."
    } else {
        ""
    };
    match edit {
        Some(edit) => rule.finding_edit(Severity::Warn, title, subject, evidence, edit, note),
        None => {
            let what = if rule.id == SSLVERIFY_OFF.id {
                "sslverify=on"
            } else {
                "a longer timeout"
            };
            let fix = format!(
                "Set {what} on drive {} in {}. {note}",
                drive_name(i, d),
                crate::describe::where_to_edit(vm)
            );
            rule.finding(Severity::Warn, title, subject, evidence, fix)
        }
    }
}

/// A curl option as an edit: libvirt's `<timeout seconds=/>` or `<ssl
/// verify=/>` in the `<source>`, or `file.OPTION=` on the command line.
fn option_edit(
    vm: &VmDefinition,
    i: usize,
    d: &Drive,
    url: &str,
    option: &str,
    value: &str,
) -> Option<FixEdit> {
    let libvirt = match option {
        "timeout" => ("timeout", format!("<timeout seconds='{value}'/>")),
        _ => ("ssl", "<ssl verify='yes'/>".to_string()),
    };
    curl_option_edit(vm, (i, d), url, libvirt, (option, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{NetProbe, ProbeKind};
    use crate::fixtures::{example, healthy, qemu_vm};
    use isotune_vmconfig::Source;

    fn http(facts: &mut Facts) -> &mut Source {
        &mut facts.vms[0].drives[0].source
    }

    #[test]
    fn a_timeout_below_the_default_warns_without_a_probe() {
        let facts = example("net.curl-timeout").unwrap();
        let f = timeout(&facts);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("curl timeout 2 s is below"),
            "{}",
            f[0].title
        );
        assert!(f[0].fix.contains("<timeout seconds='5'/>"), "{}", f[0].fix);
        assert!(timeout(&healthy()).is_empty());
    }

    #[test]
    fn a_slow_link_makes_the_default_timeout_too_short() {
        let mut facts = example("net.curl-timeout").unwrap();
        let url = "https://mirror.example.org/isos/x.iso";
        if let Source::Http {
            timeout_seconds,
            readahead_bytes,
            ..
        } = http(&mut facts)
        {
            *timeout_seconds = None;
            *readahead_bytes = Some(4 << 20);
        }
        // 1 MiB in 2 s with a 50 ms round trip: 1.95 s per MiB streaming; a 4 MiB
        // window takes 7.85 s > 5 s.
        facts.probes.push(NetProbe {
            source: url.into(),
            kind: Some(ProbeKind::Http),
            server: "mirror.example.org:443".into(),
            rtt_ns: Some(50_000_000),
            read_bytes: 1 << 20,
            read_ns: Some(2_000_000_000),
            ..NetProbe::default()
        });
        let f = timeout(&facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("takes 7.9 s"), "{}", f[0].title);
        // 7.85 s × 4, rounded up.
        assert!(f[0].fix.contains("<timeout seconds='32'/>"), "{}", f[0].fix);
        // A fast link: nothing, though the timeout is the default.
        facts.probes[0].read_ns = Some(10_000_000);
        assert!(timeout(&facts).is_empty());
        // No timeout at all (0): nothing.
        if let Source::Http {
            timeout_seconds, ..
        } = http(&mut facts)
        {
            *timeout_seconds = Some(0);
        }
        facts.probes[0].read_ns = Some(2_000_000_000);
        assert!(timeout(&facts).is_empty());
    }

    #[test]
    fn sslverify_off_on_https_warns_and_the_fix_turns_it_on() {
        let facts = example("net.curl-sslverify-off").unwrap();
        let f = sslverify_off(&facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].fix.contains("<ssl verify='yes'/>"), "{}", f[0].fix);
        assert!(f[0].fix.contains("update-ca-certificates"));
        let mut q = facts.clone();
        let mut vm = qemu_vm();
        vm.drives = q.vms[0].drives.clone();
        q.vms = vec![vm];
        let f = sslverify_off(&q);
        assert!(f[0].fix.contains("file.sslverify=on"), "{}", f[0].fix);
        // Plain HTTP has no certificate to verify.
        let mut plain = facts;
        if let Source::Http { url, .. } = http(&mut plain) {
            *url = "http://mirror.example.org/x.iso".into();
        }
        assert!(sslverify_off(&plain).is_empty());
    }

    #[test]
    fn credentials_never_reach_a_finding() {
        let mut facts = example("net.curl-sslverify-off").unwrap();
        if let Source::Http { url, .. } = http(&mut facts) {
            *url = "https://alice:s3cret@mirror.example.org/x.iso".into();
        }
        let f = sslverify_off(&facts);
        let text = format!("{f:?}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(f[0].evidence[0].contains("https://***@mirror.example.org/x.iso"));
    }
}

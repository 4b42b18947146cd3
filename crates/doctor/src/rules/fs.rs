//! The filesystem holding the ISO: network filesystems and the mount
//! options that decide how many round trips a boot costs.

use isotune_host::{FileFacts, MountFacts, NetworkFs, NetworkFsKind};

use crate::describe::{bytes, or_unset};
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::rules::Rule;

/// `rsize` below this is worth raising: Linux knfsd's maximum, and what
/// current clients negotiate by default.
const GOOD_RSIZE: u64 = 1 << 20;

/// `fs.network`.
pub(crate) const NETWORK: Rule = Rule {
    id: "fs.network",
    layer: Layer::Filesystem,
    severity: Severity::Warn,
    title: "The ISO is on a network filesystem",
    why: "Every page-cache miss becomes a network round trip, and a cdrom on IDE reads \
          2 KiB per firmware request, so latency multiplies. Small NFS `rsize` splits \
          the kernel's readahead into more requests; a single TCP connection (no \
          `nconnect`) serialises them. CIFS with `cache=none` sends every read to the \
          server. A local copy removes the network from the boot altogether.",
    reference: "nfs(5) (rsize, nconnect, actimeo); mount.cifs(8) (cache=, rsize); \
                https://www.kernel.org/doc/html/latest/filesystems/nfs/index.html",
    check: network,
};

fn network(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for file in &facts.files {
        let Some(mount) = &file.mount else { continue };
        let Some(net) = &mount.network else { continue };
        let mut f = finding(file, mount, net);
        // `--probe`'s numbers for the server under this file.
        let path = file.path.display().to_string();
        if let Some(p) = facts
            .probes
            .iter()
            .find(|p| p.kind == Some(crate::facts::ProbeKind::NetworkFs) && p.source == path)
        {
            f.evidence.extend(crate::rules::probe::probe_evidence(p));
        }
        out.push(f);
    }
    out
}

fn kind_name(kind: &NetworkFsKind) -> String {
    match kind {
        NetworkFsKind::Nfs => "NFS".into(),
        NetworkFsKind::Cifs => "SMB/CIFS".into(),
        NetworkFsKind::Fuse(Some(s)) => format!("FUSE ({s})"),
        NetworkFsKind::Fuse(None) => "FUSE".into(),
        NetworkFsKind::Other(o) => o.clone(),
    }
}

fn finding(file: &FileFacts, mount: &MountFacts, net: &NetworkFs) -> Finding {
    let path = file.path.display();
    let mp = mount.mount_point.display();
    let mut evidence = vec![
        format!(
            "filesystem: {} ({}), mounted from {} on {mp}",
            kind_name(&net.kind),
            mount.fstype,
            mount.source
        ),
        format!("server: {}", or_unset(net.server.as_deref(), "unknown")),
    ];
    let copy = format!(
        "Copy the ISO to local storage once (`cp {path} /var/lib/libvirt/images/`) and point the VM at the copy."
    );
    let (severity, problem, fix) = match net.kind {
        NetworkFsKind::Nfs => {
            evidence.push(format!(
                "vers: {}",
                or_unset(net.vers.as_deref(), "not shown")
            ));
            evidence.push(format!(
                "rsize: {}",
                net.rsize_bytes.map_or("not shown".into(), bytes)
            ));
            evidence.push(format!(
                "nconnect: {}",
                or_unset(net.nconnect, "not set (1 connection)")
            ));
            evidence.push(format!(
                "actimeo: {}",
                net.actimeo_seconds
                    .map_or("default".into(), |s| format!("{s} s"))
            ));
            let small = net.rsize_bytes.is_some_and(|r| r < GOOD_RSIZE);
            let single = net.nconnect.is_none_or(|n| n <= 1);
            let mut problems = Vec::new();
            if small {
                problems.push("rsize below 1 MiB");
            }
            if single {
                problems.push("one TCP connection");
            }
            let vers = net.vers.as_deref().unwrap_or("4.2");
            let fix = format!(
                "{copy} Or remount with larger reads and several connections (rsize cannot be \
                 changed by `-o remount`; nconnect needs Linux 5.3+; the server may cap rsize): \
                 `sudo umount {mp} && sudo mount -t nfs -o ro,vers={vers},rsize=1048576,nconnect=4 {src} {mp}`; \
                 in /etc/fstab: `{src} {mp} nfs ro,vers={vers},rsize=1048576,nconnect=4 0 0`",
                src = mount.source
            );
            let sev = if problems.is_empty() {
                Severity::Info
            } else {
                Severity::Warn
            };
            (sev, problems.join(", "), fix)
        }
        NetworkFsKind::Cifs => {
            evidence.push(format!(
                "cache: {}",
                or_unset(net.cache.as_deref(), "not shown (strict)")
            ));
            evidence.push(format!(
                "rsize: {}",
                net.rsize_bytes.map_or("not shown".into(), bytes)
            ));
            let uncached = net.cache.as_deref() == Some("none");
            let fix = format!(
                "{copy} Or mount without cache=none: the default cache=strict caches reads while \
                 the client holds a lease; cache=loose caches more but may serve stale data if \
                 the file changes on the server: `sudo umount {mp} && sudo mount -t cifs -o \
                 ro,cache=loose,... {} {mp}`",
                mount.source
            );
            if uncached {
                (
                    Severity::Warn,
                    "cache=none: every read goes to the server".to_string(),
                    fix,
                )
            } else {
                (Severity::Info, String::new(), fix)
            }
        }
        NetworkFsKind::Fuse(_) | NetworkFsKind::Other(_) => (Severity::Info, String::new(), copy),
    };
    let mut title = format!(
        "{path} is on {} from {}",
        kind_name(&net.kind),
        mount.source
    );
    if !problem.is_empty() {
        title.push_str(&format!(" with {problem}"));
    }
    NETWORK.finding(severity, title, path.to_string(), evidence, fix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{example, healthy};

    /// The network filesystem of the example's one file.
    fn network_of(facts: &mut Facts) -> &mut NetworkFs {
        let mount = facts.files[0].mount.as_mut().unwrap();
        mount.network.as_mut().unwrap()
    }

    #[test]
    fn nfs_with_small_rsize_and_one_connection_warns() {
        let f = network(&example("fs.network").unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(
            f[0].title
                .ends_with("with rsize below 1 MiB, one TCP connection"),
            "{}",
            f[0].title
        );
        assert!(f[0]
            .evidence
            .iter()
            .any(|e| e == "rsize: 128.0 KiB (131072 bytes)"));
        assert!(
            f[0].fix
                .contains("rsize=1048576,nconnect=4 nas:/export/isos /isos"),
            "{}",
            f[0].fix
        );
        assert!(network(&healthy()).is_empty());
    }

    #[test]
    fn a_probe_of_the_server_adds_its_numbers() {
        let mut facts = example("fs.network").unwrap();
        facts.probes.push(crate::facts::NetProbe {
            source: facts.files[0].path.display().to_string(),
            kind: Some(crate::facts::ProbeKind::NetworkFs),
            server: "nas:2049".into(),
            connect_ns: Some(400_000),
            rtt_ns: Some(1_500_000),
            read_bytes: 1 << 20,
            read_ns: Some(10_000_000),
            ..Default::default()
        });
        let f = network(&facts);
        let last = f[0].evidence.last().unwrap();
        assert_eq!(
            last,
            "probe of nas:2049: TCP connect 400 µs, round trip (one small read) 1.5 ms, \
             first 1.0 MiB read at 100.0 MiB/s"
        );
    }

    #[test]
    fn well_mounted_nfs_is_information() {
        let mut facts = example("fs.network").unwrap();
        let net = network_of(&mut facts);
        net.rsize_bytes = Some(1 << 20);
        net.nconnect = Some(4);
        assert_eq!(network(&facts)[0].severity, Severity::Info);
    }

    #[test]
    fn cifs_cache_none_warns() {
        let mut facts = example("fs.network").unwrap();
        let net = network_of(&mut facts);
        net.kind = NetworkFsKind::Cifs;
        net.cache = Some("none".into());
        let f = network(&facts);
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(f[0].fix.contains("cache=loose"));
    }

    #[test]
    fn fuse_is_information() {
        let mut facts = example("fs.network").unwrap();
        let net = network_of(&mut facts);
        net.kind = NetworkFsKind::Fuse(Some("sshfs".into()));
        let f = network(&facts);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].title.contains("FUSE (sshfs)"));
    }
}

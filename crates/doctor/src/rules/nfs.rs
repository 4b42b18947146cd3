//! NFS mount options beyond `rsize` and `nconnect` (which `fs.network`
//! judges): the protocol version and the attribute cache, for an ISO that
//! never changes.

use isotune_host::{FileFacts, MountFacts, NetworkFs, NetworkFsKind};

use crate::facts::{Facts, ProbeKind};
use crate::finding::{Finding, Layer, Severity};
use crate::rules::probe::probe_evidence;
use crate::rules::Rule;

/// nfs(5): `acregmin`'s default, seconds. A shorter attribute cache than
/// this is a choice someone made.
const DEFAULT_ACREGMIN: u64 = 3;
/// What the fix proposes for a read-only ISO: attributes cached ten minutes.
const PROPOSED_ACTIMEO: u64 = 600;

/// `net.nfs-vers3`.
pub(crate) const VERS3: Rule = Rule {
    id: "net.nfs-vers3",
    layer: Layer::Network,
    severity: Severity::Info,
    title: "An ISO on an NFSv3 mount",
    why: "NFSv3 has no delegations: the client revalidates the file's attributes with \
          the server (a GETATTR round trip) on every open, which NFSv4 read delegations \
          avoid, and it needs the separate mountd/lockd services. For the reads \
          themselves v3 and v4.2 move the same bytes in the same `rsize` pieces, so this \
          is worth a remount only when the server supports 4.2 anyway.",
    reference: "nfs(5) (vers=, nfsvers=; Linux NFS client, NFSv4 delegations); \
                https://www.kernel.org/doc/html/latest/filesystems/nfs/index.html",
    check: vers3,
};

/// `net.nfs-attr-cache`.
pub(crate) const ATTR_CACHE: Rule = Rule {
    id: "net.nfs-attr-cache",
    layer: Layer::Network,
    severity: Severity::Warn,
    title: "An ISO on an NFS mount with attribute caching off or short",
    why: "With `noac` (or `actimeo`/`acregmin` below the 3 s default) the NFS client asks \
          the server for the file's attributes before using its cached pages, far more \
          often than for data: each check is a round trip. nfs(5): noac \"extracts a significant \
          performance penalty\". An ISO does not change while a VM boots from it, so a \
          long attribute cache (`actimeo=600`) is safe for a read-only mount of images.",
    reference: "nfs(5) (ac/noac, actimeo=, acregmin=; DATA AND METADATA COHERENCE)",
    check: attr_cache,
};

/// Each local ISO on an NFS mount.
fn nfs_files(facts: &Facts) -> impl Iterator<Item = (&FileFacts, &MountFacts, &NetworkFs)> {
    facts.files.iter().filter_map(|f| {
        let m = f.mount.as_ref()?;
        let n = m.network.as_ref()?;
        (n.kind == NetworkFsKind::Nfs).then_some((f, m, n))
    })
}

/// The remount that sets `opts`, keeping the version unless it is the point.
fn remount(m: &MountFacts, opts: &str) -> String {
    let mp = m.mount_point.display();
    format!(
        "`sudo umount {mp} && sudo mount -t nfs -o ro,{opts} {src} {mp}` (NFS cannot change \
         these with `-o remount`); in /etc/fstab: `{src} {mp} nfs ro,{opts} 0 0`",
        src = m.source
    )
}

fn evidence(facts: &Facts, f: &FileFacts, m: &MountFacts, extra: String) -> Vec<String> {
    let mut e = vec![
        format!(
            "{} on {} from {} ({})",
            f.path.display(),
            m.mount_point.display(),
            m.source,
            m.fstype
        ),
        extra,
    ];
    if let Some(p) = facts
        .probes
        .iter()
        .find(|p| p.kind == Some(ProbeKind::NetworkFs) && p.source == f.path.display().to_string())
    {
        e.extend(probe_evidence(p));
    }
    e
}

fn vers3(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for (f, m, n) in nfs_files(facts) {
        let Some(v) = n.vers.as_deref().filter(|v| v.starts_with('3')) else {
            continue;
        };
        out.push(VERS3.finding(
            Severity::Info,
            format!(
                "{} is on NFSv{v} from {}: no read delegations, a GETATTR round trip on every open",
                f.path.display(),
                m.source
            ),
            f.path.display().to_string(),
            evidence(facts, f, m, format!("vers: {v}")),
            format!(
                "If the server supports NFS 4.2 (`rpcinfo -p SERVER` lists nfs version 4), \
                 remount with it: {}",
                remount(m, "vers=4.2")
            ),
        ));
    }
    out
}

fn attr_cache(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for (f, m, n) in nfs_files(facts) {
        let short = n.actimeo_seconds.filter(|s| *s < DEFAULT_ACREGMIN);
        let what = match (n.noac, short) {
            (true, _) => "noac".to_string(),
            (false, Some(s)) => format!("attributes cached only {s} s (acregmin/actimeo)"),
            (false, None) => continue,
        };
        let vers = n.vers.as_deref().unwrap_or("4.2");
        out.push(ATTR_CACHE.finding(
            Severity::Warn,
            format!(
                "{} is on an NFS mount with {what}: the client asks the server before using its cache",
                f.path.display()
            ),
            f.path.display().to_string(),
            evidence(
                facts,
                f,
                m,
                format!(
                    "noac: {}; actimeo/acregmin: {}",
                    if n.noac { "yes" } else { "no" },
                    n.actimeo_seconds
                        .map_or("default (3-60 s)".to_string(), |s| format!("{s} s"))
                ),
            ),
            format!(
                "Mount the images read-only with a long attribute cache: {}",
                remount(m, &format!("vers={vers},actimeo={PROPOSED_ACTIMEO}"))
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{example, healthy};

    fn nfs(facts: &mut Facts) -> &mut NetworkFs {
        facts.files[0]
            .mount
            .as_mut()
            .unwrap()
            .network
            .as_mut()
            .unwrap()
    }

    #[test]
    fn vers3_is_information_with_a_4_2_remount() {
        let f = vers3(&example("net.nfs-vers3").unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(
            f[0].fix
                .contains("sudo mount -t nfs -o ro,vers=4.2 nas:/export/isos /isos"),
            "{}",
            f[0].fix
        );
        assert!(vers3(&healthy()).is_empty());
        assert!(vers3(&example("fs.network").unwrap()).is_empty());
    }

    #[test]
    fn noac_and_short_actimeo_warn() {
        let mut facts = example("net.nfs-attr-cache").unwrap();
        let f = attr_cache(&facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("with noac"), "{}", f[0].title);
        assert!(f[0].fix.contains("ro,vers=4.2,actimeo=600"), "{}", f[0].fix);
        nfs(&mut facts).noac = false;
        nfs(&mut facts).actimeo_seconds = Some(1);
        assert!(attr_cache(&facts)[0].title.contains("cached only 1 s"));
        nfs(&mut facts).actimeo_seconds = Some(30);
        assert!(attr_cache(&facts).is_empty());
    }
}

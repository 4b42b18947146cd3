//! `/proc/self/mountinfo`: which mount holds a file, and for network
//! filesystems the server and the options that decide read speed (NFS
//! `vers`, `rsize`, `nconnect`, attribute caching; CIFS `rsize`, `cache`).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::read::Warnings;
use crate::{DevNum, MountFacts, NetworkFs, NetworkFsKind};

/// One parsed mountinfo line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountEntry {
    /// `major:minor` of the filesystem (anonymous `0:N` for btrfs,
    /// overlay, tmpfs, NFS).
    pub(crate) dev: DevNum,
    /// Mount point.
    pub(crate) mount_point: PathBuf,
    /// The rest, as reported.
    pub(crate) facts: MountFacts,
}

/// Parses mountinfo; a malformed line is a warning and is skipped.
pub(crate) fn parse_mountinfo(text: &str, abs: &Path, w: &mut Warnings) -> Vec<MountEntry> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Some(m) => out.push(m),
            None => w.add(abs, format_args!("line {}: cannot parse {line:?}", i + 1)),
        }
    }
    out
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
fn parse_line(line: &str) -> Option<MountEntry> {
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields.iter().position(|f| *f == "-")?;
    if sep < 6 || fields.len() < sep + 3 {
        return None;
    }
    let dev = parse_dev(fields[2])?;
    let mount_point = PathBuf::from(unescape(fields[4]));
    if !mount_point.is_absolute() {
        return None;
    }
    let fstype = unescape(fields[sep + 1]).to_string_lossy().into_owned();
    let source = unescape(fields[sep + 2]).to_string_lossy().into_owned();
    let super_options = fields
        .get(sep + 3)
        .map(|s| split_opts(s))
        .unwrap_or_default();
    let network = network_fs(&fstype, &source, &super_options);
    Some(MountEntry {
        dev,
        mount_point: mount_point.clone(),
        facts: MountFacts {
            mount_point,
            fstype,
            source,
            mount_options: split_opts(fields[5]),
            super_options,
            network,
        },
    })
}

/// `259:2` -> a [`DevNum`].
pub(crate) fn parse_dev(s: &str) -> Option<DevNum> {
    let (major, minor) = s.trim().split_once(':')?;
    Some(DevNum {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
    })
}

fn split_opts(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|o| !o.is_empty())
        .map(|o| unescape(o).to_string_lossy().into_owned())
        .collect()
}

/// Undoes the kernel's octal escapes (`\040` space, `\011` tab, `\012`
/// newline, `\134` backslash).
fn unescape(s: &str) -> OsString {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    OsString::from_vec(out)
}

/// The mount holding `path`: among mounts of device `dev`, the one whose
/// mount point is the longest prefix of `path`; when no mount has that
/// device number (btrfs subvolumes and overlay report an anonymous device
/// that mountinfo may not show), the longest prefix of any device. On a
/// tie the later line wins (it is mounted on top).
pub(crate) fn choose<'a>(
    mounts: &'a [MountEntry],
    path: &Path,
    dev: DevNum,
) -> Option<&'a MountEntry> {
    let longest = |by_dev: bool| {
        let mut best: Option<&MountEntry> = None;
        for m in mounts {
            if (by_dev && m.dev != dev) || !path.starts_with(&m.mount_point) {
                continue;
            }
            let depth = m.mount_point.components().count();
            if best.is_none_or(|b| depth >= b.mount_point.components().count()) {
                best = Some(m);
            }
        }
        best
    };
    longest(true).or_else(|| longest(false))
}

/// Network details for network filesystem types; `None` for local ones.
pub(crate) fn network_fs(fstype: &str, source: &str, opts: &[String]) -> Option<NetworkFs> {
    let opt = |key: &str| {
        opts.iter()
            .find_map(|o| o.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .map(str::to_string)
    };
    let num = |key: &str| opt(key).and_then(|v| v.parse::<u64>().ok());
    let mut fs = NetworkFs {
        kind: NetworkFsKind::Other(fstype.to_string()),
        server: None,
        vers: None,
        rsize_bytes: None,
        nconnect: None,
        actimeo_seconds: None,
        wsize_bytes: None,
        noac: false,
        cache: None,
    };
    match fstype {
        "nfs" | "nfs4" => {
            fs.kind = NetworkFsKind::Nfs;
            fs.server = host_of_colon_source(source).or_else(|| opt("addr"));
            fs.vers = opt("vers").or_else(|| opt("nfsvers"));
            fs.rsize_bytes = num("rsize");
            fs.nconnect = num("nconnect").and_then(|n| u32::try_from(n).ok());
            fs.actimeo_seconds = num("actimeo").or_else(|| num("acregmin"));
            fs.wsize_bytes = num("wsize");
            fs.noac = opts.iter().any(|o| o == "noac");
        }
        "cifs" | "smb3" | "smb2" => {
            fs.kind = NetworkFsKind::Cifs;
            fs.server = source
                .strip_prefix("//")
                .and_then(|s| s.split('/').next())
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            fs.rsize_bytes = num("rsize");
            fs.cache = opt("cache");
        }
        // fuseblk is a local block device (ntfs-3g, exfat-fuse).
        "fuseblk" => return None,
        "fuse" | "fuse3" => {
            fs.kind = NetworkFsKind::Fuse(opt("subtype"));
        }
        t if t.starts_with("fuse.") => {
            let sub = &t["fuse.".len()..];
            fs.kind = NetworkFsKind::Fuse(Some(sub.to_string()));
            if sub == "sshfs" {
                let s = source.rsplit_once('@').map_or(source, |(_, h)| h);
                fs.server = host_of_colon_source(s);
            } else if sub == "glusterfs" {
                fs.server = host_of_colon_source(source);
            }
        }
        "glusterfs" => fs.server = host_of_colon_source(source),
        "ceph" | "9p" | "virtiofs" | "afs" | "ocfs2" | "gfs2" => {}
        _ => return None,
    }
    Some(fs)
}

/// `host:/export` -> `host`; `[::1]:/x` -> `::1`.
fn host_of_colon_source(source: &str) -> Option<String> {
    let host = if let Some(rest) = source.strip_prefix('[') {
        rest.split_once("]:")?.0
    } else {
        source.split_once(':')?.0
    };
    (!host.is_empty() && !host.contains('/')).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> MountEntry {
        parse_line(line).unwrap_or_else(|| panic!("cannot parse {line}"))
    }

    #[test]
    fn optional_fields_and_escapes() {
        let m = one(
            r"36 35 98:0 / /mnt/my\040isos rw,noatime master:1 shared:7 - ext4 /dev/sdb1 rw,errors=remount-ro",
        );
        assert_eq!(
            m.dev,
            DevNum {
                major: 98,
                minor: 0
            }
        );
        assert_eq!(m.mount_point, Path::new("/mnt/my isos"));
        assert_eq!(m.facts.mount_options, ["rw", "noatime"]);
        assert_eq!(m.facts.fstype, "ext4");
        assert_eq!(m.facts.super_options, ["rw", "errors=remount-ro"]);
        assert_eq!(m.facts.network, None);
        assert_eq!(unescape(r"a\134b\0"), "a\\b\\0");
    }

    #[test]
    fn malformed_lines_are_warnings() {
        let text = "27 1 254:0 / / rw - ext4 /dev/vda rw\n28 27 0:25 /x\nbroken - line\n29 27 zz / /a rw - tmpfs t rw\n";
        let mut w = Warnings::default();
        let m = parse_mountinfo(text, Path::new("/proc/self/mountinfo"), &mut w);
        assert_eq!(m.len(), 1);
        assert_eq!(w.0.len(), 3, "{:?}", w.0);
        assert!(w.0[0].starts_with("/proc/self/mountinfo: line 2: cannot parse"));
    }

    #[test]
    fn choose_by_device_then_prefix() {
        let mounts = vec![
            one("1 0 254:0 / / rw - ext4 /dev/vda rw"),
            one("2 1 0:40 / /srv rw - btrfs /dev/sdb rw,subvol=/srv"),
            one("3 2 0:52 / /srv/isos rw - nfs4 fs:/isos rw,vers=4.2"),
            one("4 1 254:0 /data /srv/bind rw - ext4 /dev/vda rw"),
        ];
        let c = |p: &str, maj, min| {
            choose(
                &mounts,
                Path::new(p),
                DevNum {
                    major: maj,
                    minor: min,
                },
            )
            .map(|m| m.mount_point.clone())
        };
        assert_eq!(c("/srv/isos/a.iso", 0, 52).unwrap(), Path::new("/srv/isos"));
        // btrfs: statx says 0:41, mountinfo says 0:40 -> longest prefix.
        assert_eq!(c("/srv/a.iso", 0, 41).unwrap(), Path::new("/srv"));
        assert_eq!(
            c("/srv/bind/a.iso", 254, 0).unwrap(),
            Path::new("/srv/bind")
        );
        // A path under /srv/isos whose device says it is really on / (the
        // NFS mount was made after the file was opened): device wins.
        assert_eq!(c("/srv/isos/a.iso", 254, 0).unwrap(), Path::new("/"));
    }

    #[test]
    fn network_filesystems() {
        let nfs = one("3 2 0:52 / /isos rw,relatime - nfs4 fileserver:/export/isos rw,vers=4.2,rsize=65536,wsize=65536,acregmin=3,nconnect=4,addr=10.0.0.5").facts.network.unwrap();
        assert_eq!(nfs.kind, NetworkFsKind::Nfs);
        assert_eq!(nfs.server.as_deref(), Some("fileserver"));
        assert_eq!(nfs.vers.as_deref(), Some("4.2"));
        assert_eq!(
            (nfs.rsize_bytes, nfs.nconnect, nfs.actimeo_seconds),
            (Some(65536), Some(4), Some(3))
        );
        // NFSv3 with noac, in the order fs/nfs/super.c (nfs_show_mount_options)
        // prints options; written by hand (no NFS server runs here).
        let v3 = one("5 2 0:60 / /old ro,relatime - nfs nas3:/isos ro,vers=3,rsize=32768,wsize=32768,namlen=255,acregmin=0,acregmax=0,acdirmin=0,acdirmax=0,hard,noac,proto=tcp,timeo=600,retrans=2,sec=sys,mountaddr=10.0.0.6,mountvers=3,mountport=20048,mountproto=udp,local_lock=none,addr=10.0.0.6").facts.network.unwrap();
        assert_eq!(
            (
                v3.vers.as_deref(),
                v3.noac,
                v3.actimeo_seconds,
                v3.wsize_bytes
            ),
            (Some("3"), true, Some(0), Some(32768))
        );
        assert!(!nfs.noac);
        let v6 = network_fs("nfs", "[fd00::1]:/x", &[]).unwrap();
        assert_eq!(v6.server.as_deref(), Some("fd00::1"));
        let cifs = network_fs(
            "cifs",
            "//nas/isos",
            &["cache=loose".into(), "rsize=4194304".into()],
        )
        .unwrap();
        assert_eq!(
            (
                cifs.kind,
                cifs.server.as_deref(),
                cifs.cache.as_deref(),
                cifs.rsize_bytes
            ),
            (
                NetworkFsKind::Cifs,
                Some("nas"),
                Some("loose"),
                Some(4194304)
            )
        );
        let ssh = network_fs("fuse.sshfs", "alice@build.example:/isos", &[]).unwrap();
        assert_eq!(ssh.kind, NetworkFsKind::Fuse(Some("sshfs".into())));
        assert_eq!(ssh.server.as_deref(), Some("build.example"));
        let fuse = network_fs("fuse", "s3fs", &["subtype=s3fs".into()]).unwrap();
        assert_eq!(fuse.kind, NetworkFsKind::Fuse(Some("s3fs".into())));
        assert_eq!(
            network_fs("virtiofs", "share", &[]).unwrap().kind,
            NetworkFsKind::Other("virtiofs".into())
        );
        assert_eq!(network_fs("ext4", "/dev/sda1", &[]), None);
        assert_eq!(network_fs("fuseblk", "/dev/sdb1", &[]), None);
    }
}

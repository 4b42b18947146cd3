//! `/etc/pve/storage.cfg`: the storages a volume id (`local:iso/x.iso`)
//! names, and the resolution of a volume id to a [`Source`].
//!
//! The format (pve-docs, "Storage", section "Storage Configuration",
//! <https://pve.proxmox.com/pve-docs/chapter-pvesm.html>): a section starts
//! with `TYPE: ID` at the start of a line; its properties follow, one per
//! line, indented, as `key value`; a blank line ends it. Only the types that
//! hold files at a host path are resolved: `dir` (its `path`), `nfs` and
//! `cifs` (their `path`, by default `/mnt/pve/ID`), and the other file
//! systems mounted the same way (`cephfs`, `glusterfs` is not: it is a
//! network protocol). ISO images live in `PATH/template/iso/`, VM images in
//! `PATH/images/VMID/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::Source;

/// One storage of `storage.cfg`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    /// The storage type (`dir`, `nfs`, `cifs`, `lvmthin`, `zfspool`, `rbd`, ...).
    pub kind: String,
    /// The host directory its files are under, for file-based storages.
    pub path: Option<PathBuf>,
}

/// The storages of a `storage.cfg`, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageConfig {
    /// Storage id -> storage.
    pub storages: BTreeMap<String, Storage>,
}

impl StorageConfig {
    /// What a fresh Proxmox VE install defines: `dir: local` at
    /// `/var/lib/vz`. Used when no `storage.cfg` can be read.
    pub fn pve_default() -> StorageConfig {
        let mut storages = BTreeMap::new();
        storages.insert(
            "local".to_string(),
            Storage {
                kind: "dir".to_string(),
                path: Some(PathBuf::from("/var/lib/vz")),
            },
        );
        StorageConfig { storages }
    }

    /// Parses `storage.cfg` text. Lines that fit no section are ignored:
    /// the file is Proxmox's own and only its paths matter here.
    pub fn parse(text: &str) -> StorageConfig {
        let mut storages = BTreeMap::new();
        let mut current: Option<(String, Storage)> = None;
        for line in text.lines() {
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let indented = line.starts_with([' ', '\t']);
            if !indented {
                if let Some((id, s)) = current.take() {
                    let s = finish(s, &id);
                    storages.insert(id, s);
                }
                if let Some((kind, id)) = line.split_once(':') {
                    let (kind, id) = (kind.trim(), id.trim());
                    if !kind.is_empty() && !id.is_empty() && !kind.contains(' ') {
                        current = Some((
                            id.to_string(),
                            Storage {
                                kind: kind.to_string(),
                                path: None,
                            },
                        ));
                    }
                }
                continue;
            }
            if let Some((_, s)) = current.as_mut() {
                let mut kv = line.trim().splitn(2, char::is_whitespace);
                if let (Some("path"), Some(v)) = (kv.next(), kv.next()) {
                    s.path = Some(PathBuf::from(v.trim()));
                }
            }
        }
        if let Some((id, s)) = current.take() {
            let s = finish(s, &id);
            storages.insert(id, s);
        }
        StorageConfig { storages }
    }

    /// Resolves a drive's volume as written in a VM config: `none` (empty
    /// tray), `cdrom` (the host's drive), an absolute path, or a volume id
    /// `STORAGE:VOLUME`. `Err` says why a volume id cannot be resolved; the
    /// source then keeps the volume id as written.
    pub fn resolve(&self, volume: &str) -> Result<Source, (Source, String)> {
        match volume {
            "none" => return Ok(Source::Empty),
            "cdrom" => {
                return Ok(Source::Block {
                    path: PathBuf::from("/dev/cdrom"),
                })
            }
            _ => {}
        }
        if volume.starts_with('/') {
            let path = PathBuf::from(volume);
            return Ok(if volume.starts_with("/dev/") {
                Source::Block { path }
            } else {
                Source::File { path }
            });
        }
        let unresolved = |protocol: &str| Source::Network {
            protocol: protocol.to_string(),
            url: volume.to_string(),
        };
        let Some((id, rest)) = volume.split_once(':') else {
            return Err((
                unresolved("pve-volume"),
                format!("`{volume}` is neither a path nor a STORAGE:VOLUME id"),
            ));
        };
        let Some(storage) = self.storages.get(id) else {
            return Err((
                unresolved("pve-volume"),
                format!("storage `{id}` is not defined in storage.cfg"),
            ));
        };
        let Some(base) = &storage.path else {
            // lvm, zfs, rbd, iscsi...: a block device or a network volume
            // whose host path only Proxmox's storage plugin knows.
            return Ok(unresolved(&storage.kind));
        };
        let path = if let Some(name) = rest.strip_prefix("iso/") {
            base.join("template/iso").join(name)
        } else if let Some((vmid, file)) = rest.split_once('/') {
            base.join("images").join(vmid).join(file)
        } else {
            return Err((
                unresolved(&storage.kind),
                format!("volume `{rest}` of storage `{id}` has no VMID/ or iso/ part"),
            ));
        };
        Ok(Source::File { path })
    }
}

/// nfs and cifs storages are mounted at `/mnt/pve/ID` unless `path` says.
fn finish(mut s: Storage, id: &str) -> Storage {
    if s.path.is_none() && matches!(s.kind.as_str(), "nfs" | "cifs" | "cephfs") {
        s.path = Some(PathBuf::from("/mnt/pve").join(id));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "\
# written by hand
dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup

lvmthin: local-lvm
\tthinpool data
\tvgname pve
\tcontent rootdir,images

nfs: iso-templates
\tpath /mnt/pve/iso-templates
\tserver 10.0.0.10
\texport /space/iso-templates
\tcontent iso

cifs: ISO
\tserver 10.0.1.21
\tshare D
\tcontent images,iso
garbage without colon
";

    #[test]
    fn parses_dir_nfs_cifs_and_others() {
        let c = StorageConfig::parse(CFG);
        assert_eq!(c.storages.len(), 4);
        assert_eq!(
            c.storages["local"].path.as_deref(),
            Some("/var/lib/vz".as_ref())
        );
        assert_eq!(c.storages["local-lvm"].kind, "lvmthin");
        assert_eq!(c.storages["local-lvm"].path, None);
        // cifs without a path: the default mount point.
        assert_eq!(
            c.storages["ISO"].path.as_deref(),
            Some("/mnt/pve/ISO".as_ref())
        );
    }

    #[test]
    fn resolves_volume_ids() {
        let c = StorageConfig::parse(CFG);
        let file = |p: &str| Source::File { path: p.into() };
        assert_eq!(
            c.resolve("local:iso/debian-12.iso").unwrap(),
            file("/var/lib/vz/template/iso/debian-12.iso")
        );
        assert_eq!(
            c.resolve("iso-templates:iso/alma.iso").unwrap(),
            file("/mnt/pve/iso-templates/template/iso/alma.iso")
        );
        assert_eq!(
            c.resolve("local:100/vm-100-disk-0.qcow2").unwrap(),
            file("/var/lib/vz/images/100/vm-100-disk-0.qcow2")
        );
        assert_eq!(c.resolve("/srv/x.iso").unwrap(), file("/srv/x.iso"));
        assert_eq!(c.resolve("none").unwrap(), Source::Empty);
        assert!(matches!(
            c.resolve("/dev/sr0").unwrap(),
            Source::Block { .. }
        ));
        assert!(matches!(
            c.resolve("local-lvm:vm-100-disk-0").unwrap(),
            Source::Network { ref protocol, .. } if protocol == "lvmthin"
        ));
        let (src, why) = c.resolve("gone:iso/x.iso").unwrap_err();
        assert!(why.contains("storage `gone` is not defined"), "{why}");
        assert!(matches!(src, Source::Network { ref url, .. } if url == "gone:iso/x.iso"));
        assert!(c.resolve("no-colon").is_err());
    }
}

//! Applies [`QmEdit`]s to a Proxmox VM config (`/etc/pve/qemu-server/VMID.conf`)
//! as `qm set` would: a set replaces the key's line in the main section (or
//! appends one), a delete removes it. Snapshot sections (`[name]`) and
//! comments stay as they were.

use super::QmEdit;

/// Applies `edits` in order to the config text `conf`.
pub fn apply_to_qm_conf(conf: &str, edits: &[QmEdit]) -> String {
    // The main section ends at the first `[snapshot]` header.
    let mut main: Vec<String> = Vec::new();
    let mut rest: Vec<&str> = Vec::new();
    for line in conf.lines() {
        if !rest.is_empty() || line.trim_start().starts_with('[') {
            rest.push(line);
        } else {
            main.push(line.to_string());
        }
    }
    let key_of = |line: &str| -> Option<String> {
        let t = line.trim();
        if t.starts_with('#') {
            return None;
        }
        t.split_once(':').map(|(k, _)| k.trim().to_string())
    };
    for edit in edits {
        match edit {
            QmEdit::Set { key, value } => {
                let line = format!("{key}: {value}");
                match main.iter().position(|l| key_of(l).as_deref() == Some(key)) {
                    Some(i) => main[i] = line,
                    None => {
                        // Before the trailing blank lines that separate sections.
                        let end = main
                            .iter()
                            .rposition(|l| !l.trim().is_empty())
                            .map_or(0, |i| i + 1);
                        main.insert(end, line);
                    }
                }
            }
            QmEdit::Delete { key } => main.retain(|l| key_of(l).as_deref() != Some(key)),
        }
    }
    let mut out = main.join("\n");
    for line in rest {
        out.push('\n');
        out.push_str(line);
    }
    if conf.ends_with('\n') || !out.is_empty() {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_replaces_and_deletes_in_the_main_section_only() {
        let conf = "# a comment\nname: web\nide2: local:iso/x.iso,media=cdrom\nmemory: 2048\n\n\
                    [snap1]\nide2: local:iso/old.iso,media=cdrom\n";
        let edits = [
            QmEdit::Set {
                key: "scsihw".into(),
                value: "virtio-scsi-single".into(),
            },
            QmEdit::Set {
                key: "memory".into(),
                value: "4096".into(),
            },
            QmEdit::Delete { key: "ide2".into() },
        ];
        let out = apply_to_qm_conf(conf, &edits);
        assert_eq!(
            out,
            "# a comment\nname: web\nmemory: 4096\nscsihw: virtio-scsi-single\n\n\
             [snap1]\nide2: local:iso/old.iso,media=cdrom\n"
        );
    }
}

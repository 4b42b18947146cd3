//! Which libvirt domain a running QEMU process belongs to, so that a scan
//! of `/proc` and a libvirt scan report the process once, as the domain.
//! libvirt starts QEMU with `-name guest=NAME,...`, `-uuid UUID` and a
//! monitor socket under `.../qemu/domain-ID-NAME/monitor.sock` (the name
//! shortened to 20 characters there); any of them identifies the domain.

use std::path::Path;

use crate::scan::Domain;

/// The index in `domains` of the domain QEMU `argv` belongs to: by UUID,
/// then by name, then by the monitor socket's directory.
pub fn match_process(domains: &[Domain], argv: &[String]) -> Option<usize> {
    let value = |opt: &str| {
        argv.windows(2)
            .filter(|w| w[0] == opt || w[0] == format!("-{opt}"))
            .map(|w| w[1].as_str())
            .collect::<Vec<_>>()
    };
    for uuid in value("-uuid") {
        if let Some(i) = domains.iter().position(|d| {
            d.uuid
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(uuid))
        }) {
            return Some(i);
        }
    }
    for name in value("-name") {
        let guest = guest_name(name);
        if let Some(i) = domains.iter().position(|d| d.name == guest) {
            return Some(i);
        }
    }
    for chardev in value("-chardev") {
        let Some(short) = monitor_dir_name(chardev) else {
            continue;
        };
        let hits: Vec<usize> = domains
            .iter()
            .enumerate()
            .filter(|(_, d)| shortened(&d.name) == short)
            .map(|(i, _)| i)
            .collect();
        if let [one] = hits[..] {
            return Some(one);
        }
    }
    None
}

/// [`match_process`] for process `pid`, reading `proc_root/PID/cmdline`
/// (`proc_root` is `/proc`, or a captured tree in tests). `None` when the
/// process is gone, unreadable, or no domain matches.
pub fn match_process_pid(domains: &[Domain], proc_root: &Path, pid: u32) -> Option<usize> {
    let path = proc_root.join(pid.to_string()).join("cmdline");
    let bytes = isotune_input::read_capped(
        &path,
        isotune_input::caps::PROC_FILE_BYTES,
        "a process command line",
    )
    .ok()?;
    let argv: Vec<String> = bytes
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    match_process(domains, &argv)
}

/// `guest=NAME,debug-threads=on` or `NAME,process=...` -> `NAME`
/// (QemuOpts: `,,` is a literal comma).
fn guest_name(v: &str) -> String {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                cur.push(',');
            } else {
                parts.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    let first = &parts[0];
    parts
        .iter()
        .find_map(|p| p.strip_prefix("guest="))
        .unwrap_or(first)
        .to_string()
}

/// `socket,id=charmonitor,path=/var/lib/libvirt/qemu/domain-3-web1/monitor.sock,...`
/// -> `web1` (as shortened by libvirt).
fn monitor_dir_name(chardev: &str) -> Option<String> {
    if !chardev.contains("id=charmonitor") {
        return None;
    }
    let path = chardev.split(',').find_map(|p| p.strip_prefix("path="))?;
    let dir = Path::new(path).parent()?.file_name()?.to_str()?;
    let rest = dir.strip_prefix("domain-")?;
    let (id, name) = rest.split_once('-')?;
    id.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| name.to_string())
}

/// libvirt's `virDomainDefGetShortName`: the first 20 characters.
fn shortened(name: &str) -> String {
    name.chars().take(20).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::DomainState;

    fn dom(name: &str, uuid: &str) -> Domain {
        Domain {
            name: name.into(),
            uuid: Some(uuid.into()),
            state: DomainState::Running,
            persistent: true,
            live: None,
            inactive: None,
            cdroms: Vec::new(),
            pending_cdrom_changes: Vec::new(),
        }
    }

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn matches_by_uuid_name_or_monitor() {
        let doms = [
            dom("web1", "2fe7ed89-bafa-4c28-b209-38288aeb803d"),
            dom(
                "a-very-long-domain-name-indeed",
                "94309b84-54d9-404c-a15a-5a5b4459fc3a",
            ),
            dom("comma,name", "11111111-2222-3333-4444-555555555555"),
        ];
        let m = |s: &str| match_process(&doms, &argv(s));
        assert_eq!(
            m("qemu -uuid 94309B84-54D9-404C-A15A-5A5B4459FC3A -name guest=web1"),
            Some(1)
        );
        assert_eq!(m("qemu -name guest=web1,debug-threads=on"), Some(0));
        assert_eq!(m("qemu -name web1"), Some(0));
        assert_eq!(m("qemu -name guest=comma,,name,debug-threads=on"), Some(2));
        assert_eq!(
            m("qemu -chardev socket,id=charmonitor,path=/var/lib/libvirt/qemu/domain-7-a-very-long-domain-n/monitor.sock,server=on,wait=off"),
            Some(1)
        );
        assert_eq!(
            m("qemu -name guest=other -uuid 00000000-0000-0000-0000-000000000000"),
            None
        );
        assert_eq!(
            m("qemu -chardev socket,id=charserial0,path=/x/domain-1-web1/s.sock"),
            None
        );
        assert_eq!(m("qemu"), None);
    }

    #[test]
    fn matches_a_pid_through_a_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("42")).unwrap();
        std::fs::write(
            dir.path().join("42/cmdline"),
            b"/usr/bin/qemu-system-x86_64\0-name\0guest=web1,debug-threads=on\0-S\0",
        )
        .unwrap();
        let doms = [dom("web1", "2fe7ed89-bafa-4c28-b209-38288aeb803d")];
        assert_eq!(match_process_pid(&doms, dir.path(), 42), Some(0));
        assert_eq!(match_process_pid(&doms, dir.path(), 43), None);
    }
}

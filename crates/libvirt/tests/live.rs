//! The libvirt source against a real libvirtd (`qemu:///system`, started by
//! the test harness when none runs) with real TCG domains booting a real
//! ISO: drive names, buses, media, state, read counters, pending cdrom
//! changes, process matching, and that nothing is left behind.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use isotune_libvirt::{scan, DomainState, LibvirtScan, ScanOptions};
use isotune_testutil::libvirtd::{
    cdrom_disk, domains_with_prefix, hlt_iso, log_files_with_prefix, qemu_processes_with_prefix,
    tcg_domain_xml, unique_prefix, Libvirtd, TestDomain, URI,
};
use isotune_testutil::{run, tool};
use isotune_vmconfig::{Bus, Source};

/// A TCG domain booting from one cdrom, after `controllers`.
fn domain_xml(name: &str, machine: &str, cdrom: &str, controllers: &str, extra: &str) -> String {
    tcg_domain_xml(name, machine, &format!("{controllers}{cdrom}"), extra)
}

fn ours<'a>(s: &'a LibvirtScan, name: &str) -> &'a isotune_libvirt::Domain {
    s.domains
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("{name} not in the scan: {s:#?}"))
}

#[test]
fn reads_running_and_defined_domains_with_counters() {
    let Some(_daemon) = Libvirtd::acquire() else {
        return;
    };
    let Some(qemu_img) = tool("qemu-img") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = hlt_iso(dir.path(), "boot", 1, 256 << 10) else {
        return;
    };
    let other = hlt_iso(dir.path(), "other", 2, 256 << 10).unwrap();
    // The myth "use qcow2 for ISOs": the same image converted and declared qcow2.
    let qcow = dir.path().join("boot.qcow2");
    run(Command::new(qemu_img)
        .args(["convert", "-O", "qcow2"])
        .arg(&iso)
        .arg(&qcow));
    let p = unique_prefix();
    let (ide, sata, scsi, off) = (
        format!("{p}ide"),
        format!("{p}sata"),
        format!("{p}scsi"),
        format!("{p}off"),
    );
    let virtio_scsi = "<controller type='scsi' index='0' model='virtio-scsi'/>";
    // libvirt keeps foreign-namespace metadata: elements the parser does not know.
    let metadata = "<metadata><x:note xmlns:x='https://example.invalid/isotune-test'>\
                    <x:unknown-element depth='1'><x:deeper/></x:unknown-element></x:note></metadata>";
    let doms = [
        TestDomain::define(
            &ide,
            &domain_xml(&ide, "pc", &cdrom_disk(&iso, "raw", "hdc", "ide"), "", ""),
            dir.path(),
        ),
        TestDomain::define(
            &sata,
            &domain_xml(
                &sata,
                "q35",
                &cdrom_disk(&qcow, "qcow2", "sda", "sata"),
                "",
                "",
            ),
            dir.path(),
        ),
        TestDomain::define(
            &scsi,
            &domain_xml(
                &scsi,
                "q35",
                &cdrom_disk(&iso, "raw", "sda", "scsi"),
                virtio_scsi,
                "",
            ),
            dir.path(),
        ),
        TestDomain::define(
            &off,
            &domain_xml(
                &off,
                "pc",
                &cdrom_disk(&iso, "raw", "hdc", "ide"),
                "",
                metadata,
            ),
            dir.path(),
        ),
    ];
    for d in &doms[..3] {
        d.start();
    }
    // A media change for the next boot only (what `virsh edit` also does).
    let out = Command::new("virsh")
        .args(["-q", "-c", URI, "change-media", &ide, "hdc"])
        .arg(&other)
        .args(["--config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Wait until SeaBIOS has read every running cdrom.
    let deadline = Instant::now() + Duration::from_secs(60);
    let s = loop {
        let s = scan(URI, &ScanOptions::default());
        let read = |n: &str| {
            s.domains.iter().any(|d| {
                d.name == n
                    && d.cdroms
                        .iter()
                        .any(|c| c.stats.and_then(|st| st.rd_bytes).unwrap_or(0) > 0)
            })
        };
        if [&ide, &sata, &scsi].iter().all(|n| read(n)) || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);

    for (name, target, bus) in [
        (&ide, "hdc", Bus::Ide),
        (&sata, "sda", Bus::Sata),
        (&scsi, "sda", Bus::Scsi),
    ] {
        let d = ours(&s, name);
        assert_eq!(d.state, DomainState::Running, "{name}");
        assert!(d.persistent);
        let live = d.live.as_ref().expect("live XML of a running domain");
        assert!(d.inactive.is_some());
        let drive = &live.drives[0];
        assert_eq!(drive.id.as_deref(), Some(target), "{name}");
        assert_eq!(drive.bus, bus, "{name}");
        assert_eq!(d.cdroms.len(), 1);
        let c = &d.cdroms[0];
        assert_eq!(c.target, target);
        let st = c
            .stats
            .unwrap_or_else(|| panic!("{name}: {:?}", c.stats_error));
        assert!(st.rd_bytes.unwrap() >= 2048, "{name}: {st:?}");
        assert!(st.rd_req.unwrap() > 0, "{name}: {st:?}");
        assert!(st.rd_total_times_ns.is_some(), "{name}: {st:?}");
    }
    let d = ours(&s, &sata);
    assert_eq!(d.cdroms[0].media, Source::File { path: qcow.clone() });
    assert_eq!(
        d.live.as_ref().unwrap().drives[0].format.as_deref(),
        Some("qcow2")
    );
    let d = ours(&s, &scsi);
    assert!(d
        .live
        .as_ref()
        .unwrap()
        .controllers
        .iter()
        .any(|c| c.kind == "virtio-scsi"));

    // The pending change: live media now, the other ISO at the next boot.
    let d = ours(&s, &ide);
    assert_eq!(
        d.pending_cdrom_changes.len(),
        1,
        "{:?}",
        d.pending_cdrom_changes
    );
    let change = &d.pending_cdrom_changes[0];
    assert_eq!(change.target, "hdc");
    assert_eq!(change.live, Some(Source::File { path: iso.clone() }));
    assert_eq!(
        change.next_boot,
        Some(Source::File {
            path: other.clone()
        })
    );
    assert!(ours(&s, &sata).pending_cdrom_changes.is_empty());

    // The defined-but-off domain (with unknown metadata elements).
    let d = ours(&s, &off);
    assert_eq!(d.state, DomainState::Shutoff);
    assert!(d.live.is_none());
    assert_eq!(
        d.inactive.as_ref().unwrap().drives[0].id.as_deref(),
        Some("hdc")
    );
    assert_eq!(d.cdroms[0].media, Source::File { path: iso.clone() });
    assert_eq!(d.cdroms[0].stats, None);

    // Each running QEMU process is matched to its own domain.
    for name in [&ide, &sata, &scsi] {
        let pids = qemu_processes_with_prefix(name);
        assert_eq!(pids.len(), 1, "{name}: {pids:?}");
        let i = isotune_libvirt::match_process_pid(&s.domains, Path::new("/proc"), pids[0]);
        assert_eq!(i.map(|i| &s.domains[i].name), Some(name));
    }

    drop(doms);
    assert!(
        domains_with_prefix(&p).is_empty(),
        "{:?}",
        domains_with_prefix(&p)
    );
    let left = qemu_processes_with_prefix(&p);
    assert!(left.is_empty(), "QEMU left running: {left:?}");
    let logs = log_files_with_prefix(&p);
    assert!(logs.is_empty(), "logs left: {logs:?}");
}

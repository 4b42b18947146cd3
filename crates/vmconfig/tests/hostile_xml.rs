//! Regressions from the hostile-input issue: domain XML that used to crash
//! or hang `doctor` and `check` is refused with the file and the reason, also
//! when it is one file of a `--xml DIR`.

use std::process::Command;

use isotune_vmconfig::{load_xml, ErrorKind};

const GOOD: &str = "<domain type='kvm'><name>ok</name><devices>\
    <disk type='file' device='cdrom'><source file='/isos/a.iso'/>\
    <target dev='sda' bus='scsi'/></disk></devices></domain>";

/// 14,000 nested elements in 98 KB overflowed the parser's stack (exit 134).
#[test]
fn deeply_nested_file_in_a_directory_is_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let depth = 14_000;
    let deep = format!(
        "<domain>{}{}</domain>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    std::fs::write(dir.path().join("a-deep.xml"), deep).unwrap();
    std::fs::write(dir.path().join("b-good.xml"), GOOD).unwrap();
    let loaded = load_xml(dir.path()).unwrap();
    assert_eq!(loaded.len(), 2);
    let e = loaded[0].1.as_ref().unwrap_err();
    assert!(matches!(e.kind, ErrorKind::TooDeep { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("a-deep.xml") && msg.contains("deeper than"),
        "{msg}"
    );
    assert_eq!(loaded[1].1.as_ref().unwrap().name.as_deref(), Some("ok"));
}

/// One 4 MB attribute took 2.3 s; values over the cap are refused.
#[test]
fn huge_attribute_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.xml");
    let big = format!(
        "<domain type='kvm'>\n<name>x</name>\n<devices><disk type='file' device='cdrom'>\
         <source file='/{}.iso'/></disk></devices></domain>",
        "a".repeat(4 << 20)
    );
    std::fs::write(&p, big).unwrap();
    let e = load_xml(&p).unwrap().remove(0).1.unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::ValueTooLong { line: 3, .. }),
        "{e}"
    );
}

/// A FIFO given as the XML file is refused without blocking on it.
#[test]
fn fifo_is_refused_without_blocking() {
    let Some(mkfifo) = isotune_testutil::tool("mkfifo") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pipe.xml");
    isotune_testutil::run(Command::new(mkfifo).arg(&p));
    let e = load_xml(&p).unwrap().remove(0).1.unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Refused { .. }), "{e}");
    assert!(e.to_string().contains("pipe.xml"), "{e}");
}

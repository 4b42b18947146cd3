//! The ISO9660 writer checked by the real tools: images written to a
//! temporary directory are listed and extracted with `isoinfo` (genisoimage)
//! and loaded with `xorriso`, whose complaints on stderr fail the test.

use isotune_testutil as common;

use std::path::{Path, PathBuf};
use std::process::Command;

use isotune_iso::writer::{
    BootImage, FileSource, IsoWriter, Pattern, Platform, Timestamp, WriteSummary,
};
use isotune_iso::ErrorKind;

/// One entry of an `isoinfo -l` listing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    dir: String,
    name: String,
    size: u64,
    lba: u64,
    is_dir: bool,
}

fn isoinfo(args: &[&str], image: &Path) -> Option<String> {
    let tool = common::tool("isoinfo")?;
    let mut cmd = Command::new(tool);
    cmd.env("LC_ALL", "C").args(args).arg("-i").arg(image);
    Some(common::run(&mut cmd))
}

fn isoinfo_bytes(args: &[&str], image: &Path) -> Vec<u8> {
    let tool = common::tool("isoinfo").expect("checked by the caller");
    let out = Command::new(tool)
        .args(args)
        .arg("-i")
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Parses `isoinfo -l` output, skipping `.` and `..`.
fn listing(text: &str) -> Vec<Listed> {
    let mut dir = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("Directory listing of ") {
            dir = d.trim_end().to_owned();
            continue;
        }
        let Some((meta, name)) = line.split_once("]  ") else {
            continue;
        };
        let name = name.trim_end().to_owned();
        if name == "." || name == ".." {
            continue;
        }
        let tokens: Vec<&str> = meta.split_whitespace().collect();
        out.push(Listed {
            dir: dir.clone(),
            name,
            size: tokens[4].parse().unwrap(),
            lba: tokens[9].parse().unwrap(),
            is_dir: tokens[0].starts_with('d'),
        });
    }
    out
}

/// Runs `xorriso -indev IMAGE` plus `args`, fails on any SORRY, FAILURE or
/// WARNING on stderr, and returns stdout.
fn xorriso(image: &Path, args: &[&str]) -> Option<String> {
    let tool = common::tool("xorriso")?;
    let out = Command::new(tool)
        .env("LC_ALL", "C")
        .arg("-abort_on")
        .arg("NEVER")
        .arg("-indev")
        .arg(image)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for word in ["SORRY", "FAILURE", "FATAL", "WARNING", "MISHAP"] {
        assert!(
            !stderr.contains(word),
            "xorriso complained ({word}) about {}:\n{stderr}",
            image.display()
        );
    }
    assert!(out.status.success(), "xorriso failed:\n{stderr}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An ISO path as xorriso shows it without Rock Ridge: no `;1`, no trailing dot.
fn xorriso_name(iso_path: &str) -> String {
    let p = iso_path.strip_suffix(";1").unwrap_or(iso_path);
    p.strip_suffix('.').unwrap_or(p).to_owned()
}

fn write(w: &IsoWriter, dir: &Path, name: &str) -> (PathBuf, WriteSummary) {
    let path = dir.join(name);
    let summary = w.write_file(&path).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(len, summary.image_bytes());
    (path, summary)
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    Pattern::PseudoRandom { seed }.fill(0, &mut v);
    v
}

#[test]
fn files_and_nested_directories_list_and_extract() {
    let tmp = tempfile::tempdir().unwrap();
    let host = tmp.path().join("host.bin");
    std::fs::write(&host, pattern(9, 70_000)).unwrap();

    let mut w = IsoWriter::new("Sample Disc");
    w.joliet(true)
        .timestamp(Timestamp::from_unix_seconds(1_709_214_307).unwrap());
    let expect: Vec<(&str, Vec<u8>)> = vec![
        ("/readme.txt", b"hello from isotune\n".to_vec()),
        ("/docs/Guide.md", b"# Guide\n".repeat(500)),
        ("/docs/archive.tar.gz", pattern(1, 5000)),
        ("/a/b/c/d/e/f/g/deep.txt", b"level eight\n".to_vec()),
        ("/host/host.bin", std::fs::read(&host).unwrap()),
        ("/gen/random.bin", pattern(42, 123_457)),
        ("/gen/zeros.bin", vec![0u8; 4096]),
        ("/empty", Vec::new()),
    ];
    for (path, data) in &expect {
        let source = match *path {
            "/host/host.bin" => FileSource::host_file(&host),
            "/gen/random.bin" => FileSource::pseudo_random(data.len() as u64, 42),
            "/gen/zeros.bin" => FileSource::zeros(4096),
            _ => FileSource::bytes(data.clone()),
        };
        w.add_file(path, source).unwrap();
    }
    w.add_dir("/empty-dir").unwrap();
    let (img, summary) = write(&w, tmp.path(), "sample.iso");
    assert_eq!(summary.files.len(), expect.len());

    let Some(info) = isoinfo(&["-d"], &img) else {
        return;
    };
    assert!(info.contains("Volume id: SAMPLE_DISC\n"), "{info}");
    assert!(
        info.contains(&format!("Volume size is: {}\n", summary.volume_sectors)),
        "{info}"
    );
    assert!(info.contains("Joliet with UCS level 3 found"), "{info}");
    assert!(!info.contains("El Torito"), "{info}");

    // The ISO9660 tree: every file with its size and extent, names mapped.
    let iso = listing(&isoinfo(&["-l"], &img).unwrap());
    for f in &summary.files {
        let (dir, name) = f.iso_path.rsplit_once('/').unwrap();
        let found = iso
            .iter()
            .find(|l| l.name == name && l.dir.trim_end_matches('/') == dir)
            .unwrap_or_else(|| panic!("{} not listed in {iso:#?}", f.iso_path));
        assert_eq!((found.size, found.lba), (f.extent.size, f.extent.lba));
    }
    let names: Vec<&str> = iso.iter().map(|l| l.name.as_str()).collect();
    for n in [
        "README.TXT;1",
        "GUIDE.MD;1",
        "ARCHIVE_TAR.GZ;1",
        "EMPTY.;1",
        "EMPTY_DIR",
        "DEEP.TXT;1",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let deep = iso.iter().find(|l| l.name == "DEEP.TXT;1").unwrap();
    assert_eq!(deep.dir, "/A/B/C/D/E/F/G/");

    // The Joliet tree keeps the names as given.
    let joliet = listing(&isoinfo(&["-J", "-l"], &img).unwrap());
    for (path, data) in &expect {
        let (dir, name) = path.rsplit_once('/').unwrap();
        let found = joliet
            .iter()
            .find(|l| l.name == name && l.dir.trim_end_matches('/') == dir)
            .unwrap_or_else(|| panic!("{path} not in the Joliet listing {joliet:#?}"));
        assert_eq!(found.size, data.len() as u64);
        assert!(!found.is_dir);
    }
    assert!(joliet.iter().any(|l| l.name == "empty-dir" && l.is_dir));

    // Contents come back identical through both trees.
    for (path, data) in &expect {
        let f = summary.file(path).unwrap();
        assert_eq!(isoinfo_bytes(&["-x", &f.iso_path], &img), *data, "{path}");
        assert_eq!(isoinfo_bytes(&["-J", "-x", path], &img), *data, "{path}");
    }

    // xorriso loads it cleanly and finds every file; with no Rock Ridge it
    // shows the Joliet tree.
    let Some(found) = xorriso(&img, &["-find", "/", "-type", "f"]) else {
        return;
    };
    let mut found: Vec<&str> = found.lines().map(|l| l.trim_matches('\'')).collect();
    found.sort_unstable();
    let mut want: Vec<&str> = summary
        .files
        .iter()
        .map(|f| f.joliet_path.as_deref().unwrap())
        .collect();
    want.sort_unstable();
    assert_eq!(found, want);
    // Without Joliet it shows the ISO9660 names.
    w.joliet(false);
    let (plain, summary) = write(&w, tmp.path(), "plain.iso");
    let found = xorriso(&plain, &["-find", "/", "-type", "f"]).unwrap();
    let mut found: Vec<&str> = found.lines().map(|l| l.trim_matches('\'')).collect();
    found.sort_unstable();
    let mut want: Vec<String> = summary
        .files
        .iter()
        .map(|f| xorriso_name(&f.iso_path))
        .collect();
    want.sort_unstable();
    assert_eq!(found, want);
}

#[test]
fn multi_sector_directory_of_300_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = IsoWriter::new("MANY");
    w.joliet(true);
    for i in 0..300 {
        let body = format!("file number {i}\n").repeat(i % 7 + 1);
        w.add_file(&format!("/many/File-{i:03}.txt"), FileSource::bytes(body))
            .unwrap();
    }
    let (img, summary) = write(&w, tmp.path(), "many.iso");
    let Some(text) = isoinfo(&["-l"], &img) else {
        return;
    };
    // The directory's own `.` record says it spans several sectors.
    let dot = text
        .lines()
        .skip_while(|l| !l.starts_with("Directory listing of /MANY/"))
        .find(|l| l.trim_end().ends_with("]  ."))
        .unwrap();
    let dot_size: u64 = dot.split_whitespace().nth(4).unwrap().parse().unwrap();
    assert!(dot_size >= 4 * 2048, "{dot}");

    let iso = listing(&text);
    let many: Vec<&Listed> = iso.iter().filter(|l| l.dir == "/MANY/").collect();
    assert_eq!(many.len(), 300);
    let names: Vec<&str> = many.iter().map(|l| l.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "records are in ISO9660 order");
    assert_eq!(names[0], "FILE_000.TXT;1");

    let joliet = listing(&isoinfo(&["-J", "-l"], &img).unwrap());
    assert_eq!(joliet.iter().filter(|l| l.dir == "/many/").count(), 300);

    for i in [0usize, 1, 43, 44, 150, 299] {
        let path = format!("/many/File-{i:03}.txt");
        let body = format!("file number {i}\n").repeat(i % 7 + 1);
        let f = summary.file(&path).unwrap();
        assert_eq!(isoinfo_bytes(&["-x", &f.iso_path], &img), body.as_bytes());
        assert_eq!(isoinfo_bytes(&["-J", "-x", &path], &img), body.as_bytes());
    }

    let Some(found) = xorriso(&img, &["-find", "/", "-type", "f"]) else {
        return;
    };
    assert_eq!(found.lines().count(), 300);

    // Every file's contents, extracted by xorriso in one go.
    let out = tmp.path().join("x");
    xorriso(
        &img,
        &["-osirrox", "on", "-extract", "/many", out.to_str().unwrap()],
    )
    .unwrap();
    for i in 0..300 {
        let body = format!("file number {i}\n").repeat(i % 7 + 1);
        let got = std::fs::read(out.join(format!("File-{i:03}.txt"))).unwrap();
        assert_eq!(got, body.as_bytes(), "file {i}");
    }
}

/// A boot program with recognisable bytes after the boot info table.
fn boot_program() -> Vec<u8> {
    let mut p = pattern(5, 6000);
    p[0] = 0xEB; // jmp short over the table
    p[1] = 0x3E;
    p
}

#[test]
fn el_torito_bios_and_efi_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let program = boot_program();
    let mut w = IsoWriter::new("BOOTTEST");
    w.add_file("/boot/boot.bin", FileSource::bytes(program.clone()))
        .unwrap();
    w.add_file("/boot/efi.img", FileSource::zeros(1_474_560))
        .unwrap();
    w.add_file("/payload.bin", FileSource::pseudo_random(3 << 20, 11))
        .unwrap();
    w.el_torito(BootImage {
        path: "/boot/boot.bin".into(),
        platform: Platform::Bios,
        load_segment: 0,
        load_sectors: 12,
        boot_info_table: true,
    });
    w.el_torito(BootImage::efi("/boot/efi.img"));
    let (img, summary) = write(&w, tmp.path(), "boot.iso");
    let catalog = summary.boot_catalog_lba.unwrap();
    let bios = &summary.boot_entries[0];
    let efi = &summary.boot_entries[1];
    assert_eq!(bios.lba, summary.file("/boot/boot.bin").unwrap().extent.lba);
    assert_eq!((bios.load_sectors, efi.load_sectors), (12, 2880));

    // Boot info table, read back from the image.
    let bytes = std::fs::read(&img).unwrap();
    let at = (bios.lba * 2048) as usize;
    let le = |o: usize| {
        u64::from(u32::from_le_bytes(
            bytes[at + o..at + o + 4].try_into().unwrap(),
        ))
    };
    assert_eq!(le(8), 16, "PVD sector");
    assert_eq!(le(12), bios.lba, "boot file sector");
    assert_eq!(le(16), program.len() as u64, "boot file length");
    let mut sum = 0u32;
    for word in program[64..].chunks(4) {
        let mut w = [0u8; 4];
        w[..word.len()].copy_from_slice(word);
        sum = sum.wrapping_add(u32::from_le_bytes(w));
    }
    assert_eq!(le(20), u64::from(sum), "checksum");
    assert!(bytes[at + 24..at + 64].iter().all(|&b| b == 0));
    assert_eq!(&bytes[at..at + 8], &program[..8]);
    assert_eq!(&bytes[at + 64..at + program.len()], &program[64..]);
    // The boot record points at the catalog.
    let record = &bytes[17 * 2048..18 * 2048];
    assert_eq!(
        u64::from(u32::from_le_bytes(record[71..75].try_into().unwrap())),
        catalog
    );

    let Some(info) = isoinfo(&["-d"], &img) else {
        return;
    };
    assert!(
        info.contains(&format!(
            "El Torito VD version 1 found, boot catalog is in sector {catalog}"
        )),
        "{info}"
    );
    assert!(info.contains("Volume id: BOOTTEST"), "{info}");
    let payload = summary.file("/payload.bin").unwrap();
    let iso = listing(&isoinfo(&["-l"], &img).unwrap());
    let listed = iso.iter().find(|l| l.name == "PAYLOAD.BIN;1").unwrap();
    assert_eq!(
        (listed.size, listed.lba),
        (payload.extent.size, payload.extent.lba)
    );

    let Some(report) = xorriso(&img, &["-report_el_torito", "plain"]) else {
        return;
    };
    assert!(
        report.contains(&format!("El Torito catalog  : {catalog}")),
        "{report}"
    );
    let images: Vec<Vec<&str>> = report
        .lines()
        .filter_map(|l| l.strip_prefix("El Torito boot img :"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    // N  Pltf  B  Emul  Ld_seg  Hdpt  Ldsiz  LBA
    assert_eq!(images.len(), 2, "{report}");
    assert_eq!(images[0][1..5], ["BIOS", "y", "none", "0x0000"], "{report}");
    assert_eq!(images[0][6], "12");
    assert_eq!(images[0][7], bios.lba.to_string());
    assert_eq!(images[1][1..4], ["UEFI", "y", "none"], "{report}");
    assert_eq!(images[1][6], "2880");
    assert_eq!(images[1][7], efi.lba.to_string());
    assert!(
        report.contains("El Torito img opts :   1  boot-info-table"),
        "{report}"
    );
}

#[test]
fn streamed_256_mib_payload() {
    let tmp = tempfile::tempdir().unwrap();
    let size = 256u64 << 20;
    let mut w = IsoWriter::new("BIG");
    w.add_file("/payload.bin", FileSource::zeros(size)).unwrap();
    w.add_file("/after.txt", FileSource::bytes(b"after".to_vec()))
        .unwrap();
    let (img, summary) = write(&w, tmp.path(), "big.iso");
    // Streaming keeps the process far below the payload size.
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let peak_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        assert!(peak_kib < 128 * 1024, "peak RSS {peak_kib} KiB");
    }
    let Some(text) = isoinfo(&["-l"], &img) else {
        return;
    };
    let iso = listing(&text);
    let payload = iso.iter().find(|l| l.name == "PAYLOAD.BIN;1").unwrap();
    assert_eq!(payload.size, size);
    assert_eq!(
        payload.lba,
        summary.file("/payload.bin").unwrap().extent.lba
    );
    assert_eq!(isoinfo_bytes(&["-x", "/AFTER.TXT;1"], &img), b"after");
}

#[test]
fn colliding_names_are_rejected_and_leave_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = IsoWriter::new("DUP");
    w.add_file("/Boot/Grub.cfg", FileSource::bytes(b"a".to_vec()))
        .unwrap();
    w.add_file("/boot/grub.cfg", FileSource::bytes(b"b".to_vec()))
        .unwrap();
    let out = tmp.path().join("dup.iso");
    let e = w.write_file(&out).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.message().contains("both map to the ISO9660 name `BOOT`"),
        "{e}"
    );
    assert!(!out.exists());

    let mut w = IsoWriter::new("MISSING");
    w.add_file("/x", FileSource::host_file(tmp.path().join("nope")))
        .unwrap();
    let e = w.write_file(&out).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(!out.exists());
}

//! Boot layout against the real tools: El Torito catalogs, hybrid MBR/GPT/APM
//! and UDF bridges built by xorriso and genisoimage, read by isotune-iso and
//! compared with what `xorriso -report_el_torito`, `-report_system_area`,
//! `-exec report_lba` and `isoinfo -l` say about the same image.

use isotune_testutil as common;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use isotune_iso::bootfiles::{boot_catalog, discover, BootRole};
use isotune_iso::eltorito::{Emulation, Platform};
use isotune_iso::image::IsoImage;
use isotune_iso::partition::{format_guid, read_partitions, Scheme};
use isotune_iso::udf::detect_udf;

/// Deterministic filler so files do not all look alike.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A boot tree: isolinux + GRUB configs, kernels, initrds, an EFI image.
fn boot_tree(root: &Path) {
    common::put(root, "isolinux/isolinux.bin", &bytes(6000, 1));
    // What isolinux loads itself: ldlinux.c32, the UI module, its libraries.
    common::put(root, "isolinux/ldlinux.c32", &bytes(3000, 7));
    common::put(root, "isolinux/vesamenu.c32", &bytes(2500, 8));
    common::put(root, "isolinux/libcom32.c32", &bytes(2200, 9));
    common::put(root, "isolinux/libutil.c32", &bytes(2100, 10));
    common::put(
        root,
        "isolinux/isolinux.cfg",
        b"UI vesamenu.c32\ninclude txt.cfg\ntimeout 50\n",
    );
    common::put(
        root,
        "isolinux/txt.cfg",
        b"default live\nlabel live\n  menu label ^Live\n  kernel /casper/vmlinuz\n  append boot=casper initrd=/casper/initrd.gz,/casper/extra.img quiet\n\
          label safe\n  kernel /casper/vmlinuz\n  initrd ../casper/safe.img\n",
    );
    common::put(
        root,
        "boot/grub/grub.cfg",
        b"set default=0\nset timeout=5\nmenuentry 'Live' {\n  linux /casper/vmlinuz boot=casper\n  initrd /casper/initrd.gz\n}\n\
          menuentry 'HWE' {\n  linux /casper/hwe/vmlinuz\n  initrd /casper/hwe/initrd.gz\n}\n",
    );
    common::put(root, "casper/vmlinuz", &bytes(100_000, 2));
    common::put(root, "casper/initrd.gz", &bytes(300_000, 3));
    common::put(root, "casper/extra.img", &bytes(5_000, 4));
    common::put(root, "casper/safe.img", &bytes(7_000, 5));
    common::put(root, "casper/hwe/vmlinuz", &bytes(90_000, 6));
    common::put(root, "efiboot.img", &vec![0u8; 1_474_560]);
}

const BIOS_ARGS: [&str; 9] = [
    "-b",
    "isolinux/isolinux.bin",
    "-c",
    "isolinux/boot.cat",
    "-no-emul-boot",
    "-boot-load-size",
    "4",
    "-boot-info-table",
    "-eltorito-alt-boot",
];
const EFI_ARGS: [&str; 3] = ["-e", "efiboot.img", "-no-emul-boot"];

/// Builds `name` in `dir` from `dir/root` with `xorriso -as mkisofs`.
fn xorriso_iso(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut args = vec!["-R", "-J"];
    args.extend_from_slice(extra);
    common::mkisofs(&dir.join("root"), &out, &args).expect("xorriso checked by the caller");
    out
}

fn xorriso_report(xorriso: &Path, iso: &Path, what: &[&str]) -> String {
    let mut cmd = Command::new(xorriso);
    cmd.arg("-indev").arg(iso).args(what);
    common::run(&mut cmd)
}

/// The fields after `label :` of every report line starting with `label`.
fn report_rows(report: &str, label: &str) -> Vec<Vec<String>> {
    report
        .lines()
        .filter(|l| l.starts_with(label))
        .filter_map(|l| l.split_once(':'))
        .map(|(_, rest)| rest.split_whitespace().map(str::to_owned).collect())
        .collect()
}

fn open(iso: &Path) -> IsoImage<File> {
    IsoImage::open(File::open(iso).unwrap()).unwrap()
}

#[test]
fn el_torito_catalog_matches_xorriso() {
    let Some(xorriso) = common::tool("xorriso") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    boot_tree(&dir.path().join("root"));
    let args: Vec<&str> = BIOS_ARGS.iter().chain(EFI_ARGS.iter()).copied().collect();
    let iso = xorriso_iso(dir.path(), "boot.iso", &args);
    let report = xorriso_report(&xorriso, &iso, &["-report_el_torito", "plain"]);
    let rows = report_rows(&report, "El Torito boot img");
    let paths: HashMap<String, String> = report_rows(&report, "El Torito img path")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(rows.len(), 2, "{report}");

    let image = open(&iso);
    let cat = boot_catalog(&image).unwrap().expect("an El Torito catalog");
    assert!(cat.validation.checksum_ok && cat.validation.key_ok);
    assert!(cat.anomalies.is_empty(), "{:?}", cat.anomalies);
    assert_eq!(cat.entries.len(), rows.len());
    for (e, row) in cat.entries.iter().zip(&rows) {
        // N  Pltf  B  Emul  Ld_seg  Hdpt  Ldsiz  LBA
        let platform = match row[1].as_str() {
            "BIOS" => Platform::Bios,
            "UEFI" => Platform::Efi,
            other => panic!("unexpected platform {other}"),
        };
        assert_eq!(e.platform, platform);
        assert_eq!(e.bootable, row[2] == "y");
        assert_eq!(row[3], "none");
        assert_eq!(e.emulation, Emulation::None);
        assert_eq!(
            e.load_segment,
            u16::from_str_radix(row[4].trim_start_matches("0x"), 16).unwrap()
        );
        assert_eq!(
            e.system_type,
            u8::from_str_radix(row[5].trim_start_matches("0x"), 16).unwrap()
        );
        assert_eq!(e.sector_count.to_string(), row[6]);
        assert_eq!(e.load_rba.to_string(), row[7]);
        assert_eq!(e.path.as_ref(), paths.get(&row[0]), "entry {}", row[0]);
    }
    assert_eq!(cat.entries[0].size_bytes, 4 * 512);
    // xorriso records the whole EFI image (2880 × 512 bytes) in the entry.
    assert_eq!(cat.entries[1].size_bytes, 1_474_560);
}

#[test]
fn hybrid_mbr_gpt_and_appended_partition_match_xorriso() {
    let Some(xorriso) = common::tool("xorriso") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    boot_tree(&dir.path().join("root"));
    let mbr = dir.path().join("mbr.bin");
    std::fs::write(&mbr, vec![0u8; 432]).unwrap();
    let esp = dir.path().join("esp.img");
    std::fs::write(&esp, vec![0u8; 1_474_560]).unwrap();
    let mut args: Vec<&str> = BIOS_ARGS.iter().chain(EFI_ARGS.iter()).copied().collect();
    let (mbr_s, esp_s) = (mbr.to_str().unwrap(), esp.to_str().unwrap());
    args.extend(["-isohybrid-mbr", mbr_s, "-isohybrid-gpt-basdat"]);
    args.extend(["-append_partition", "2", "0xef", esp_s]);
    let iso = xorriso_iso(dir.path(), "hybrid.iso", &args);
    let report = xorriso_report(&xorriso, &iso, &["-report_system_area", "plain"]);

    let image = open(&iso);
    let iso_512: u64 = report_rows(&report, "ISO image size/512")[0][0]
        .parse()
        .unwrap();
    assert_eq!(u64::from(image.primary().volume_space_size) * 4, iso_512);
    let layout = read_partitions(image.source(), Some(iso_512 * 512)).unwrap();
    assert!(layout.mbr, "{layout:?}");

    let mbr_rows = report_rows(&report, "MBR partition      ");
    let ours: Vec<_> = layout
        .partitions
        .iter()
        .filter(|p| p.scheme == Scheme::Mbr)
        .collect();
    assert_eq!(ours.len(), mbr_rows.len(), "{report}");
    for (p, row) in ours.iter().zip(&mbr_rows) {
        // N  Status  Type  Start  Blocks
        assert_eq!(p.index.to_string(), row[0]);
        assert_eq!(p.bootable, row[1] == "0x80");
        assert_eq!(p.type_id, row[2]);
        assert_eq!(p.start_lba.to_string(), row[3]);
        assert_eq!(p.size_sectors.to_string(), row[4]);
        assert_eq!(p.appended, p.start_lba >= iso_512);
    }
    assert!(ours.iter().any(|p| p.type_id == "0xef" && p.appended));

    let gpt = layout.gpt.as_ref().expect("a GPT");
    assert!(gpt.header_crc_ok && gpt.entries_crc_ok, "{gpt:?}");
    let ours: Vec<_> = layout
        .partitions
        .iter()
        .filter(|p| p.scheme == Scheme::Gpt)
        .collect();
    let ranges = report_rows(&report, "GPT start and size");
    let types = report_rows(&report, "GPT type GUID");
    let names = report_rows(&report, "GPT partname local");
    let flags = report_rows(&report, "GPT partition flags");
    assert_eq!(ours.len(), ranges.len(), "{report}");
    for (i, p) in ours.iter().enumerate() {
        assert_eq!(p.index.to_string(), ranges[i][0]);
        assert_eq!(p.start_lba.to_string(), ranges[i][1]);
        assert_eq!(p.size_sectors.to_string(), ranges[i][2]);
        // xorriso prints the 16 GUID bytes as stored.
        let raw: Vec<u8> = (0..16)
            .map(|k| u8::from_str_radix(&types[i][1][2 * k..2 * k + 2], 16).unwrap())
            .collect();
        assert_eq!(p.type_id, format_guid(&raw.try_into().unwrap()));
        assert_eq!(p.name.as_deref(), Some(names[i][1].as_str()));
        let f = u64::from_str_radix(flags[i][1].trim_start_matches("0x"), 16).unwrap();
        assert_eq!(p.attributes, Some(f));
    }
    let esp_part = ours.last().unwrap();
    assert_eq!(esp_part.type_name.as_deref(), Some("EFI System"));
    assert!(esp_part.appended);
    assert_eq!(ours[0].type_name.as_deref(), Some("Basic data"));
    assert!(!ours[0].appended);
}

#[test]
fn apple_partition_map_matches_xorriso() {
    let Some(xorriso) = common::tool("xorriso") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    common::put(&dir.path().join("root"), "a.txt", b"hello\n");
    let iso = xorriso_iso(dir.path(), "hfs.iso", &["-hfsplus"]);
    let report = xorriso_report(&xorriso, &iso, &["-report_system_area", "plain"]);
    let layout = read_partitions(&File::open(&iso).unwrap(), None).unwrap();
    assert!(layout.apm, "{report}");
    let ours: Vec<_> = layout
        .partitions
        .iter()
        .filter(|p| p.scheme == Scheme::Apm && p.type_id != "Apple_partition_map")
        .collect();
    let ranges = report_rows(&report, "APM start and size");
    let types = report_rows(&report, "APM partition type");
    let names = report_rows(&report, "APM partition name");
    assert_eq!(ours.len(), ranges.len(), "{report}");
    for (i, p) in ours.iter().enumerate() {
        assert_eq!(p.start_lba.to_string(), ranges[i][1]);
        assert_eq!(p.size_sectors.to_string(), ranges[i][2]);
        assert_eq!(p.type_id, types[i][1]);
        assert_eq!(p.name.as_deref(), Some(names[i][1].as_str()));
    }
}

#[test]
fn udf_bridge_from_genisoimage() {
    let Some(genisoimage) = common::tool("genisoimage") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    common::put(&dir.path().join("root"), "a.txt", b"hello\n");
    for (udf, name) in [(true, "udf.iso"), (false, "plain.iso")] {
        let out = dir.path().join(name);
        let mut cmd = Command::new(&genisoimage);
        cmd.args(["-quiet", "-R"]);
        if udf {
            cmd.arg("-udf");
        }
        cmd.arg("-o").arg(&out).arg(dir.path().join("root"));
        common::run(&mut cmd);
        let info = detect_udf(&File::open(&out).unwrap()).unwrap();
        assert_eq!(info.present, udf, "{info:?}");
        if udf {
            assert_eq!(info.nsr, Some(2));
            let ids: Vec<_> = info.vrs.iter().map(|d| d.id.as_str()).collect();
            assert!(ids.ends_with(&["BEA01", "NSR02", "TEA01"]), "{ids:?}");
            let anchor = info.anchor.as_ref().unwrap();
            assert!(anchor.tag_checksum_ok && anchor.location_ok);
            assert!(anchor.main_vds.length > 0);
            assert!(info.anomalies.is_empty(), "{:?}", info.anomalies);
        } else {
            assert!(info.nsr.is_none() && info.anchor.is_none());
        }
    }
}

/// `path -> (lba, size)` from `xorriso -find / -exec report_lba`.
fn xorriso_lbas(xorriso: &Path, iso: &Path) -> HashMap<String, (u64, u64)> {
    let out = xorriso_report(xorriso, iso, &["-find", "/", "-exec", "report_lba"]);
    out.lines()
        .filter_map(|l| l.strip_prefix("File data lba:"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let path = f[4].trim_matches('\'').to_owned();
            (path, (f[1].parse().unwrap(), f[3].parse().unwrap()))
        })
        .collect()
}

/// `path -> (lba, size)` from `isoinfo [-R] -l`.
fn isoinfo_lbas(isoinfo: &Path, iso: &Path, rock_ridge: bool) -> HashMap<String, (u64, u64)> {
    let mut cmd = Command::new(isoinfo);
    if rock_ridge {
        cmd.arg("-R");
    }
    cmd.arg("-l").arg("-i").arg(iso);
    let out = common::run(&mut cmd);
    let mut dir = String::new();
    let mut map = HashMap::new();
    for line in out.lines() {
        if let Some(d) = line.strip_prefix("Directory listing of ") {
            dir = d.trim().to_owned();
            continue;
        }
        let (Some(open), Some(close)) = (line.find('['), line.find(']')) else {
            continue;
        };
        if line.starts_with('d') {
            continue;
        }
        let lba = line[open + 1..close]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let size = line[..open]
            .split_whitespace()
            .nth(4)
            .unwrap()
            .parse()
            .unwrap();
        let name = line[close + 1..].trim();
        // `VMLINUZ.;1`: readers drop the version and an empty extension's dot.
        let name = name.split(';').next().unwrap().trim_end_matches('.');
        map.insert(format!("{dir}{name}"), (lba, size));
    }
    map
}

const EXPECTED_ORDER: [(&str, BootRole); 14] = [
    ("/isolinux/isolinux.bin", BootRole::ElToritoBios),
    ("/isolinux/ldlinux.c32", BootRole::Module),
    ("/isolinux/isolinux.cfg", BootRole::Config),
    ("/isolinux/vesamenu.c32", BootRole::Module),
    ("/isolinux/libcom32.c32", BootRole::Module),
    ("/isolinux/libutil.c32", BootRole::Module),
    ("/isolinux/txt.cfg", BootRole::Config),
    ("/casper/vmlinuz", BootRole::Kernel),
    ("/casper/initrd.gz", BootRole::Initrd),
    ("/casper/extra.img", BootRole::Initrd),
    ("/casper/safe.img", BootRole::Initrd),
    ("/efiboot.img", BootRole::ElToritoEfi),
    ("/boot/grub/grub.cfg", BootRole::Config),
    ("/casper/hwe/vmlinuz", BootRole::Kernel),
];

fn check_boot_files(iso: &Path, lbas: &HashMap<String, (u64, u64)>, lower: bool) {
    let image = open(iso);
    let cat = boot_catalog(&image).unwrap();
    let found = discover(&image, cat.as_ref());
    let got: Vec<_> = found
        .files
        .iter()
        .map(|f| (f.path.to_ascii_lowercase(), f.role))
        .collect();
    let want: Vec<_> = EXPECTED_ORDER
        .iter()
        .map(|(p, r)| ((*p).to_owned(), *r))
        .collect();
    assert_eq!(got, want, "{:#?}", found.files);
    for f in &found.files {
        let key = if lower {
            f.path.clone()
        } else {
            f.path.to_ascii_uppercase()
        };
        let Some(&(lba, size)) = lbas.get(&key) else {
            panic!("{key} not in the tool's listing: {lbas:#?}")
        };
        assert_eq!(f.extents.len(), 1, "{}", f.path);
        assert_eq!((f.extents[0].lba, f.size), (lba, size), "{}", f.path);
    }
    assert_eq!(
        found.files[8]
            .source
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("/isolinux/txt.cfg")
    );
    let missing: Vec<_> = found
        .anomalies
        .iter()
        .filter(|a| a.id == "boot.missing-file")
        .collect();
    assert_eq!(missing.len(), 1, "{:?}", found.anomalies);
    assert!(missing[0].message.contains("/casper/hwe/initrd.gz"));
    assert!(missing[0].message.contains("grub.cfg"));
}

#[test]
fn boot_files_match_xorriso_report_lba() {
    let Some(xorriso) = common::tool("xorriso") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    boot_tree(&dir.path().join("root"));
    let args: Vec<&str> = BIOS_ARGS.iter().chain(EFI_ARGS.iter()).copied().collect();
    let iso = xorriso_iso(dir.path(), "boot.iso", &args);
    check_boot_files(&iso, &xorriso_lbas(&xorriso, &iso), true);
}

#[test]
fn boot_files_match_isoinfo_with_and_without_rock_ridge() {
    let Some(genisoimage) = common::tool("genisoimage") else {
        return;
    };
    let Some(isoinfo) = common::tool("isoinfo") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    boot_tree(&dir.path().join("root"));
    for rock_ridge in [true, false] {
        let out = dir
            .path()
            .join(if rock_ridge { "rr.iso" } else { "plain.iso" });
        let mut cmd = Command::new(&genisoimage);
        cmd.arg("-quiet");
        if rock_ridge {
            cmd.arg("-R");
        }
        cmd.args(BIOS_ARGS)
            .args(EFI_ARGS)
            .arg("-o")
            .arg(&out)
            .arg(dir.path().join("root"));
        common::run(&mut cmd);
        let lbas = isoinfo_lbas(&isoinfo, &out, rock_ridge);
        check_boot_files(&out, &lbas, rock_ridge);
    }
}

/// Ubuntu-style: the EFI El Torito entry points into an appended partition,
/// not at a file of the ISO tree.
#[test]
fn efi_image_in_an_appended_partition() {
    let Some(xorriso) = common::tool("xorriso") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    boot_tree(&dir.path().join("root"));
    let esp = dir.path().join("esp.img");
    std::fs::write(&esp, bytes(1_474_560, 9)).unwrap();
    let mut args: Vec<&str> = BIOS_ARGS.to_vec();
    args.extend(["-append_partition", "2", "0xef", esp.to_str().unwrap()]);
    args.extend([
        "-e",
        "--interval:appended_partition_2:all::",
        "-no-emul-boot",
    ]);
    let iso = xorriso_iso(dir.path(), "appended.iso", &args);
    let report = xorriso_report(&xorriso, &iso, &["-report_el_torito", "plain"]);
    let rows = report_rows(&report, "El Torito boot img");

    let image = open(&iso);
    let cat = boot_catalog(&image).unwrap().unwrap();
    let efi = &cat.entries[1];
    assert_eq!(efi.platform, Platform::Efi);
    assert_eq!(efi.load_rba.to_string(), rows[1][7], "{report}");
    assert_eq!(efi.path, None);
    assert_eq!(efi.size_bytes, 1_474_560);
    let layout = read_partitions(image.source(), Some(image.primary().volume_bytes())).unwrap();
    let part = layout
        .partitions
        .iter()
        .find(|p| p.type_id == "0xef")
        .unwrap();
    assert!(part.appended);
    assert_eq!(part.start_lba, u64::from(efi.load_rba) * 4);

    let found = discover(&image, Some(&cat));
    let f = found
        .files
        .iter()
        .find(|f| f.role == BootRole::ElToritoEfi)
        .unwrap();
    // Named by the partition that holds it (plain MBR here: no GPT).
    let named = efi.partition.as_ref().unwrap();
    assert_eq!((named.scheme, named.index), (part.scheme, part.index));
    assert_eq!(f.path, format!("({named})"));
    assert_eq!(f.path, "(MBR partition 2)");
    assert_eq!(f.extents[0].lba, u64::from(efi.load_rba));
    assert_eq!(f.size, 1_474_560);
}

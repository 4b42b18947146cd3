//! The ISO9660 reader against images made by real tools (xorriso,
//! genisoimage), compared with what `isoinfo` reads from the same images,
//! plus damaged and hostile images built by patching real ones.

use isotune_testutil as common;

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use isotune_iso::{ErrorKind, FileEntry, FileKind, IsoImage, Namespace, Severity};

/// One entry of an `isoinfo -l` listing.
#[derive(Debug)]
struct Listed {
    path: String,
    size: u64,
    lba: u64,
    is_dir: bool,
    link: Option<String>,
}

/// Runs `isoinfo [flags] -l -i iso` and parses the listing. Plain ISO9660
/// names lose `;1` and a trailing `.`, as isotune shows them.
fn isoinfo_list(isoinfo: &Path, iso: &Path, flags: &[&str]) -> Vec<Listed> {
    let out = common::run(
        Command::new(isoinfo)
            .args(flags)
            .arg("-l")
            .arg("-i")
            .arg(iso),
    );
    let plain = flags.is_empty();
    let mut dir = String::from("/");
    let mut v = Vec::new();
    for line in out.lines() {
        if let Some(d) = line.strip_prefix("Directory listing of ") {
            dir = d.trim_end().to_owned();
            continue;
        }
        let (Some(open), Some(close)) = (line.find('['), line.find(']')) else {
            continue;
        };
        let head: Vec<&str> = line[..open].split_whitespace().collect();
        let lba: u64 = line[open + 1..close]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let mut name = line[close + 1..]
            .trim_start_matches(' ')
            .trim_end()
            .to_owned();
        if name == "." || name == ".." {
            continue;
        }
        let mut link = None;
        if line.starts_with('l') {
            if let Some((n, t)) = name.split_once(" -> ") {
                link = Some(t.to_owned());
                name = n.to_owned();
            }
        }
        if plain {
            if let Some(p) = name.find(';') {
                name.truncate(p);
            }
            if name.ends_with('.') {
                name.pop();
            }
        }
        v.push(Listed {
            path: format!("{dir}{name}"),
            size: head[4].parse().unwrap(),
            lba,
            is_dir: line.starts_with('d'),
            link,
        });
    }
    v
}

/// Checks that isotune's tree of `ns` has exactly isoinfo's entries, with
/// the same sizes, blocks, kinds and link targets.
fn compare(iso: &IsoImage<std::fs::File>, ns: Namespace, listed: &[Listed]) {
    let tree = iso.files(ns).unwrap();
    assert!(tree.anomalies.is_empty(), "{ns:?}: {:?}", tree.anomalies);
    let ours: HashMap<&str, &FileEntry> =
        tree.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    assert_eq!(ours.len(), tree.entries.len(), "{ns:?}: duplicate paths");
    assert_eq!(tree.entries.len(), listed.len(), "{ns:?}: entry count");
    for l in listed {
        let e = ours
            .get(l.path.as_str())
            .unwrap_or_else(|| panic!("{ns:?}: {} missing", l.path));
        assert_eq!(e.size, l.size, "{ns:?}: size of {}", l.path);
        assert_eq!(e.extents[0].lba, l.lba, "{ns:?}: block of {}", l.path);
        assert_eq!(
            e.kind == FileKind::Directory,
            l.is_dir,
            "{ns:?}: kind of {}",
            l.path
        );
        if let Some(t) = &l.link {
            assert_eq!(
                e.symlink_target.as_deref(),
                Some(t.as_str()),
                "{ns:?}: {}",
                l.path
            );
        }
    }
}

fn open(path: &Path) -> IsoImage<std::fs::File> {
    IsoImage::open(std::fs::File::open(path).unwrap()).unwrap()
}

/// Tools present (or `None` to skip the test).
fn tools(names: &[&str]) -> Option<Vec<PathBuf>> {
    names.iter().map(|n| common::tool(n)).collect()
}

fn xorriso_rr_joliet(src: &Path, iso: &Path, extra: &[&str]) {
    let mut args = vec!["-R", "-J", "-joliet-long", "-V", "ISOTUNE_TEST"];
    args.extend_from_slice(extra);
    common::mkisofs(src, iso, &args).expect("xorriso checked by the caller");
}

const LONG: &str =
    "A very long file name with spaces, more than sixty-four characters, to need Joliet-long.bin";

fn sample_tree(root: &Path) {
    common::put(root, "readme.txt", b"hello\n");
    common::put(root, &format!("dir/{LONG}"), &[7u8; 5000]);
    common::put(root, "dir/sub/x.cfg", b"x");
    common::put(root, "dir/sub/empty", b"");
    common::put(root, "dir/sub/same-as-x.cfg", b"x");
    std::os::unix::fs::symlink("../readme.txt", root.join("dir/link")).unwrap();
}

#[test]
fn xorriso_rock_ridge_and_joliet_match_isoinfo() {
    let Some(t) = tools(&["xorriso", "isoinfo"]) else {
        return;
    };
    let isoinfo = &t[1];
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    sample_tree(&src);
    let path = tmp.path().join("a.iso");
    xorriso_rr_joliet(&src, &path, &[]);
    let iso = open(&path);
    assert!(iso.has_rock_ridge());
    assert_eq!(
        iso.namespaces(),
        [Namespace::RockRidge, Namespace::Joliet, Namespace::Iso9660]
    );
    assert_eq!(iso.best_namespace(), Namespace::RockRidge);
    assert_eq!(iso.joliet().unwrap().joliet_level, Some(3));
    compare(
        &iso,
        Namespace::RockRidge,
        &isoinfo_list(isoinfo, &path, &["-R"]),
    );
    compare(
        &iso,
        Namespace::Joliet,
        &isoinfo_list(isoinfo, &path, &["-J"]),
    );
    compare(&iso, Namespace::Iso9660, &isoinfo_list(isoinfo, &path, &[]));
    assert!(
        iso.size_anomalies().is_empty(),
        "{:?}",
        iso.size_anomalies()
    );

    // Primary descriptor fields against `isoinfo -d`.
    let d = common::run(Command::new(isoinfo).arg("-d").arg("-i").arg(&path));
    let field = |k: &str| {
        d.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {d}"))
            .trim()
            .to_owned()
    };
    let p = iso.primary();
    assert_eq!(p.volume_id, field("Volume id:"));
    assert_eq!(p.volume_space_size.to_string(), field("Volume size is:"));
    assert_eq!(
        p.logical_block_size.to_string(),
        field("Logical block size is:")
    );
    assert_eq!(p.volume_set_size.to_string(), field("Volume set size is:"));
    assert_eq!(
        p.volume_sequence_number.to_string(),
        field("Volume set sequence number is:")
    );
    assert_eq!(p.data_preparer_id, field("Data preparer id:"));
    assert_eq!(p.system_id, field("System id:"));
    assert!(p.creation_date.is_some());
    assert_eq!(p.file_structure_version, 1);
    assert_eq!(iso.file_size(), u64::from(p.volume_space_size) * 2048);

    // Lookups and reads.
    let e = iso.lookup(&format!("/dir/{LONG}")).unwrap().unwrap();
    assert_eq!(iso.read_file(&e, u64::MAX).unwrap(), vec![7u8; 5000]);
    assert_eq!(iso.read_file(&e, 10).unwrap().len(), 10);
    let link = iso.lookup("/dir/link").unwrap().unwrap();
    assert_eq!(link.kind, FileKind::Symlink);
    assert_eq!(link.mode.map(|m| m & 0o170000), Some(0o120000));
    let x = iso
        .lookup_in(Namespace::Iso9660, "/dir/sub/x.cfg")
        .unwrap()
        .unwrap();
    assert_eq!(x.path, "/DIR/SUB/X.CFG");
    assert_eq!(iso.read_file(&x, 100).unwrap(), b"x");
    assert!(iso.lookup("/nope").unwrap().is_none());
    assert!(iso
        .lookup_in(Namespace::Joliet, &format!("/dir/{LONG}"))
        .unwrap()
        .is_some());

    // Streaming walk sees the same entries as the collecting one.
    let mut n = 0;
    iso.walk(Namespace::Joliet, &mut |_| {
        n += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(n, iso.files(Namespace::Joliet).unwrap().entries.len());
    let json = serde_json::to_string(iso.descriptors()).unwrap();
    assert!(json.contains("ISOTUNE_TEST"));
}

#[test]
fn directory_spanning_many_sectors() {
    let Some(t) = tools(&["xorriso", "isoinfo"]) else {
        return;
    };
    let isoinfo = &t[1];
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    for i in 0..500 {
        let name = format!(
            "big/{i:04}-a-rather-long-file-name-so-that-the-directory-needs-many-sectors-{}.txt",
            "z".repeat(i % 90)
        );
        common::put(&src, &name, i.to_string().as_bytes());
    }
    let path = tmp.path().join("big.iso");
    xorriso_rr_joliet(&src, &path, &[]);
    let iso = open(&path);
    let dir = iso.lookup("/big").unwrap().unwrap();
    assert!(
        dir.size > 20 * 2048,
        "the directory is only {} bytes",
        dir.size
    );
    compare(
        &iso,
        Namespace::RockRidge,
        &isoinfo_list(isoinfo, &path, &["-R"]),
    );
    compare(
        &iso,
        Namespace::Joliet,
        &isoinfo_list(isoinfo, &path, &["-J"]),
    );
    compare(&iso, Namespace::Iso9660, &isoinfo_list(isoinfo, &path, &[]));
    let name = format!(
        "/big/0499-a-rather-long-file-name-so-that-the-directory-needs-many-sectors-{}.txt",
        "z".repeat(499 % 90)
    );
    let e = iso.lookup(&name).unwrap().unwrap();
    assert_eq!(iso.read_file(&e, 100).unwrap(), b"499");
}

#[test]
fn genisoimage_plain_and_rock_ridge() {
    let Some(t) = tools(&["genisoimage", "isoinfo"]) else {
        return;
    };
    let (genisoimage, isoinfo) = (&t[0], &t[1]);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    common::put(&src, "top.txt", b"top");
    common::put(&src, "secret.txt", b"hidden");
    common::put(&src, "boot/grub/grub.cfg", b"menuentry");
    std::os::unix::fs::symlink("grub/grub.cfg", src.join("boot/cfg")).unwrap();
    let plain = tmp.path().join("plain.iso");
    common::run(
        Command::new(genisoimage)
            .args(["-quiet", "-hidden", "secret.txt", "-o"])
            .arg(&plain)
            .arg(&src),
    );
    let iso = open(&plain);
    assert_eq!(iso.namespaces(), [Namespace::Iso9660]);
    compare(
        &iso,
        Namespace::Iso9660,
        &isoinfo_list(isoinfo, &plain, &[]),
    );
    let tree = iso.files(Namespace::Iso9660).unwrap();
    let hidden: Vec<_> = tree
        .entries
        .iter()
        .filter(|e| e.hidden)
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(hidden, ["/SECRET.TXT"]);
    assert!(iso.lookup("/boot/grub/grub.cfg").unwrap().is_some());

    let rr = tmp.path().join("rr.iso");
    common::run(
        Command::new(genisoimage)
            .args(["-quiet", "-R", "-o"])
            .arg(&rr)
            .arg(&src),
    );
    let iso = open(&rr);
    assert_eq!(iso.best_namespace(), Namespace::RockRidge);
    compare(
        &iso,
        Namespace::RockRidge,
        &isoinfo_list(isoinfo, &rr, &["-R"]),
    );
    let e = iso.lookup("/boot/cfg").unwrap().unwrap();
    assert_eq!(e.symlink_target.as_deref(), Some("grub/grub.cfg"));
}

#[test]
fn associated_file_flag() {
    let Some(t) = tools(&["genisoimage"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    common::put(&src, "assoc.txt", b"a");
    common::put(&src, "plain.txt", b"p");
    let path = tmp.path().join("a.iso");
    common::run(
        Command::new(&t[0])
            .args(["-quiet", "-o"])
            .arg(&path)
            .arg(&src),
    );
    // genisoimage cannot make associated files: set the flag by hand.
    let root = open(&path).lookup("/").unwrap().unwrap().extents[0];
    let mut img = std::fs::read(&path).unwrap();
    let dir = root.offset() as usize;
    let at = find(&img[dir..dir + 2048], b"ASSOC.TXT;1").unwrap() + dir;
    img[at - 33 + 25] |= 0x04;
    let iso = IsoImage::open(img).unwrap();
    let tree = iso.files(Namespace::Iso9660).unwrap();
    let assoc: Vec<_> = tree
        .entries
        .iter()
        .filter(|e| e.associated)
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(assoc, ["/ASSOC.TXT"]);
}

#[test]
fn deep_directories_are_relocated() {
    let Some(t) = tools(&["genisoimage"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    common::put(&src, "a/b/c/d/e/f/g/h/i/j/deep.txt", b"deep");
    common::put(&src, "top.txt", b"top");
    let path = tmp.path().join("deep.iso");
    common::run(
        Command::new(&t[0])
            .args(["-quiet", "-R", "-o"])
            .arg(&path)
            .arg(&src),
    );
    let iso = open(&path);
    let tree = iso.files(Namespace::RockRidge).unwrap();
    assert!(tree.anomalies.is_empty(), "{:?}", tree.anomalies);
    let paths: Vec<_> = tree.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"/a/b/c/d/e/f/g/h/i/j/deep.txt"),
        "{paths:?}"
    );
    assert!(!paths.iter().any(|p| p.contains("rr_moved")), "{paths:?}");
    let h = tree
        .entries
        .iter()
        .find(|e| e.path == "/a/b/c/d/e/f/g/h")
        .unwrap();
    assert_eq!(h.kind, FileKind::Directory);
    assert_eq!(h.relocated_from.as_deref(), Some("/RR_MOVED/H"));
    assert_eq!(h.size, 2048);
    let f = iso
        .lookup("/a/b/c/d/e/f/g/h/i/j/deep.txt")
        .unwrap()
        .unwrap();
    assert_eq!(iso.read_file(&f, 100).unwrap(), b"deep");
    let plain = iso.files(Namespace::Iso9660).unwrap();
    let paths: Vec<_> = plain.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"/RR_MOVED/H/I/J/DEEP.TXT"), "{paths:?}");
    assert!(paths.contains(&"/A/B/C/D/E/F/G/H"), "{paths:?}");
}

/// Runs xorriso writing the image to stdout and stores it sparsely: blocks
/// of zeros become holes, so a 4.5 GiB image of a sparse file takes almost
/// no disk space and no time writing.
fn xorriso_sparse(xorriso: &Path, args: &[&str], src: &Path, out: &Path) {
    let mut child = Command::new(xorriso)
        .args(["-as", "mkisofs"])
        .args(args)
        .args(["-o", "-"])
        .arg(src)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut f = std::fs::File::create(out).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let zeros = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let mut n = 0;
        while n < buf.len() {
            let k = stdout.read(&mut buf[n..]).unwrap();
            if k == 0 {
                break;
            }
            n += k;
        }
        if n == 0 {
            break;
        }
        // A slice comparison is a memcmp: fast even in unoptimised builds.
        if buf[..n] == zeros[..n] {
            f.seek(SeekFrom::Current(n as i64)).unwrap();
        } else {
            f.write_all(&buf[..n]).unwrap();
        }
        total += n as u64;
    }
    f.set_len(total).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn multi_extent_file_over_4_gib() {
    let Some(t) = tools(&["xorriso", "isoinfo"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let size: u64 = 4 * 1024 * 1024 * 1024 + 512 * 1024 * 1024;
    let section: u64 = 0xFFFF_F800; // xorriso's largest section (4 GiB - 2 KiB)
    {
        let mut f = std::fs::File::create(src.join("big.bin")).unwrap();
        f.set_len(size).unwrap();
        f.seek(SeekFrom::Start(section - 4)).unwrap();
        f.write_all(b"ABCDEFGH").unwrap();
    }
    common::put(&src, "small.txt", b"small");
    let path = tmp.path().join("big.iso");
    xorriso_sparse(&t[0], &["-iso-level", "3", "-R"], &src, &path);
    let allocated =
        std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&path).unwrap()) * 512;
    assert!(
        allocated < 64 << 20,
        "the image takes {allocated} bytes on disk"
    );
    let iso = open(&path);
    for ns in [Namespace::RockRidge, Namespace::Iso9660] {
        let tree = iso.files(ns).unwrap();
        assert!(tree.anomalies.is_empty(), "{:?}", tree.anomalies);
        assert_eq!(tree.entries.len(), 2, "{:?}", tree.entries);
        let big = tree
            .entries
            .iter()
            .find(|e| e.path.eq_ignore_ascii_case("/big.bin"))
            .unwrap();
        assert_eq!(big.size, size);
        assert_eq!(big.extents.len(), 2);
        assert_eq!(big.extents[0].size, section);
        assert_eq!(big.extents[1].size, size - section);
    }
    // isoinfo lists each section as its own record.
    let out = common::run(Command::new(&t[1]).args(["-l", "-i"]).arg(&path));
    let big = iso.lookup("/big.bin").unwrap().unwrap();
    let lbas: Vec<String> = big
        .extents
        .iter()
        .map(|x| format!("[{:>7}", x.lba))
        .collect();
    for l in &lbas {
        assert!(out.contains(l.as_str()), "{l} not in {out}");
    }
    // The marker straddles the two sections.
    let mut head = vec![0u8; 4];
    let mut tail = vec![0u8; 4];
    isotune_iso::ReadAt::read_exact_at(iso.source(), &mut head, big.extents[0].end() - 4).unwrap();
    isotune_iso::ReadAt::read_exact_at(iso.source(), &mut tail, big.extents[1].offset()).unwrap();
    assert_eq!((&head[..], &tail[..]), (&b"ABCD"[..], &b"EFGH"[..]));
    assert_eq!(iso.read_file(&big, 4096).unwrap(), vec![0u8; 4096]);
    let small = iso.lookup("/small.txt").unwrap().unwrap();
    assert_eq!(iso.read_file(&small, 100).unwrap(), b"small");
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn put_both32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// Lists every namespace, looks a few paths up and reads every file
/// (capped): whatever the damage, this must return, not panic.
fn exercise(img: Vec<u8>) -> Vec<String> {
    let Ok(iso) = IsoImage::open(img) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = iso.anomalies().into_iter().map(|a| a.id).collect();
    for ns in iso.namespaces() {
        if let Ok(tree) = iso.files(ns) {
            ids.extend(tree.anomalies.into_iter().map(|a| a.id));
            for e in tree.entries.iter().take(50) {
                let _ = iso.read_file(e, 1 << 16);
                let _ = iso.lookup_in(ns, &e.path);
            }
        }
    }
    ids
}

fn small_rr_image(tmp: &Path) -> Vec<u8> {
    let src = tmp.join("src");
    sample_tree(&src);
    common::put(
        &src,
        &format!("dir/{}", "n".repeat(200)),
        b"long rock ridge name",
    );
    let path = tmp.join("small.iso");
    xorriso_rr_joliet(&src, &path, &[]);
    std::fs::read(path).unwrap()
}

#[test]
fn bad_input_never_panics() {
    // Empty, short and random files.
    assert_eq!(
        IsoImage::open(Vec::new()).unwrap_err().kind(),
        ErrorKind::Truncated
    );
    let mut rng = common::Rng::new(0x9E37_79B9_7F4A_7C15);
    let random = rng.bytes(1 << 20);
    assert_eq!(
        IsoImage::open(random.clone()).unwrap_err().kind(),
        ErrorKind::NotIso
    );
    let mut fake = random;
    fake[16 * 2048..16 * 2048 + 7].copy_from_slice(b"\x01CD001\x01");
    exercise(fake);

    if common::tool("xorriso").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = small_rr_image(tmp.path());

    // Cut in half: opens, says it is truncated, lists what it can.
    let half = img[..img.len() / 2].to_vec();
    let iso = IsoImage::open(half.clone()).unwrap();
    let a = iso.size_anomalies();
    assert_eq!(a[0].id, "image.truncated");
    assert_eq!(a[0].severity, Severity::Error);
    exercise(half);

    // Absurd primary descriptor sizes.
    let mut bad = img.clone();
    let pvd = 16 * 2048;
    put_both32(&mut bad, pvd + 80, u32::MAX);
    bad[pvd + 128..pvd + 130].copy_from_slice(&4096u16.to_le_bytes());
    bad[pvd + 130..pvd + 132].copy_from_slice(&4096u16.to_be_bytes());
    put_both32(&mut bad, pvd + 156 + 10, 0xFFFF_FFF0);
    let ids = exercise(bad);
    assert!(
        ids.contains(&"descriptor.impossible-value".to_owned()),
        "{ids:?}"
    );
    assert!(ids.contains(&"image.truncated".to_owned()), "{ids:?}");

    // Random damage all over the image, many times.
    for _ in 0..150 {
        let mut m = img.clone();
        for _ in 0..24 {
            let at = 16 * 2048 + rng.below((m.len() - 16 * 2048) as u64) as usize;
            m[at] = rng.next_u64() as u8;
        }
        exercise(m);
    }
}

#[test]
fn directory_pointing_to_itself() {
    if common::tool("xorriso").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut img = small_rr_image(tmp.path());
    let iso = IsoImage::open(img.clone()).unwrap();
    let dir = iso
        .lookup_in(Namespace::Iso9660, "/DIR")
        .unwrap()
        .unwrap()
        .extents[0];
    let sub = iso
        .lookup_in(Namespace::Iso9660, "/DIR/SUB")
        .unwrap()
        .unwrap()
        .extents[0];
    let base = dir.offset() as usize;
    let at = find(&img[base..base + dir.size as usize], b"\x03SUB").unwrap() + base - 32;
    assert_eq!(
        u64::from(u32::from_le_bytes(img[at + 2..at + 6].try_into().unwrap())),
        sub.lba
    );
    put_both32(&mut img, at + 2, dir.lba as u32);
    let iso = IsoImage::open(img).unwrap();
    for ns in [Namespace::Iso9660, Namespace::RockRidge] {
        let tree = iso.files(ns).unwrap();
        let ids: Vec<_> = tree.anomalies.iter().map(|a| a.id.as_str()).collect();
        assert!(ids.contains(&"tree.directory-loop"), "{ns:?}: {ids:?}");
    }
    assert!(iso.lookup("/dir/sub/sub/sub/x.cfg").is_err());
}

#[test]
fn continuation_area_loop() {
    if common::tool("xorriso").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut img = small_rr_image(tmp.path());
    let iso = IsoImage::open(img.clone()).unwrap();
    let long = format!("/dir/{}", "n".repeat(200));
    assert!(iso.lookup(&long).unwrap().is_some());
    let dir = iso
        .lookup_in(Namespace::Iso9660, "/DIR")
        .unwrap()
        .unwrap()
        .extents[0];
    let base = dir.offset() as usize;
    let ce = find(&img[base..base + dir.size as usize], b"CE\x1c\x01")
        .expect("xorriso wrote no CE entry")
        + base;
    let lba = u32::from_le_bytes(img[ce + 4..ce + 8].try_into().unwrap());
    let off = u32::from_le_bytes(img[ce + 12..ce + 16].try_into().unwrap());
    // The continuation area now starts with a CE pointing at itself.
    let area = lba as usize * 2048 + off as usize;
    img[area..area + 4].copy_from_slice(b"CE\x1c\x01");
    put_both32(&mut img, area + 4, lba);
    put_both32(&mut img, area + 12, off);
    put_both32(&mut img, area + 20, 28);
    let iso = IsoImage::open(img).unwrap();
    let tree = iso.files(Namespace::RockRidge).unwrap();
    let ids: Vec<_> = tree.anomalies.iter().map(|a| a.id.as_str()).collect();
    assert!(ids.contains(&"susp.ce-loop"), "{ids:?}");
    assert!(!tree.entries.iter().any(|e| e.path == long));
}

#[test]
fn truncated_file_reads_fail_cleanly() {
    if common::tool("xorriso").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = small_rr_image(tmp.path());
    let iso = IsoImage::open(img.clone()).unwrap();
    let e = iso.lookup(&format!("/dir/{LONG}")).unwrap().unwrap();
    let cut = e.extents[0].offset() as usize + 100;
    let iso = IsoImage::open(img[..cut].to_vec()).unwrap();
    assert_eq!(
        iso.read_file(&e, u64::MAX).unwrap_err().kind(),
        ErrorKind::Truncated
    );
    let tree = iso.files(Namespace::RockRidge).unwrap();
    let ids: Vec<_> = tree.anomalies.iter().map(|a| a.id.as_str()).collect();
    assert!(ids.contains(&"tree.extent-past-end"), "{ids:?}");
}

//! Tests of one directory's listing: names, broken records, Joliet
//! checks, the multi-extent section cap.

use super::*;
use crate::directory::build_record;
use crate::image::IsoImage;
use crate::testimg::TestImage;
use crate::tree::FileTree;

fn paths(t: &FileTree) -> Vec<&str> {
    t.entries.iter().map(|e| e.path.as_str()).collect()
}

fn ids(a: &[Anomaly]) -> Vec<&str> {
    a.iter().map(|a| a.id.as_str()).collect()
}

#[test]
fn names() {
    assert_eq!(iso_name(b"README.TXT;1"), "README.TXT");
    assert_eq!(iso_name(b"NOEXT.;1"), "NOEXT");
    assert_eq!(iso_name(b"DIR"), "DIR");
    assert_eq!(iso_name(b""), "");
    let j: Vec<u8> = "a;b.txt;1"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    assert_eq!(joliet_name(&j), "a;b.txt");
    let j: Vec<u8> = "x;y".encode_utf16().flat_map(u16::to_be_bytes).collect();
    assert_eq!(joliet_name(&j), "x;y");
}

#[test]
fn broken_records_are_skipped() {
    let mut t = TestImage::new();
    let d = t.dir(0, b"D", &[], 2);
    t.file(d, b"OK.;1", b"1", &[]);
    // Too short, then (after the sector skip) a record in the next sector.
    t.record(d, vec![7, 0, 0, 0]);
    let mut img = t.build();
    let base = t.dir_lba(d) as usize * 2048;
    let good = build_record(18, 1, 0, b"NEXT.;1", &[]);
    img[base + 2048..base + 2048 + good.len()].copy_from_slice(&good);
    // A record whose length runs past the sector end.
    img[base + 2048 + good.len() + 100] = 0; // padding: skip to next sector
    let iso = IsoImage::open(img.clone()).unwrap();
    let tree = iso.files(Namespace::Iso9660).unwrap();
    assert_eq!(paths(&tree), ["/D", "/D/OK", "/D/NEXT"]);
    assert_eq!(ids(&tree.anomalies), ["tree.bad-record"]);
    let mut img2 = img;
    img2[base + 2048 - 10] = 200;
    let tree = IsoImage::open(img2)
        .unwrap()
        .files(Namespace::Iso9660)
        .unwrap();
    assert_eq!(paths(&tree), ["/D", "/D/OK", "/D/NEXT"]);
}

/// Lists the root of `img` as a Joliet tree (the test image has no
/// supplementary descriptor; the records are what matters).
fn joliet_root(img: &[u8]) -> FileTree {
    let shared = crate::budget::ImageShared::default();
    let root = Extent {
        lba: u64::from(crate::testimg::ROOT_LBA),
        size: 2048,
    };
    let mut r =
        crate::tree::TreeReader::new(&img, img.len() as u64, Namespace::Joliet, root, 0, &shared);
    r.files().unwrap()
}

fn ucs2(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

#[test]
fn joliet_invalid_and_duplicate_names_are_reported() {
    let mut t = TestImage::new();
    let blob = t.blob(b"x");
    t.record(0, build_record(blob, 1, 0, &ucs2("a.txt;1"), &[]));
    t.record(0, build_record(blob, 1, 0, &ucs2("a.txt;1"), &[]));
    // An unpaired high surrogate, then an odd byte count.
    let mut bad = ucs2("b");
    bad.extend([0xD8, 0x00]);
    t.record(0, build_record(blob, 1, 0, &bad, &[]));
    let mut odd = ucs2("c");
    odd.push(b'd');
    t.record(0, build_record(blob, 1, 0, &odd, &[]));
    t.record(0, build_record(blob, 1, 0, &ucs2("ok"), &[]));
    let tree = joliet_root(&t.build());
    assert_eq!(
        paths(&tree),
        ["/a.txt", "/a.txt", "/b\u{FFFD}", "/c", "/ok"]
    );
    assert_eq!(
        ids(&tree.anomalies),
        [
            "joliet.duplicate-name",
            "joliet.invalid-name",
            "joliet.invalid-name"
        ]
    );
    assert!(tree.anomalies[0].message.contains("\"a.txt\""));
    // The same records in the ISO9660 namespace are not checked.
    let plain = IsoImage::open(t.build())
        .unwrap()
        .files(Namespace::Iso9660)
        .unwrap();
    assert!(!ids(&plain.anomalies)
        .iter()
        .any(|i| i.starts_with("joliet.")));
}

#[test]
fn multi_extent_sections_past_the_cap_are_dropped() {
    let mut t = TestImage::new();
    let n = MAX_SECTIONS_PER_FILE + 10;
    let d = t.dir(0, b"D", &[], (n / 50 + 2) as u32);
    let blob = t.blob(&[7u8; 2048]);
    for _ in 0..n {
        t.record(
            d,
            build_record(
                blob,
                2048,
                crate::directory::FileFlags::MULTI_EXTENT,
                b"B.;1",
                &[],
            ),
        );
    }
    t.record(d, build_record(blob, 5, 0, b"B.;1", &[]));
    let tree = IsoImage::open(t.build())
        .unwrap()
        .files(Namespace::Iso9660)
        .unwrap();
    assert_eq!(paths(&tree), ["/D", "/D/B"]);
    let b = &tree.entries[1];
    assert_eq!(b.extents.len(), MAX_SECTIONS_PER_FILE);
    assert_eq!(b.size, MAX_SECTIONS_PER_FILE as u64 * 2048);
    assert_eq!(ids(&tree.anomalies), ["tree.multi-extent-limit"]);
}

#[test]
fn garbage_record_after_a_good_one() {
    let mut t = TestImage::new();
    t.file(0, b"A.;1", b"1", &[]);
    let mut img = t.build();
    let base = crate::testimg::ROOT_LBA as usize * 2048;
    let a_len = img[base + 34 + 34] as usize;
    img[base + 68 + a_len] = 250;
    let tree = IsoImage::open(img)
        .unwrap()
        .files(Namespace::Iso9660)
        .unwrap();
    assert_eq!(paths(&tree), ["/A"]);
    assert_eq!(ids(&tree.anomalies), ["tree.bad-record"]);
}

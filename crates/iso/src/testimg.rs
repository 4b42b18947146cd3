//! Hand-built images for unit tests: a primary descriptor, a terminator and
//! directories placed block by block, so each test can plant exactly the
//! record (or the damage) it is about.

use crate::directory::{build_record, FileFlags};
use crate::susp::build_entry;

const SECTOR: usize = 2048;
/// Block of the root directory.
pub(crate) const ROOT_LBA: u32 = 20;

#[derive(Debug)]
enum Item {
    Raw(Vec<u8>),
    Dir {
        idx: usize,
        name: Vec<u8>,
        su: Vec<u8>,
    },
}

#[derive(Debug)]
struct Dir {
    lba: u32,
    sectors: u32,
    parent: usize,
    items: Vec<Item>,
    dotdot_su: Vec<u8>,
}

/// An image under construction.
#[derive(Debug)]
pub(crate) struct TestImage {
    rr: bool,
    dirs: Vec<Dir>,
    blobs: Vec<(u32, Vec<u8>)>,
    next_lba: u32,
}

/// Both-endian `u32` bytes.
pub(crate) fn both(v: u32) -> Vec<u8> {
    let mut d = v.to_le_bytes().to_vec();
    d.extend_from_slice(&v.to_be_bytes());
    d
}

/// An `NM` entry.
pub(crate) fn nm(name: &str) -> Vec<u8> {
    let mut d = vec![0u8];
    d.extend_from_slice(name.as_bytes());
    build_entry(b"NM", 1, &d)
}

/// A `PX` entry with `mode`.
pub(crate) fn px(mode: u32) -> Vec<u8> {
    let mut d = Vec::new();
    for v in [mode, 1, 0, 0, 1] {
        d.extend(both(v));
    }
    build_entry(b"PX", 1, &d)
}

impl TestImage {
    pub fn new() -> Self {
        TestImage {
            rr: false,
            dirs: vec![Dir {
                lba: ROOT_LBA,
                sectors: 1,
                parent: 0,
                items: Vec::new(),
                dotdot_su: Vec::new(),
            }],
            blobs: Vec::new(),
            next_lba: ROOT_LBA + 1,
        }
    }

    /// Adds `SP` and `ER` to the root's "." record.
    pub fn rock_ridge(mut self) -> Self {
        self.rr = true;
        self
    }

    /// Reserves `n` blocks; returns the first.
    pub fn alloc(&mut self, n: u32) -> u32 {
        let lba = self.next_lba;
        self.next_lba += n.max(1);
        lba
    }

    /// A new directory of `sectors` blocks inside `parent`, with `su` in its
    /// record. Returns its index.
    pub fn dir(&mut self, parent: usize, name: &[u8], su: &[u8], sectors: u32) -> usize {
        let lba = self.alloc(sectors);
        self.dirs.push(Dir {
            lba,
            sectors,
            parent,
            items: Vec::new(),
            dotdot_su: Vec::new(),
        });
        let idx = self.dirs.len() - 1;
        self.dirs[parent].items.push(Item::Dir {
            idx,
            name: name.to_vec(),
            su: su.to_vec(),
        });
        idx
    }

    /// Block of directory `idx`.
    pub fn dir_lba(&self, idx: usize) -> u32 {
        self.dirs[idx].lba
    }

    /// Sets the system-use area of directory `idx`'s ".." record.
    pub fn dotdot_su(&mut self, idx: usize, su: &[u8]) {
        self.dirs[idx].dotdot_su = su.to_vec();
    }

    /// A file with `data` in `parent`; returns its block.
    pub fn file(&mut self, parent: usize, name: &[u8], data: &[u8], su: &[u8]) -> u32 {
        let lba = self.blob(data);
        self.record(parent, build_record(lba, data.len() as u32, 0, name, su));
        lba
    }

    /// Places `data` in fresh blocks; returns the first.
    pub fn blob(&mut self, data: &[u8]) -> u32 {
        let lba = self.alloc(data.len().div_ceil(SECTOR) as u32);
        self.blobs.push((lba, data.to_vec()));
        lba
    }

    /// Adds a raw record to `parent`.
    pub fn record(&mut self, parent: usize, rec: Vec<u8>) {
        self.dirs[parent].items.push(Item::Raw(rec));
    }

    pub fn build(&self) -> Vec<u8> {
        let total = self.next_lba as usize;
        let mut img = vec![0u8; total * SECTOR];
        let pvd = 16 * SECTOR;
        img[pvd] = 1;
        img[pvd + 1..pvd + 6].copy_from_slice(b"CD001");
        img[pvd + 6] = 1;
        img[pvd + 40..pvd + 72].fill(b' ');
        img[pvd + 40..pvd + 44].copy_from_slice(b"TEST");
        img[pvd + 80..pvd + 88].copy_from_slice(&both(self.next_lba));
        for (off, v) in [(120usize, 1u16), (124, 1), (128, 2048)] {
            img[pvd + off..pvd + off + 2].copy_from_slice(&v.to_le_bytes());
            img[pvd + off + 2..pvd + off + 4].copy_from_slice(&v.to_be_bytes());
        }
        img[pvd + 140..pvd + 144].copy_from_slice(&18u32.to_le_bytes());
        let root = &self.dirs[0];
        let rec = build_record(
            root.lba,
            root.sectors * SECTOR as u32,
            FileFlags::DIRECTORY,
            &[0],
            &[],
        );
        img[pvd + 156..pvd + 156 + 34].copy_from_slice(&rec[..34]);
        img[pvd + 881] = 1;
        let term = 17 * SECTOR;
        img[term] = 255;
        img[term + 1..term + 6].copy_from_slice(b"CD001");
        img[term + 6] = 1;
        for (lba, data) in &self.blobs {
            let at = *lba as usize * SECTOR;
            img[at..at + data.len()].copy_from_slice(data);
        }
        for (i, d) in self.dirs.iter().enumerate() {
            let size = d.sectors * SECTOR as u32;
            let mut dot_su = Vec::new();
            if i == 0 && self.rr {
                dot_su = build_entry(b"SP", 1, &[0xBE, 0xEF, 0]);
                let mut er = vec![10, 0, 0, 1];
                er.extend_from_slice(b"RRIP_1991A");
                dot_su.extend(build_entry(b"ER", 1, &er));
            }
            let parent = &self.dirs[d.parent];
            let mut recs = vec![
                build_record(d.lba, size, FileFlags::DIRECTORY, &[0], &dot_su),
                build_record(
                    parent.lba,
                    parent.sectors * SECTOR as u32,
                    FileFlags::DIRECTORY,
                    &[1],
                    &d.dotdot_su,
                ),
            ];
            for it in &d.items {
                recs.push(match it {
                    Item::Raw(r) => r.clone(),
                    Item::Dir { idx, name, su } => {
                        let c = &self.dirs[*idx];
                        build_record(
                            c.lba,
                            c.sectors * SECTOR as u32,
                            FileFlags::DIRECTORY,
                            name,
                            su,
                        )
                    }
                });
            }
            let base = d.lba as usize * SECTOR;
            let mut pos = 0usize;
            for r in recs {
                if pos % SECTOR + r.len() > SECTOR {
                    pos = (pos / SECTOR + 1) * SECTOR;
                }
                assert!(pos + r.len() <= size as usize, "directory {i} overflows");
                img[base + pos..base + pos + r.len()].copy_from_slice(&r);
                pos += r.len();
            }
        }
        img
    }
}

/// Deterministic pseudo-random bytes (an LCG), for no-panic checks.
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

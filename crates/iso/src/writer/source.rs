//! Where file contents come from, and streaming them in fixed-size chunks.
//!
//! A [`FileSource`] is either bytes in memory, a host file read while the
//! image is written, or a generated [`Pattern`]. Streaming goes through
//! [`for_each_chunk`], which hands out chunks of [`CHUNK`] bytes (only the
//! last one shorter), so a caller can rely on 4-byte word alignment (the
//! boot info table checksum does) and memory stays at one buffer.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// Size of the buffer file data is streamed through.
pub(super) const CHUNK: usize = 64 * 1024;

/// Where the bytes of a file added to an image come from.
#[derive(Clone, PartialEq, Eq)]
pub enum FileSource {
    /// Bytes held in memory (small files: configuration, a boot program).
    Bytes(Vec<u8>),
    /// A file on the host, read in chunks while the image is written. Its
    /// size is taken when the image is laid out; writing fails if it changed.
    HostFile(PathBuf),
    /// `size` bytes of `pattern`, generated while the image is written.
    Generated {
        /// What the bytes are.
        pattern: Pattern,
        /// How many bytes.
        size: u64,
    },
}

impl FileSource {
    /// Bytes held in memory.
    pub fn bytes(data: impl Into<Vec<u8>>) -> Self {
        FileSource::Bytes(data.into())
    }

    /// A host file, streamed.
    pub fn host_file(path: impl Into<PathBuf>) -> Self {
        FileSource::HostFile(path.into())
    }

    /// `size` zero bytes.
    pub fn zeros(size: u64) -> Self {
        FileSource::Generated {
            pattern: Pattern::Zeros,
            size,
        }
    }

    /// `size` bytes of [`Pattern::PseudoRandom`] with `seed`.
    pub fn pseudo_random(size: u64, seed: u64) -> Self {
        FileSource::Generated {
            pattern: Pattern::PseudoRandom { seed },
            size,
        }
    }

    /// The size when it is known without touching the host.
    pub(super) fn known_size(&self) -> Option<u64> {
        match self {
            FileSource::Bytes(b) => Some(b.len() as u64),
            FileSource::HostFile(_) => None,
            FileSource::Generated { size, .. } => Some(*size),
        }
    }
}

impl fmt::Debug for FileSource {
    // Bytes may be megabytes: show their length, not their content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            FileSource::HostFile(p) => f.debug_tuple("HostFile").field(p).finish(),
            FileSource::Generated { pattern, size } => f
                .debug_struct("Generated")
                .field("pattern", pattern)
                .field("size", size)
                .finish(),
        }
    }
}

/// Generated file contents. Every pattern is addressable by offset, so a
/// reader (a test, a boot program's checker) can regenerate any byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// All zero bytes.
    Zeros,
    /// Deterministic pseudo-random bytes: 8-byte little-endian words, word
    /// `i` being the SplitMix64 output for `seed + (i + 1) * 0x9E3779B97F4A7C15`.
    PseudoRandom {
        /// Selects the sequence.
        seed: u64,
    },
}

impl Pattern {
    /// Fills `buf` with the pattern's bytes at `offset..offset + buf.len()`.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let seed = match self {
            Pattern::Zeros => {
                buf.fill(0);
                return;
            }
            Pattern::PseudoRandom { seed } => *seed,
        };
        let mut pos = offset;
        let mut rest = buf;
        // Unaligned head, then whole words, then the tail.
        let head = ((8 - pos % 8) % 8) as usize;
        if head > 0 {
            let n = head.min(rest.len());
            let word = random_word(seed, pos / 8).to_le_bytes();
            let at = (pos % 8) as usize;
            rest[..n].copy_from_slice(&word[at..at + n]);
            rest = &mut rest[n..];
            pos += n as u64;
        }
        let mut words = rest.chunks_exact_mut(8);
        let mut index = pos / 8;
        for chunk in &mut words {
            chunk.copy_from_slice(&random_word(seed, index).to_le_bytes());
            index += 1;
        }
        let tail = words.into_remainder();
        if !tail.is_empty() {
            let n = tail.len();
            tail.copy_from_slice(&random_word(seed, index).to_le_bytes()[..n]);
        }
    }
}

fn random_word(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The size `source` will have in the image; `stat`s host files.
pub(super) fn source_size(source: &FileSource, image_path: &str) -> Result<u64> {
    match source {
        FileSource::HostFile(host) => {
            let meta = std::fs::metadata(host).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "host file `{}` for `{image_path}` cannot be read: {e}",
                        host.display()
                    ),
                )
            })?;
            if !meta.is_file() {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "host path `{}` for `{image_path}` is not a regular file",
                        host.display()
                    ),
                ));
            }
            Ok(meta.len())
        }
        other => Ok(other.known_size().unwrap_or(0)),
    }
}

/// Calls `f` with the contents of `source`, `size` bytes in all, in chunks
/// of [`CHUNK`] bytes (in-memory bytes come as one chunk). `image_offset`
/// only labels errors. A host file whose size is no longer `size` is an
/// error.
pub(super) fn for_each_chunk(
    source: &FileSource,
    size: u64,
    image_path: &str,
    image_offset: u64,
    mut f: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    match source {
        FileSource::Bytes(data) => {
            if !data.is_empty() {
                f(data)?;
            }
            Ok(())
        }
        FileSource::Generated { pattern, .. } => {
            let mut buf = vec![0u8; CHUNK];
            let mut done = 0u64;
            while done < size {
                let n = chunk_len(size - done);
                pattern.fill(done, &mut buf[..n]);
                f(&buf[..n])?;
                done += n as u64;
            }
            Ok(())
        }
        FileSource::HostFile(host) => {
            let what = || format!("reading host file `{}` for `{image_path}`", host.display());
            let mut file = File::open(host).map_err(|e| Error::io(what(), image_offset, e))?;
            let mut buf = vec![0u8; CHUNK];
            let mut done = 0u64;
            while done < size {
                let n = chunk_len(size - done);
                let mut filled = 0;
                while filled < n {
                    match file.read(&mut buf[filled..n]) {
                        Ok(0) => return Err(changed(host, image_path, size)),
                        Ok(k) => filled += k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(Error::io(what(), image_offset + done, e)),
                    }
                }
                f(&buf[..n])?;
                done += n as u64;
            }
            let mut probe = [0u8; 1];
            match file.read(&mut probe) {
                Ok(0) => Ok(()),
                Ok(_) => Err(changed(host, image_path, size)),
                Err(e) => Err(Error::io(what(), image_offset + done, e)),
            }
        }
    }
}

fn chunk_len(remaining: u64) -> usize {
    usize::try_from(remaining).map_or(CHUNK, |r| r.min(CHUNK))
}

fn changed(host: &std::path::Path, image_path: &str, size: u64) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "host file `{}` for `{image_path}` is no longer {size} bytes; it changed while \
             the image was written",
            host.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(source: &FileSource, size: u64) -> Result<Vec<Vec<u8>>> {
        let mut chunks = Vec::new();
        for_each_chunk(source, size, "/f", 0, |c| {
            chunks.push(c.to_vec());
            Ok(())
        })?;
        Ok(chunks)
    }

    #[test]
    fn pattern_is_addressable_by_offset() {
        let p = Pattern::PseudoRandom { seed: 7 };
        let mut whole = vec![0u8; 100];
        p.fill(0, &mut whole);
        for start in [0usize, 1, 5, 8, 13, 64] {
            for len in [0usize, 1, 3, 8, 20] {
                let mut part = vec![0u8; len];
                p.fill(start as u64, &mut part);
                assert_eq!(part, whole[start..start + len], "{start}+{len}");
            }
        }
        assert_ne!(whole, vec![0u8; 100]);
        let mut other = vec![0u8; 100];
        Pattern::PseudoRandom { seed: 8 }.fill(0, &mut other);
        assert_ne!(whole, other);
    }

    #[test]
    fn generated_chunks_are_full_but_the_last() {
        let size = CHUNK as u64 * 2 + 5;
        let chunks = collect(&FileSource::pseudo_random(size, 1), size).unwrap();
        let lens: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(lens, [CHUNK, CHUNK, 5]);
        let mut expect = vec![0u8; 5];
        Pattern::PseudoRandom { seed: 1 }.fill(2 * CHUNK as u64, &mut expect);
        assert_eq!(chunks[2], expect);
    }

    #[test]
    fn host_file_that_changed_size_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![9u8; 1000]).unwrap();
        let src = FileSource::host_file(&path);
        assert_eq!(source_size(&src, "/f").unwrap(), 1000);
        assert_eq!(collect(&src, 1000).unwrap().concat(), vec![9u8; 1000]);
        let short = collect(&src, 1001).unwrap_err();
        assert_eq!(short.kind(), ErrorKind::InvalidInput);
        assert!(collect(&src, 999).is_err());
        let missing = source_size(&FileSource::host_file(dir.path().join("no")), "/f");
        assert_eq!(missing.unwrap_err().kind(), ErrorKind::InvalidInput);
        let a_dir = source_size(&FileSource::host_file(dir.path()), "/f");
        assert_eq!(a_dir.unwrap_err().kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn debug_does_not_dump_bytes() {
        let s = format!("{:?}", FileSource::bytes(vec![0u8; 4096]));
        assert_eq!(s, "Bytes(4096 bytes)");
    }
}

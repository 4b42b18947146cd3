//! Positioned reads from whatever holds an image.
//!
//! The reader never loads an image: every structure is fetched with a
//! positioned read of the few sectors it lives in. [`ReadAt`] is that one
//! capability. It is implemented for [`std::fs::File`] (regular files and
//! block devices, through `pread`), for byte slices and vectors (tests and
//! the fuzz target), and for references to either.

use std::io;

/// A source of bytes that can be read at any offset without a cursor.
///
/// Implementations must be safe to call from several places in turn; the
/// reader never relies on a file position.
pub trait ReadAt {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read.
    /// Fewer bytes than asked (including zero) means the end of the source.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// The size of the source in bytes.
    fn size(&self) -> io::Result<u64>;

    /// Fills `buf` from `offset`, or fails with [`io::ErrorKind::UnexpectedEof`].
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "read past the end of the image",
                    ))
                }
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl ReadAt for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        let meta = self.metadata()?;
        if meta.is_file() {
            return Ok(meta.len());
        }
        // Block devices report 0 in st_size; seeking to the end gives their size.
        // `Seek` needs `&mut`, but `&File` implements it too.
        use std::io::Seek;
        let mut f = self;
        let end = f.seek(io::SeekFrom::End(0))?;
        Ok(end)
    }
}

impl ReadAt for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= self.len() {
            return Ok(0);
        }
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.as_slice().read_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        (**self).read_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Box<T> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        (**self).read_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_reads_stop_at_the_end() {
        let data: Vec<u8> = (0..10).collect();
        let mut buf = [0u8; 4];
        assert_eq!(data.read_at(&mut buf, 8).unwrap(), 2);
        assert_eq!(&buf[..2], &[8, 9]);
        assert_eq!(data.read_at(&mut buf, 10).unwrap(), 0);
        assert_eq!(data.read_at(&mut buf, u64::MAX).unwrap(), 0);
        assert!(data.read_exact_at(&mut buf, 7).is_err());
        data.read_exact_at(&mut buf, 6).unwrap();
        assert_eq!(buf, [6, 7, 8, 9]);
    }

    #[test]
    fn file_size_and_reads() {
        use std::io::Write;
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"hello world").unwrap();
        assert_eq!(ReadAt::size(&f).unwrap(), 11);
        let mut buf = [0u8; 5];
        ReadAt::read_exact_at(&f, &mut buf, 6).unwrap();
        assert_eq!(&buf, b"world");
    }
}

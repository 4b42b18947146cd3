//! The thing being read: an ISO file or a block device, opened read-only,
//! buffered or with O_DIRECT.
//!
//! [`Target::open`] classifies everything that can go wrong before a
//! benchmark starts (missing path, a directory, an empty file, a filesystem
//! that refuses O_DIRECT) into an [`ErrorKind`] the CLI can explain, and
//! works out the [`Alignment`] O_DIRECT requests need:
//!
//! 1. `statx(STATX_DIOALIGN)` (Linux 6.1 for files, 6.11 for block devices):
//!    `stx_dio_mem_align` / `stx_dio_offset_align`, where 0 means O_DIRECT is
//!    not supported on this file. When the kernel also reports
//!    `STATX_DIO_READ_ALIGN` (6.14), its smaller read-only offset alignment
//!    is used, since isotune only reads.
//! 2. Otherwise, for a block device, its logical block size (`BLKSSZGET`).
//! 3. Otherwise, probing: a 512-byte O_DIRECT read, then a 4096-byte one.
//!
//! Every O_DIRECT target is then read once at offset 0, because some
//! filesystems accept `open(O_DIRECT)` and only fail the first read with
//! `EINVAL`. The target is never written to.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, StatxFlags};
use serde::{Deserialize, Serialize};

use crate::align::{round_up, AlignedBuf, PAGE_ALIGN};
use crate::{Error, ErrorKind, Result};

/// `STATX_DIO_READ_ALIGN` (Linux 6.14); not every `rustix` names it yet.
const STATX_DIO_READ_ALIGN: u32 = 0x0002_0000;

/// How to open a target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// Open with O_DIRECT (bypass the page cache).
    pub direct: bool,
}

/// What kind of file the target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// A regular file (an ISO image).
    File,
    /// A block device (`/dev/sr0`, `/dev/loop0`, a partition...).
    BlockDevice,
    /// An image served over HTTP or HTTPS.
    Http,
    /// An NBD export.
    Nbd,
}

/// The alignment reads must respect, in bytes. Both are 1 for buffered
/// targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alignment {
    /// Alignment of the buffer address (`stx_dio_mem_align`).
    pub memory: usize,
    /// Alignment of request offsets and lengths (`stx_dio_offset_align`).
    pub offset: usize,
}

impl Alignment {
    /// No constraint (buffered I/O).
    pub const NONE: Alignment = Alignment {
        memory: 1,
        offset: 1,
    };
}

/// An opened, read-only target.
#[derive(Debug)]
pub struct Target {
    path: PathBuf,
    file: File,
    size_bytes: u64,
    kind: TargetKind,
    direct: bool,
    alignment: Alignment,
    identity: Identity,
}

/// Device and inode, to recognise the same file opened a second time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    dev: (u32, u32),
    ino: u64,
}

impl Target {
    /// Opens `path` read-only (close-on-exec, plus O_DIRECT when
    /// `options.direct`).
    ///
    /// Errors: [`ErrorKind::NotFound`], [`ErrorKind::NotReadable`] (a
    /// directory, socket, FIFO, character device, or no permission),
    /// [`ErrorKind::TooSmall`] (empty), [`ErrorKind::DirectUnsupported`]
    /// (the filesystem or device refuses O_DIRECT), [`ErrorKind::Io`].
    pub fn open(path: &Path, options: TargetOptions) -> Result<Target> {
        // isotune-input opens with O_NONBLOCK (a FIFO is refused without
        // blocking), checks the kind with fstat on the open file and turns
        // O_NONBLOCK off again (io_uring honours it on regular files too).
        let (file, _) = isotune_input::open_image(path).map_err(|e| input_error(path, e))?;
        if options.direct {
            // Linux takes O_DIRECT through F_SETFL; a filesystem that cannot
            // do it says EINVAL there, as it would on open.
            let flags = rustix::fs::fcntl_getfl(&file)
                .map_err(|e| Error::io("cannot read the file flags", e.into()).with_path(path))?;
            rustix::fs::fcntl_setfl(&file, flags | rustix::fs::OFlags::DIRECT)
                .map_err(|e| open_error(path, true, e.into()))?;
        }

        let mut mask = StatxFlags::BASIC_STATS;
        if options.direct {
            mask |= StatxFlags::DIOALIGN | StatxFlags::from_bits_retain(STATX_DIO_READ_ALIGN);
        }
        let stx = rustix::fs::statx(&file, "", AtFlags::EMPTY_PATH, mask)
            .map_err(|e| Error::io("cannot stat the opened target", e.into()).with_path(path))?;
        let file_type = FileType::from_raw_mode(stx.stx_mode.into());
        let kind = check_file_type(path, file_type)?;
        let identity = Identity {
            dev: (stx.stx_dev_major, stx.stx_dev_minor),
            ino: stx.stx_ino,
        };

        let size_bytes = match kind {
            // check_file_type gives File or BlockDevice only.
            TargetKind::File | TargetKind::Http | TargetKind::Nbd => stx.stx_size,
            // A block device's inode size is 0; its size is where SEEK_END lands.
            TargetKind::BlockDevice => (&file).seek(SeekFrom::End(0)).map_err(|e| {
                Error::io("cannot find the size of the block device", e).with_path(path)
            })?,
        };
        if size_bytes == 0 {
            return Err(
                Error::new(ErrorKind::TooSmall, "is empty (0 bytes); nothing to read")
                    .with_path(path),
            );
        }

        let alignment = if options.direct {
            direct_alignment(path, &file, kind, &stx)?
        } else {
            Alignment::NONE
        };

        Ok(Target {
            path: path.to_owned(),
            file,
            size_bytes,
            kind,
            direct: options.direct,
            alignment,
            identity,
        })
    }

    /// The path the target was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size in bytes (file length, or block device capacity).
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// File or block device.
    pub fn kind(&self) -> TargetKind {
        self.kind
    }

    /// Whether the target was opened with O_DIRECT.
    pub fn direct(&self) -> bool {
        self.direct
    }

    /// The alignment reads must respect.
    pub fn alignment(&self) -> Alignment {
        self.alignment
    }

    /// The open file (read-only).
    pub fn file(&self) -> &File {
        &self.file
    }

    pub(crate) fn identity(&self) -> Identity {
        self.identity
    }

    /// Pretends the target is O_DIRECT with `alignment`, to test request
    /// checks against alignments this machine's filesystems do not have.
    #[cfg(test)]
    pub(crate) fn with_direct_alignment(mut self, alignment: Alignment) -> Target {
        self.direct = true;
        self.alignment = alignment;
        self
    }
}

/// Device and inode of an open file.
pub(crate) fn identity_of(file: &File) -> io::Result<Identity> {
    let stx = rustix::fs::statx(file, "", AtFlags::EMPTY_PATH, StatxFlags::INO)?;
    Ok(Identity {
        dev: (stx.stx_dev_major, stx.stx_dev_minor),
        ino: stx.stx_ino,
    })
}

fn check_file_type(path: &Path, file_type: FileType) -> Result<TargetKind> {
    let what = match file_type {
        FileType::RegularFile => return Ok(TargetKind::File),
        FileType::BlockDevice => return Ok(TargetKind::BlockDevice),
        FileType::Directory => "is a directory",
        FileType::Fifo => "is a FIFO",
        FileType::Socket => "is a socket",
        FileType::CharacterDevice => "is a character device",
        _ => "is not a regular file",
    };
    Err(Error::new(
        ErrorKind::NotReadable,
        format!("{what}; give an ISO image file or a block device"),
    )
    .with_path(path))
}

/// Maps an error of `isotune_input::open_image` to this crate's kinds.
fn input_error(path: &Path, err: isotune_input::InputError) -> Error {
    use std::os::unix::fs::FileTypeExt;
    match err {
        // open(2) of a socket fails with ENXIO before fstat can name it.
        isotune_input::InputError::Io { source, .. }
            if source.raw_os_error() == Some(libc::ENXIO)
                && std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket()) =>
        {
            Error::new(
                ErrorKind::NotReadable,
                "is a socket; give an ISO image file or a block device",
            )
            .with_path(path)
        }
        isotune_input::InputError::Io { source, .. } => open_error(path, false, source),
        other => Error::new(
            ErrorKind::NotReadable,
            format!(
                "{}; give an ISO image file or a block device",
                strip_path(path, &other)
            ),
        )
        .with_path(path),
    }
}

/// The message of `err` without the leading "PATH: " it starts with.
fn strip_path(path: &Path, err: &isotune_input::InputError) -> String {
    let text = err.to_string();
    text.strip_prefix(&format!("{}: ", path.display()))
        .map(str::to_owned)
        .unwrap_or(text)
}

/// Maps an error from `stat` or `open` to the kind the CLI explains.
pub(crate) fn open_error(path: &Path, direct: bool, err: io::Error) -> Error {
    let (kind, message) = match (err.raw_os_error(), err.kind()) {
        (Some(libc::EINVAL), _) if direct => return direct_unsupported(path, Some(err)),
        (_, io::ErrorKind::NotFound) | (Some(libc::ENOTDIR), _) => {
            (ErrorKind::NotFound, "cannot open")
        }
        (_, io::ErrorKind::PermissionDenied) => {
            (ErrorKind::NotReadable, "cannot be opened for reading")
        }
        // ENXIO: a socket, or a device node without a driver behind it.
        (Some(libc::ENXIO | libc::ENODEV), _) => {
            (ErrorKind::NotReadable, "cannot be opened for reading")
        }
        _ => (ErrorKind::Io, "cannot be opened"),
    };
    Error::io(message, err).with_kind(kind).with_path(path)
}

/// The error for a filesystem or device that refuses O_DIRECT.
pub(crate) fn direct_unsupported(path: &Path, source: Option<io::Error>) -> Error {
    let message = "the filesystem refuses O_DIRECT; run without --direct";
    match source {
        Some(err) => Error::io(message, err),
        None => Error::new(ErrorKind::DirectUnsupported, message),
    }
    .with_kind(ErrorKind::DirectUnsupported)
    .with_path(path)
}

fn direct_alignment(
    path: &Path,
    file: &File,
    kind: TargetKind,
    stx: &rustix::fs::Statx,
) -> Result<Alignment> {
    if stx.stx_mask & StatxFlags::DIOALIGN.bits() != 0 {
        if stx.stx_dio_offset_align == 0 {
            return Err(direct_unsupported(path, None));
        }
        let read_align = stx.stx_dio_read_offset_align;
        let offset = if stx.stx_mask & STATX_DIO_READ_ALIGN != 0 && read_align != 0 {
            read_align.min(stx.stx_dio_offset_align)
        } else {
            stx.stx_dio_offset_align
        };
        let alignment = Alignment {
            memory: stx.stx_dio_mem_align.max(1) as usize,
            offset: offset as usize,
        };
        first_read(path, file, alignment)?;
        return Ok(alignment);
    }
    if kind == TargetKind::BlockDevice {
        if let Ok(logical) = rustix::fs::ioctl_blksszget(file) {
            let logical = logical.max(512) as usize;
            let alignment = Alignment {
                memory: logical,
                offset: logical,
            };
            first_read(path, file, alignment)?;
            return Ok(alignment);
        }
    }
    // Nothing reported: the smallest alignment a first read accepts.
    let mut last = None;
    for align in [512, 4096] {
        let alignment = Alignment {
            memory: align,
            offset: align,
        };
        match first_read(path, file, alignment) {
            Ok(()) => return Ok(alignment),
            Err(e) if e.kind() == ErrorKind::DirectUnsupported => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| direct_unsupported(path, None)))
}

/// Reads one aligned block at offset 0; `EINVAL` means O_DIRECT is refused.
fn first_read(path: &Path, file: &File, alignment: Alignment) -> Result<()> {
    let len = round_up(alignment.offset.max(1), alignment.offset);
    let mut buf = AlignedBuf::new(len, alignment.memory.max(PAGE_ALIGN));
    loop {
        return match file.read_at(buf.as_mut_slice(), 0) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                Err(direct_unsupported(path, Some(e)))
            }
            Err(e) => Err(Error::io("the first O_DIRECT read failed", e).with_path(path)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(len: usize) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&vec![0xa5; len]).unwrap();
        f.flush().unwrap();
        f
    }

    #[test]
    fn opens_a_regular_file_buffered() {
        let f = temp_file(10_000);
        let t = Target::open(f.path(), TargetOptions::default()).unwrap();
        assert_eq!(t.size_bytes(), 10_000);
        assert_eq!(t.kind(), TargetKind::File);
        assert!(!t.direct());
        assert_eq!(t.alignment(), Alignment::NONE);
        assert_eq!(t.path(), f.path());
        assert_eq!(t.file().metadata().unwrap().len(), 10_000);
    }

    #[test]
    fn opens_a_regular_file_direct() {
        let f = temp_file(1 << 16);
        let t = Target::open(f.path(), TargetOptions { direct: true }).unwrap();
        assert!(t.direct());
        let a = t.alignment();
        assert!(a.offset.is_power_of_two() && a.offset >= 1, "{a:?}");
        assert!(a.memory.is_power_of_two(), "{a:?}");
    }

    #[test]
    fn missing_path_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.iso");
        for direct in [false, true] {
            let err = Target::open(&missing, TargetOptions { direct }).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert!(err.to_string().contains("nope.iso"), "{err}");
        }
        let under_file = temp_file(1);
        let err = Target::open(&under_file.path().join("x"), TargetOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn directory_is_not_readable() {
        let dir = tempfile::tempdir().unwrap();
        let err = Target::open(dir.path(), TargetOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotReadable);
        assert!(err.to_string().contains("is a directory"), "{err}");
    }

    #[test]
    fn socket_and_fifo_are_not_readable() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let err = Target::open(&sock, TargetOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotReadable);
        assert!(err.to_string().contains("socket"), "{err}");

        let fifo = dir.path().join("f");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Must return at once rather than block waiting for a writer.
        let err = Target::open(&fifo, TargetOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotReadable);
        assert_eq!(
            err.to_string(),
            format!(
                "{}: is a FIFO (named pipe), expected an image file or a block device; \
                 give an ISO image file or a block device",
                fifo.display()
            )
        );
    }

    #[test]
    fn empty_file_is_too_small() {
        let f = temp_file(0);
        let err = Target::open(f.path(), TargetOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooSmall);
    }

    #[test]
    fn einval_with_direct_means_direct_unsupported() {
        let p = Path::new("/x.iso");
        let e = open_error(p, true, io::Error::from_raw_os_error(libc::EINVAL));
        assert_eq!(e.kind(), ErrorKind::DirectUnsupported);
        assert!(e.to_string().contains("run without --direct"), "{e}");
        assert!(e.to_string().starts_with("/x.iso: "), "{e}");
        let e = open_error(p, false, io::Error::from_raw_os_error(libc::EINVAL));
        assert_eq!(e.kind(), ErrorKind::Io);
        let e = open_error(p, false, io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(e.kind(), ErrorKind::NotReadable);
    }

    /// kernfs (sysfs) files are regular files that refuse O_DIRECT at open.
    #[test]
    fn sysfs_file_refuses_direct() {
        let p = Path::new("/sys/kernel/mm/transparent_hugepage/enabled");
        if !p.exists() {
            return isotune_testutil::skip(&format!("{} is missing (no sysfs)", p.display()));
        }
        let err = Target::open(p, TargetOptions { direct: true }).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DirectUnsupported, "{err}");
    }

    #[test]
    fn target_kind_serialises_kebab_case() {
        assert_eq!(
            serde_json::to_string(&TargetKind::BlockDevice).unwrap(),
            "\"block-device\""
        );
        assert_eq!(
            serde_json::to_string(&TargetKind::File).unwrap(),
            "\"file\""
        );
    }
}

//! The scan's one public error. Every variant names the input it is about;
//! the message never repeats its `#[source]`.

use std::path::PathBuf;

/// Why the scan (or one input of it) could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `--sysroot` is not a directory.
    #[error("{}: not a directory (--sysroot wants a captured tree)", path.display())]
    SysrootNotDir {
        /// The path given.
        path: PathBuf,
    },
    /// An input file was refused or could not be read (FIFO, socket,
    /// oversize, unreadable).
    #[error(transparent)]
    Input(#[from] isotune_input::InputError),
    /// A file asked about could not be examined. The host's error names
    /// the file (its [`path`](isotune_host::Error::path)) and the
    /// operation, so this variant adds nothing to its message.
    #[error(transparent)]
    Host(#[from] isotune_host::Error),
    /// A libvirt XML file is not a usable domain definition.
    #[error("{}", path.display())]
    Xml {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// The parser's reason.
        #[source]
        source: isotune_vmconfig::Error,
    },
    /// A file or directory given with `--xml` holds no domain.
    #[error("{}: no domain definition", path.display())]
    NoDomain {
        /// The path given.
        path: PathBuf,
    },
    /// A Proxmox config directory cannot be listed.
    #[error("{}: cannot read the Proxmox configs", path.display())]
    Proxmox {
        /// The directory given.
        path: PathBuf,
        /// Why.
        #[source]
        source: isotune_vmconfig::Error,
    },
    /// libvirt, asked for with `--connect`, could not be read, and there
    /// was nothing else to analyse.
    #[error("{warning}")]
    Libvirt {
        /// What went wrong (unreachable, refused, timed out).
        warning: isotune_libvirt::LibvirtWarning,
    },
    /// A `--qemu-cmdline` string cannot be split.
    #[error("--qemu-cmdline #{index}")]
    Cmdline {
        /// 1-based position among the command lines given.
        index: usize,
        /// The splitter's reason.
        #[source]
        source: isotune_vmconfig::Error,
    },
    /// A `--qemu-cmdline` string is empty.
    #[error("--qemu-cmdline #{index}: empty command line")]
    EmptyCmdline {
        /// 1-based position among the command lines given.
        index: usize,
    },
    /// A line of a capture's `isotune-capture.tsv` is malformed.
    #[error("{}: line {line}: {problem}", path.display())]
    Capture {
        /// The TSV file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// The capture does not list the ISO asked about.
    #[error("{}: not in the capture {}", iso.display(), tsv.display())]
    NotCaptured {
        /// The ISO asked about.
        iso: PathBuf,
        /// The capture's TSV.
        tsv: PathBuf,
    },
    /// The integrity pass could not read the image.
    #[error("cannot verify {}", path.display())]
    Verify {
        /// The image.
        path: PathBuf,
        /// Why.
        #[source]
        source: isotune_verify::Error,
    },
    /// A checksum given with `--expect` is not a digest.
    #[error("--expect {hex}")]
    Expected {
        /// The value given.
        hex: String,
        /// Why.
        #[source]
        source: isotune_verify::Error,
    },
    /// The sample image could not be written.
    #[error("cannot write the sample image {}", path.display())]
    Sample {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    pub(crate) fn sample(
        path: &std::path::Path,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Sample {
            path: path.to_owned(),
            source: source.into(),
        }
    }
}

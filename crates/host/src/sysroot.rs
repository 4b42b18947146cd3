//! [`SysRoot`]: the directory under which `/proc`, `/sys`, `/dev` and `/etc`
//! are read. `/` on a live host; a captured tree in tests.

use std::path::{Path, PathBuf};

/// The root every host reader works under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysRoot {
    root: PathBuf,
}

impl Default for SysRoot {
    fn default() -> Self {
        SysRoot::live()
    }
}

impl SysRoot {
    /// This machine (`/`).
    pub fn live() -> Self {
        SysRoot {
            root: PathBuf::from("/"),
        }
    }

    /// A captured tree.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        SysRoot { root: root.into() }
    }

    /// Whether this is the live root (so syscalls such as statx on the ISO
    /// and /dev/kvm access checks describe the same host).
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// An absolute host path (`/proc/meminfo`) under this root.
    pub fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let abs = abs.as_ref();
        self.root.join(abs.strip_prefix("/").unwrap_or(abs))
    }
}

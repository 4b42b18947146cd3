//! Where a report goes (stdout or `--output FILE`) and how JSON is written.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;

/// Opens a report file, refusing to replace any of `inputs` (an image being
/// read must never be overwritten, even through a symlink or a second name).
pub fn open_beside(path: &Path, inputs: &[&Path]) -> Result<Box<dyn Write>> {
    refuse_inputs(path, inputs)?;
    open(Some(path))
}

/// Fails when `path` is one of `inputs` (same device and inode).
pub fn refuse_inputs(path: &Path, inputs: &[&Path]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(out) = std::fs::metadata(path) {
        for input in inputs {
            if let Ok(inp) = std::fs::metadata(input) {
                if out.dev() == inp.dev() && out.ino() == inp.ino() {
                    anyhow::bail!(
                        "refusing to write the report to {}: it is the image being read ({})",
                        path.display(),
                        input.display()
                    );
                }
            }
        }
    }
    Ok(())
}

/// Writes a report file all-or-nothing (a temporary file beside it, then
/// a rename), refusing to replace any of `inputs`. `render` fills the bytes.
pub fn write_beside(
    path: &Path,
    inputs: &[&Path],
    render: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    refuse_inputs(path, inputs)?;
    let mut buf = Vec::new();
    render(&mut buf)?;
    isotune_input::atomic::write_file(path, &buf)?;
    Ok(())
}

/// Opens the report destination: the file named by `--output`, or stdout.
pub fn open(path: Option<&Path>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    })
}

/// Writes `value` as pretty JSON followed by a newline.
pub fn json<T: Serialize>(out: &mut dyn Write, value: &T) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Whether human output should use colour.
pub fn color(choice: crate::args::ColorChoice) -> bool {
    match choice {
        crate::args::ColorChoice::Always => true,
        crate::args::ColorChoice::Never => false,
        crate::args::ColorChoice::Auto => {
            io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    }
}

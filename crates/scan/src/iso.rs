//! One ISO's facts: the storage chain and filesystem under it (or, for a
//! block device, the device's own chain), page-cache residency, and what
//! its volume descriptor says; a capture's `isotune-capture.tsv` stands in
//! for the live `statx` under `--sysroot`. Also the boot trace the bench
//! replays, built from the same boot-file model as the image facts.

use std::path::{Path, PathBuf};

use isotune_doctor::{BootFacts, BootFileFact, ImageFacts, VolumeRead};
use isotune_host::{DevNum, FileFacts, SysRoot};
use isotune_iso::report::InspectReport;

use crate::report::Warning;
use crate::Error;

/// The live facts of `iso`, plus its image facts from the volume
/// descriptor (cheap: one sector) when it is an ISO9660 image.
pub(crate) fn live(
    iso: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<(FileFacts, Option<ImageFacts>), Error> {
    let mut facts = isotune_host::file_facts(&SysRoot::live(), iso)?;
    // Refuses a FIFO or socket before anything reads it.
    let (file, _) = isotune_input::open_image(iso)?;
    if facts.size_bytes == 0 {
        // Nothing to be resident; the image findings say what is wrong.
    } else if let Err(e) = isotune_bench::target::Target::open(iso, Default::default())
        .and_then(|t| isotune_bench::cache::resident_bytes(&t))
        .map(|(bytes, _)| facts.resident_bytes = Some(bytes))
    {
        warnings.push(Warning::File {
            path: iso.to_owned(),
            message: format!("page-cache residency not measured: {e}"),
        });
    }
    // Not an ISO9660 image (or unreadable): the host rules still apply;
    // `check` and `inspect` say what is wrong with the image.
    let image = isotune_iso::IsoImage::open(file).ok().map(|img| {
        descriptor_facts(
            iso.to_owned(),
            img.file_size(),
            img.primary().volume_bytes(),
        )
    });
    Ok((facts, image))
}

/// File facts from a capture made by `scripts/capture-host OUTDIR PATH...`:
/// its `isotune-capture.tsv` (read with the text cap) gives each captured
/// path's device number and size; the tree gives the mount and chain.
pub(crate) fn captured(root: &SysRoot, iso: &Path) -> Result<FileFacts, Error> {
    let tsv = root.path("/isotune-capture.tsv");
    let text = isotune_input::read_to_string_capped(
        &tsv,
        isotune_input::caps::TEXT_FILE_BYTES,
        "a capture's isotune-capture.tsv",
    )?;
    for (n, line) in text.lines().enumerate() {
        let bad = |problem| Error::Capture {
            path: tsv.clone(),
            line: n + 1,
            problem,
        };
        let mut cols = line.split('\t');
        let (Some(path), Some(dev), Some(size)) = (cols.next(), cols.next(), cols.next()) else {
            return Err(bad("expected PATH, MAJ:MIN and SIZE"));
        };
        if Path::new(path) != iso {
            continue;
        }
        let parsed = dev.split_once(':').and_then(|(a, b)| {
            Some(DevNum {
                major: a.parse().ok()?,
                minor: b.parse().ok()?,
            })
        });
        let (Some(dev), Ok(size)) = (parsed, size.trim().parse::<u64>()) else {
            return Err(bad("bad device number or size"));
        };
        return Ok(isotune_host::file_facts_at(root, iso, size, dev));
    }
    Err(Error::NotCaptured {
        iso: iso.to_owned(),
        tsv,
    })
}

/// The boot files of the default (unattended) boot, as the doctor's facts.
pub(crate) fn boot_facts(inspect: &InspectReport) -> BootFacts {
    BootFacts {
        el_torito: inspect.el_torito.present,
        files: isotune_iso::bootfiles::default_boot_files(&inspect.boot_files)
            .into_iter()
            .map(|f| BootFileFact {
                path: f.path.clone(),
                size_bytes: f.size,
                end_bytes: f.extents.iter().map(|e| e.end()).max().unwrap_or(0),
            })
            .collect(),
    }
}

/// The extents the default boot reads, in order, for the bench's boot
/// workload. `Err` says why there is none.
pub fn boot_trace(path: &Path) -> Result<Vec<isotune_bench::workload::TraceExtent>, String> {
    let (file, _) = isotune_input::open_image(path).map_err(|e| e.to_string())?;
    boot_trace_of(file, &path.display().to_string())
}

/// [`boot_trace`] of an image read through any positioned reader (a
/// network source), `name` naming it in errors.
pub fn boot_trace_of<R: isotune_iso::ReadAt>(
    source: R,
    name: &str,
) -> Result<Vec<isotune_bench::workload::TraceExtent>, String> {
    let image = isotune_iso::IsoImage::open(source)
        .map_err(|e| format!("{name} is not a readable ISO9660 image: {e}"))?;
    let catalog = isotune_iso::bootfiles::boot_catalog(&image).ok().flatten();
    let boot = isotune_iso::bootfiles::discover(&image, catalog.as_ref());
    let default: Vec<_> = isotune_iso::bootfiles::default_boot_files(&boot.files)
        .into_iter()
        .cloned()
        .collect();
    let files = if default.is_empty() {
        boot.files
    } else {
        default
    };
    if files.is_empty() {
        return Err("the image has no boot catalog and no boot files".to_owned());
    }
    let trace = isotune_iso::trace::boot_trace(&image, &files)
        .map_err(|e| format!("cannot build the boot trace of {name}: {e}"))?;
    Ok(trace
        .into_iter()
        .map(|t| isotune_bench::workload::TraceExtent {
            offset: t.offset,
            len: t.len,
            label: t.label,
        })
        .collect())
}

/// Whether `path`'s filesystem keeps its data in memory (tmpfs, ramfs).
pub(crate) fn in_memory_fs(facts: &FileFacts) -> bool {
    facts
        .mount
        .as_ref()
        .is_some_and(|m| matches!(m.fstype.as_str(), "tmpfs" | "ramfs"))
}

/// The image facts of an image read from its primary volume descriptor.
pub(crate) fn descriptor_facts(path: PathBuf, file_bytes: u64, volume_bytes: u64) -> ImageFacts {
    ImageFacts {
        path,
        file_bytes,
        volume_bytes: Some(volume_bytes),
        volume: VolumeRead::Read,
        ..ImageFacts::default()
    }
}

//! VM definitions from each [`VmSource`](crate::VmSource): libvirt XML
//! (read with a size cap; FIFOs and sockets refused), QEMU command lines,
//! running QEMU processes.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use isotune_host::HostFacts;
use isotune_input::caps::TEXT_FILE_BYTES;
use isotune_vmconfig::{Origin, Source, VmDefinition};

use crate::report::Warning;
use crate::Error;

const XML_WHAT: &str = "a libvirt XML file";

fn parse(path: &Path, text: &str) -> Result<VmDefinition, Error> {
    isotune_vmconfig::parse_domain_xml(
        text,
        Origin::LibvirtXml {
            path: path.to_owned(),
        },
    )
    .map_err(|source| Error::Xml {
        path: path.to_owned(),
        source,
    })
}

fn read_xml(path: &Path) -> Result<VmDefinition, Error> {
    let text = isotune_input::read_to_string_capped(path, TEXT_FILE_BYTES, XML_WHAT)?;
    parse(path, &text)
}

/// The definitions in `--xml PATH` (a file, a directory of `*.xml`, or
/// `-`). A bad file in a directory is a warning; a bad single file is the
/// error.
pub(crate) fn load_xml(
    path: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<VmDefinition>, Error> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(TEXT_FILE_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|source| isotune_input::InputError::Io {
                path: path.to_owned(),
                op: "read",
                source,
            })?;
        if buf.len() as u64 > TEXT_FILE_BYTES {
            return Err(isotune_input::InputError::TooLarge {
                path: path.to_owned(),
                cap_bytes: TEXT_FILE_BYTES,
                what: XML_WHAT,
            }
            .into());
        }
        return Ok(vec![parse(path, &String::from_utf8_lossy(&buf))?]);
    }
    if !path.is_dir() {
        return Ok(vec![read_xml(path)?]);
    }
    let io = |source| isotune_input::InputError::Io {
        path: path.to_owned(),
        op: "list",
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let mut vms = Vec::new();
    for file in files {
        match read_xml(&file) {
            Ok(vm) => vms.push(vm),
            Err(e) => warnings.push(Warning::not_examined(&e)),
        }
    }
    Ok(vms)
}

/// A `--qemu-cmdline` string (1-based `index`) as a definition.
pub(crate) fn cmdline_vm(index: usize, line: &str) -> Result<VmDefinition, Error> {
    let mut argv =
        isotune_vmconfig::split_cmdline(line).map_err(|source| Error::Cmdline { index, source })?;
    if argv.is_empty() {
        return Err(Error::EmptyCmdline { index });
    }
    if argv[0].starts_with('-') {
        argv.insert(0, "qemu-system-x86_64".to_owned());
    }
    Ok(isotune_vmconfig::parse_argv(&argv, Origin::QemuCmdline))
}

/// Definitions of the QEMU processes running on the host, parsed by
/// isotune-vmconfig; relative media paths are made absolute against the
/// process's working directory.
pub(crate) fn running_vms(host: &HostFacts) -> Vec<VmDefinition> {
    host.qemu_processes
        .iter()
        .map(|p| {
            let mut vm = isotune_vmconfig::parse_argv(&p.argv, Origin::Process { pid: p.pid });
            if let Some(cwd) = &p.cwd {
                for d in &mut vm.drives {
                    if let Source::File { path } | Source::Block { path } = &mut d.source {
                        if path.is_relative() {
                            *path = cwd.join(&*path);
                        }
                    }
                }
            }
            vm
        })
        .collect()
}

/// Whether the process behind `vm` (a running QEMU) belongs to one of the
/// libvirt `domains` read in the same scan (by uuid, `-name guest=` or the
/// monitor path): it is reported as that domain, not again as raw argv.
pub(crate) fn libvirt_managed(
    vm: &VmDefinition,
    host: &HostFacts,
    domains: &[isotune_libvirt::Domain],
) -> bool {
    let Origin::Process { pid } = vm.origin else {
        return false;
    };
    !domains.is_empty()
        && host
            .qemu_processes
            .iter()
            .filter(|p| p.pid == pid)
            .any(|p| isotune_libvirt::match_process(domains, &p.argv).is_some())
}

/// Whether the process behind `vm` (a running QEMU) holds one of `isos`
/// open, whatever its command line says (fd passing, a `-blockdev` the
/// parser did not resolve).
pub(crate) fn holds_open(vm: &VmDefinition, host: &HostFacts, isos: &[PathBuf]) -> bool {
    let Origin::Process { pid } = vm.origin else {
        return false;
    };
    host.qemu_processes
        .iter()
        .filter(|p| p.pid == pid)
        .flat_map(|p| &p.open_files)
        .any(|f| isos.iter().any(|iso| same_file(f, iso)))
}

pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
}

/// Keeps only the drives of `vm` whose medium is one of `isos` (and the
/// VM only when one is left): what `check ISO --xml DIR` reports.
pub(crate) fn only_drives_using(mut vm: VmDefinition, isos: &[PathBuf]) -> Option<VmDefinition> {
    vm.drives.retain(|d| {
        d.local_path()
            .is_some_and(|p| isos.iter().any(|iso| same_file(p, iso)))
    });
    (!vm.drives.is_empty()).then_some(vm)
}

/// The local ISO files and block devices the definitions use as cdroms or
/// read-only media, each once.
pub(crate) fn local_isos(vms: &[VmDefinition]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for vm in vms {
        for d in &vm.drives {
            let path = match &d.source {
                Source::File { path } | Source::Block { path } => path,
                _ => continue,
            };
            let iso_like = d.media == isotune_vmconfig::Media::Cdrom
                || path
                    .extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("iso"));
            if iso_like && !out.iter().any(|p| same_file(p, path)) {
                out.push(path.clone());
            }
        }
    }
    out
}

/// Replaces `user:password@` in every drive URL (and in the options the
/// parser reported about) by `***@`.
pub(crate) fn redact_credentials(vms: &mut [VmDefinition]) {
    use isotune_doctor::redact_url;
    for vm in vms {
        for d in &mut vm.drives {
            match &mut d.source {
                Source::Http { url, .. } | Source::Nbd { url } | Source::Network { url, .. } => {
                    *url = redact_url(url);
                }
                _ => {}
            }
        }
        for i in &mut vm.issues {
            i.option = redact_url(&i.option);
            i.message = redact_url(&i.message);
        }
    }
}

//! Applies [`ArgvEdit`]s to a QEMU argv.
//!
//! A drive is found as `parse_argv` finds it (its position among the
//! drives); the options that define it are the `-cdrom`/`-drive`/`-hdX`/
//! `-blockdev` options without which the argv has one drive with its source
//! fewer, and the `-device` options naming it (`drive=ID`). Whole options are
//! removed or rewritten ([`isotune_vmconfig::qemu::option_spans`]).

use std::ops::Range;

use isotune_vmconfig::qemu::option_spans;
use isotune_vmconfig::{parse_argv, Origin, Source, VmDefinition};

use super::{ArgvEdit, Attr, DriveRef, FixError};

/// Applies `edits` in order to `argv` (`argv[0]` is the binary).
pub fn apply_to_argv(argv: &[String], edits: &[ArgvEdit]) -> Result<Vec<String>, FixError> {
    let mut argv = argv.to_vec();
    for edit in edits {
        argv = apply_one(&argv, edit)?;
    }
    Ok(argv)
}

fn parse(argv: &[String]) -> VmDefinition {
    parse_argv(argv, Origin::QemuCmdline)
}

fn apply_one(argv: &[String], edit: &ArgvEdit) -> Result<Vec<String>, FixError> {
    match edit {
        ArgvEdit::ReplaceDrive { drive, args } => {
            let spans = drive_spans(argv, drive)?;
            let mut out = without(argv, &spans);
            out.extend(args.iter().cloned());
            Ok(out)
        }
        ArgvEdit::EnsureController { id, args } => {
            let mut out = argv.to_vec();
            if !parse(argv)
                .controllers
                .iter()
                .any(|c| c.id.as_deref() == Some(id))
            {
                out.extend(args.iter().cloned());
            }
            Ok(out)
        }
        ArgvEdit::DriveOptions { drive, set, remove } => {
            let spans = drive_spans(argv, drive)?;
            let span = spans
                .iter()
                .find(|s| matches!(argv[s.start].trim_start_matches('-'), "drive" | "cdrom"))
                .ok_or_else(|| FixError::NotADriveOption(drive.id.clone()))?;
            let value = argv.get(span.start + 1).cloned().unwrap_or_default();
            let opts = if argv[span.start].trim_start_matches('-') == "cdrom" {
                format!(
                    "media=cdrom,if=ide,index=2,file={}",
                    value.replace(',', ",,")
                )
            } else {
                value
            };
            let mut out = argv.to_vec();
            out[span.start] = "-drive".to_string();
            out[span.start + 1] = set_opts(&opts, set, remove);
            Ok(out)
        }
        ArgvEdit::RemoveOption { option } => Ok(remove_option(argv, option)),
        ArgvEdit::SetAccel { accels } => {
            let spans = option_spans(argv);
            let mut out = vec![argv[0].clone()];
            for s in &spans {
                let name = argv[s.start].trim_start_matches('-');
                match name {
                    "accel" | "enable-kvm" | "no-kvm" => continue,
                    "machine" | "M" if s.len() == 2 => {
                        out.push(argv[s.start].clone());
                        out.push(set_opts(&argv[s.start + 1], &[], &["accel".into()]));
                    }
                    _ => out.extend(argv[s.clone()].iter().cloned()),
                }
            }
            for a in accels {
                out.push("-accel".into());
                out.push(a.clone());
            }
            Ok(out)
        }
        ArgvEdit::RemoveDeviceProperty { drive, key } => {
            let mut out = argv.to_vec();
            for s in option_spans(argv) {
                if is_device_of(argv, &s, &drive.id) {
                    out[s.start + 1] = set_opts(&argv[s.start + 1], &[], std::slice::from_ref(key));
                }
            }
            Ok(out)
        }
    }
}

/// `argv` without `option`: whole options named so, or the `key=value`
/// item inside any option's argument.
fn remove_option(argv: &[String], option: &str) -> Vec<String> {
    let mut out = vec![argv[0].clone()];
    for s in option_spans(argv) {
        if argv[s.start] == option {
            continue;
        }
        out.push(argv[s.start].clone());
        if let Some(value) = argv.get(s.start + 1).filter(|_| s.len() == 2) {
            let items = split_opts(value);
            if !value.trim_start().starts_with('{') && items.iter().any(|i| i == option) {
                let kept: Vec<String> = items.into_iter().filter(|i| i != option).collect();
                out.push(kept.join(","));
            } else {
                out.push(value.clone());
            }
        }
    }
    out
}

/// The options defining the drive.
fn drive_spans(argv: &[String], drive: &DriveRef) -> Result<Vec<Range<usize>>, FixError> {
    let def = parse(argv);
    let same: Vec<_> = def
        .drives
        .iter()
        .filter(|d| d.source == drive.source)
        .collect();
    let target = same
        .iter()
        .find(|d| d.id.as_deref() == Some(drive.id.as_str()))
        .or(same.first())
        .ok_or_else(|| FixError::NoDrive(drive.id.clone()))?;
    let count = |d: &VmDefinition| same_source(d, &target.source);
    let before = count(&def);
    let id = target.id.clone().unwrap_or_else(|| drive.id.clone());
    let spans: Vec<Range<usize>> = option_spans(argv)
        .into_iter()
        .filter(|s| {
            let name = argv[s.start].trim_start_matches('-');
            match name {
                "device" => is_device_of(argv, s, &id),
                "cdrom" | "drive" | "blockdev" | "hda" | "hdb" | "hdc" | "hdd" => {
                    count(&parse(&without(argv, std::slice::from_ref(s)))) < before
                }
                _ => false,
            }
        })
        .collect();
    if spans.is_empty() {
        return Err(FixError::NoDrive(drive.id.clone()));
    }
    Ok(spans)
}

fn same_source(def: &VmDefinition, source: &Source) -> usize {
    def.drives.iter().filter(|d| d.source == *source).count()
}

/// Whether the option at `s` is a `-device` whose `drive` is `id`.
fn is_device_of(argv: &[String], s: &Range<usize>, id: &str) -> bool {
    if argv[s.start].trim_start_matches('-') != "device" || s.len() < 2 {
        return false;
    }
    let value = &argv[s.start + 1];
    if value.trim_start().starts_with('{') {
        return value.contains(&format!("\"drive\":\"{id}\""))
            || value.contains(&format!("\"drive\": \"{id}\""));
    }
    split_opts(value)
        .iter()
        .any(|item| item.strip_prefix("drive=") == Some(id))
}

fn without(argv: &[String], spans: &[Range<usize>]) -> Vec<String> {
    argv.iter()
        .enumerate()
        .filter(|(i, _)| !spans.iter().any(|s| s.contains(i)))
        .map(|(_, a)| a.clone())
        .collect()
}

/// QemuOpts items, split on single commas (`,,` is a literal comma and stays
/// doubled in the item).
fn split_opts(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                cur.push_str(",,");
            } else {
                items.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    items.push(cur);
    items
}

/// `text` with `set` keys replaced in place or appended, `remove` keys dropped.
fn set_opts(text: &str, set: &[Attr], remove: &[String]) -> String {
    let mut done = vec![false; set.len()];
    let mut out = Vec::new();
    for item in split_opts(text) {
        let key = item.split('=').next().unwrap_or_default().to_string();
        if remove.contains(&key) {
            continue;
        }
        match set.iter().position(|a| a.name == key) {
            Some(k) => {
                done[k] = true;
                out.push(format!("{key}={}", set[k].value.replace(',', ",,")));
            }
            None => out.push(item),
        }
    }
    for (a, done) in set.iter().zip(done) {
        if !done {
            out.push(format!("{}={}", a.name, a.value.replace(',', ",,")));
        }
    }
    out.retain(|i| !i.is_empty());
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        std::iter::once("qemu-system-x86_64")
            .chain(s.split_whitespace())
            .map(str::to_string)
            .collect()
    }

    fn drive(path: &str, id: &str) -> DriveRef {
        DriveRef {
            id: id.into(),
            source: Source::File { path: path.into() },
        }
    }

    #[test]
    fn options_and_items_are_removed_and_accelerators_replaced() {
        let a = argv("-enable-dma -M pc,accel=tcg -drive file=/a.iso,dmqueue_size=1024,format=raw");
        let out = apply_to_argv(
            &a,
            &[
                ArgvEdit::RemoveOption {
                    option: "-enable-dma".into(),
                },
                ArgvEdit::RemoveOption {
                    option: "dmqueue_size=1024".into(),
                },
                ArgvEdit::SetAccel {
                    accels: vec!["kvm".into(), "tcg".into()],
                },
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            argv("-M pc -drive file=/a.iso,format=raw -accel kvm -accel tcg")
        );
    }

    #[test]
    fn opts_are_edited_keeping_doubled_commas() {
        assert_eq!(
            set_opts(
                "file=/a,,b.iso,aio=native,cache=writeback",
                &[Attr::new("aio", "io_uring"), Attr::new("format", "raw")],
                &["cache".into()]
            ),
            "file=/a,,b.iso,aio=io_uring,format=raw"
        );
    }

    #[test]
    fn a_drive_and_its_device_are_replaced_leaving_the_rest() {
        let a = argv(
            "-m 512 -drive if=none,id=c,file=/a.iso,media=cdrom -device ide-cd,drive=c,bus=ide.1 \
             -drive file=/b.img,if=virtio",
        );
        let out = apply_to_argv(
            &a,
            &[ArgvEdit::ReplaceDrive {
                drive: drive("/a.iso", "c"),
                args: vec!["-cdrom".into(), "/x.iso".into()],
            }],
        )
        .unwrap();
        assert_eq!(
            out,
            argv("-m 512 -drive file=/b.img,if=virtio -cdrom /x.iso")
        );
    }

    #[test]
    fn two_legacy_cdroms_are_told_apart_and_cdrom_becomes_drive() {
        let a = argv("-drive file=/a.iso,media=cdrom -drive file=/b.iso,media=cdrom");
        let out = apply_to_argv(
            &a,
            &[ArgvEdit::ReplaceDrive {
                drive: drive("/b.iso", "ide0-cd1"),
                args: vec![],
            }],
        )
        .unwrap();
        assert_eq!(out, argv("-drive file=/a.iso,media=cdrom"));
        let out = apply_to_argv(
            &argv("-cdrom /a.iso"),
            &[ArgvEdit::DriveOptions {
                drive: drive("/a.iso", "ide1-cd0"),
                set: vec![Attr::new("format", "raw")],
                remove: vec![],
            }],
        )
        .unwrap();
        assert_eq!(
            out,
            argv("-drive media=cdrom,if=ide,index=2,file=/a.iso,format=raw")
        );
        assert_eq!(
            apply_to_argv(
                &a,
                &[ArgvEdit::ReplaceDrive {
                    drive: drive("/x.iso", "x"),
                    args: vec![]
                }]
            ),
            Err(FixError::NoDrive("x".into()))
        );
    }
}

//! Tests of [`super`].

use super::*;
use crate::partition::{PartitionRef, Scheme};

/// An in-memory image: files by path, each at its own LBA (a path
/// ending in `/` is a directory), in an image file of `size` bytes.
struct Fake {
    files: Vec<(FileEntry, Vec<u8>)>,
    size: u64,
}

impl Fake {
    fn new(files: &[(&str, &str)]) -> Self {
        let files = files
            .iter()
            .enumerate()
            .map(|(i, (path, text))| {
                let size = text.len() as u64;
                let (path, kind) = match path.strip_suffix('/') {
                    Some(dir) => (dir, FileKind::Directory),
                    None => (*path, FileKind::File),
                };
                let entry = FileEntry {
                    path: path.to_owned(),
                    kind,
                    size,
                    extents: vec![Extent {
                        lba: 100 + i as u64 * 10,
                        size,
                    }],
                    hidden: false,
                    associated: false,
                    mode: None,
                    symlink_target: None,
                    relocated_from: None,
                };
                (entry, text.as_bytes().to_vec())
            })
            .collect();
        Fake {
            files,
            size: u64::MAX,
        }
    }

    fn lba(&self, path: &str) -> u32 {
        let e = self.files.iter().find(|(e, _)| e.path == path).unwrap();
        e.0.extents[0].lba as u32
    }
}

impl Media for Fake {
    fn lookup(&self, path: &str) -> Result<Option<FileEntry>> {
        let hit = self
            .files
            .iter()
            .find(|(e, _)| e.path.eq_ignore_ascii_case(path));
        Ok(hit.map(|(e, _)| e.clone()))
    }
    fn read(&self, entry: &FileEntry, max_bytes: u64) -> Result<Vec<u8>> {
        let (_, data) = self
            .files
            .iter()
            .find(|(e, _)| e.path == entry.path)
            .unwrap();
        Ok(data[..data.len().min(max_bytes as usize)].to_vec())
    }
    fn size(&self) -> u64 {
        self.size
    }
}

fn catalog(entries: &[(Platform, u32, Option<&str>)]) -> BootCatalog {
    BootCatalog {
        catalog_lba: 20,
        validation: crate::eltorito::ValidationEntry {
            platform: Platform::Bios,
            id: String::new(),
            checksum_ok: true,
            key_ok: true,
        },
        entries: entries
            .iter()
            .map(|(platform, rba, path)| BootEntry {
                platform: *platform,
                emulation: crate::eltorito::Emulation::None,
                bootable: true,
                load_segment: 0,
                system_type: 0,
                sector_count: 4,
                load_rba: *rba,
                section_id: None,
                path: path.map(str::to_owned),
                partition: None,
                size_bytes: 2048,
            })
            .collect(),
        anomalies: Vec::new(),
    }
}

/// `role path` per file, with ` *` after the default boot's.
fn listed(found: &BootFiles) -> Vec<String> {
    found
        .files
        .iter()
        .map(|f| {
            let role = serde_json::to_value(f.role).unwrap();
            let mark = if f.default_boot { " *" } else { "" };
            format!("{} {}{mark}", role.as_str().unwrap(), f.path)
        })
        .collect()
}

#[test]
fn load_order_bios_isolinux_then_efi_grub() {
    let fake = Fake::new(&[
        ("/isolinux/isolinux.bin", "bin"),
        ("/isolinux/isolinux.cfg", "include menu.cfg\ndefault live\n"),
        (
            "/isolinux/menu.cfg",
            "label other\n kernel /live/vmlinuz-old\nlabel live\n kernel /live/vmlinuz\n append initrd=/live/initrd.img,/live/gone.img\n",
        ),
        ("/efiboot.img", "fat"),
        (
            "/boot/grub/grub.cfg",
            "menuentry x {\n linux /live/vmlinuz\n initrd /live/initrd.img /live/efi.img\n}\n",
        ),
        ("/live/vmlinuz", "k"),
        ("/live/vmlinuz-old", "k0"),
        ("/live/initrd.img", "i"),
        ("/live/efi.img", "e"),
    ]);
    let bios = fake.lba("/isolinux/isolinux.bin");
    let cat = catalog(&[
        (Platform::Bios, bios, Some("/isolinux/isolinux.bin")),
        (Platform::Efi, 7, None),
    ]);
    let found = discover_in(&fake, Some(&cat));
    assert_eq!(
        listed(&found),
        [
            "el-torito-bios /isolinux/isolinux.bin *",
            "config /isolinux/isolinux.cfg *",
            "config /isolinux/menu.cfg *",
            "kernel /live/vmlinuz *",
            "initrd /live/initrd.img *",
            "kernel /live/vmlinuz-old",
            "el-torito-efi (el-torito image at LBA 7)",
            "config /boot/grub/grub.cfg",
            "initrd /live/efi.img",
        ]
    );
    assert_eq!(found.files[3].source.as_deref(), Some("/isolinux/menu.cfg"));
    assert_eq!(found.files[6].extents, [Extent { lba: 7, size: 2048 }]);
    assert_eq!(found.anomalies.len(), 1, "{:?}", found.anomalies);
    assert_eq!(found.anomalies[0].id, "boot.missing-file");
    assert!(found.anomalies[0].message.contains("/live/gone.img"));
}

/// The default BIOS boot: isolinux's `MENU DEFAULT` entry, not the
/// memtest or second-kernel entries, not a `CONFIG` menu another label
/// chains to, not a GRUB configuration no catalog entry starts, not the
/// EFI image in an appended partition.
#[test]
fn default_boot_is_the_bios_menu_default() {
    let fake = Fake::new(&[
        ("/isolinux/isolinux.bin", "bin"),
        ("/isolinux/isolinux.cfg", "ui vesamenu.c32\ninclude menu.cfg\ntimeout 50\n"),
        (
            "/isolinux/menu.cfg",
            "label memtest\n kernel /boot/memtest86+.bin\n\
             label live\n menu default\n kernel /live/vmlinuz\n append initrd=/live/initrd.img boot=live\n\
             label second\n kernel /live/vmlinuz2\n initrd /live/initrd2.img\n\
             label more\n config /isolinux/more.cfg\n",
        ),
        ("/isolinux/more.cfg", "label x\n kernel /x/vmlinuz\n"),
        ("/isolinux/ldlinux.c32", "ld"),
        ("/isolinux/vesamenu.c32", "vm"),
        ("/isolinux/libcom32.c32", "lc"),
        ("/isolinux/libutil.c32", "lu"),
        (
            "/boot/grub/grub.cfg",
            "menuentry a {\n linux /live/vmlinuz\n initrd /live/initrd.img /live/grub.img\n}\n",
        ),
        ("/boot/memtest86+.bin", "m"),
        ("/live/vmlinuz", "k"),
        ("/live/initrd.img", "i"),
        ("/live/vmlinuz2", "k2"),
        ("/live/initrd2.img", "i2"),
        ("/x/vmlinuz", "x"),
        ("/live/grub.img", "g"),
    ]);
    let bios = fake.lba("/isolinux/isolinux.bin");
    let mut cat = catalog(&[
        (Platform::Bios, bios, Some("/isolinux/isolinux.bin")),
        (Platform::Efi, 4908 / 4, None),
    ]);
    cat.entries[1].partition = Some(PartitionRef {
        scheme: Scheme::Gpt,
        index: 2,
        name: Some("Appended2".to_owned()),
    });
    let found = discover_in(&fake, Some(&cat));
    assert_eq!(
        listed(&found),
        [
            "el-torito-bios /isolinux/isolinux.bin *",
            "module /isolinux/ldlinux.c32 *",
            "config /isolinux/isolinux.cfg *",
            "module /isolinux/vesamenu.c32 *",
            "module /isolinux/libcom32.c32 *",
            "module /isolinux/libutil.c32 *",
            "config /isolinux/menu.cfg *",
            "config /isolinux/more.cfg",
            "kernel /live/vmlinuz *",
            "initrd /live/initrd.img *",
            "kernel /boot/memtest86+.bin",
            "kernel /live/vmlinuz2",
            "initrd /live/initrd2.img",
            "kernel /x/vmlinuz",
            "el-torito-efi (GPT partition 2 \"Appended2\")",
            "config /boot/grub/grub.cfg",
            "initrd /live/grub.img",
        ]
    );
    let default: Vec<_> = super::super::default_boot_files(&found.files)
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        default,
        [
            "/isolinux/isolinux.bin",
            "/isolinux/ldlinux.c32",
            "/isolinux/isolinux.cfg",
            "/isolinux/vesamenu.c32",
            "/isolinux/libcom32.c32",
            "/isolinux/libutil.c32",
            "/isolinux/menu.cfg",
            "/live/vmlinuz",
            "/live/initrd.img",
        ]
    );
    assert!(found.anomalies.is_empty(), "{:?}", found.anomalies);
}

/// With no BIOS entry the UEFI path is the default boot: the EFI image,
/// GRUB's configuration and its default entry; isolinux's files are not.
#[test]
fn default_boot_is_the_uefi_path_without_a_bios_entry() {
    let fake = Fake::new(&[
        ("/boot/grub/efi.img", "fat"),
        (
            "/boot/grub/grub.cfg",
            "set default=1\nmenuentry a {\n linux /a/vmlinuz\n}\nmenuentry b {\n linux /b/vmlinuz\n initrd /b/initrd\n}\n",
        ),
        ("/isolinux/isolinux.cfg", "label l\n kernel /a/vmlinuz\n"),
        ("/a/vmlinuz", "a"),
        ("/b/vmlinuz", "b"),
        ("/b/initrd", "bi"),
    ]);
    let efi = fake.lba("/boot/grub/efi.img");
    let cat = catalog(&[(Platform::Efi, efi, Some("/boot/grub/efi.img"))]);
    let found = discover_in(&fake, Some(&cat));
    assert_eq!(
        listed(&found),
        [
            "el-torito-efi /boot/grub/efi.img *",
            "config /boot/grub/grub.cfg *",
            "kernel /b/vmlinuz *",
            "initrd /b/initrd *",
            "kernel /a/vmlinuz",
            "config /isolinux/isolinux.cfg",
        ]
    );
    // No catalog: nothing boots by default.
    let found = discover_in(&fake, None);
    assert!(found.files.iter().all(|f| !f.default_boot));
}

#[test]
fn directories_and_files_past_the_end_are_reported() {
    let mut fake = Fake::new(&[
        (
            "/boot/grub/grub.cfg",
            "menuentry a {\n linux /live\n initrd /live/initrd.img /nothing\n}\n",
        ),
        ("/live/", ""),
        ("/live/initrd.img", "0123456789"),
    ]);
    // The initrd (LBA 120, 10 bytes) ends 4 bytes past the end.
    fake.size = 120 * 2048 + 6;
    let found = discover_in(&fake, None);
    let messages: Vec<_> = found
        .anomalies
        .iter()
        .map(|a| format!("{} {}", a.id, a.message))
        .collect();
    assert_eq!(
        messages,
        [
            "boot.missing-file /boot/grub/grub.cfg names /live, which is a directory in the image, not a file",
            "boot.file-past-end /live/initrd.img ends at byte 245770, past the end of the 245766-byte image file (4 bytes missing); a boot that reads it fails",
            "boot.missing-file /boot/grub/grub.cfg names /nothing, which is not in the image",
        ]
    );
    assert_eq!(found.anomalies[1].severity, Severity::Error);
}

/// Issue "boot.missing-file fired nine times on a healthy ISO": entries
/// that boot another disk (`set root=`, `search --set=root --file`, a
/// device prefix, a configfile there), multiboot module arguments and
/// kernel arguments are not the image's files; files of non-default
/// entries that are missing are notes, not warnings.
#[test]
fn regression_no_false_missing_files_for_other_disks_and_arguments() {
    let grub_cfg = "\
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set default=0
menuentry 'Live' {
  linux /live/vmlinuz root=/dev/sr0 init=/bin/sh boot=live exec
  initrd /live/initrd.img
}
menuentry 'First hard disk' {
  set root=(hd0,msdos1)
  linux /vmlinuz-on-disk root=/dev/sda1
  configfile /boot/grub/grub.cfg-on-disk
  chainloader +1
}
menuentry 'Disk found by search' {
  search --no-floppy --set=root --file /something-not-on-the-iso
  linux /boot/vmlinuz-on-disk
  initrd /boot/initrd-on-disk
}
menuentry 'Explicit device' {
  linux (hd1,gpt2)/vmlinuz init=/bin/sh
  configfile (hd0,msdos1)/boot/grub/grub.cfg
}
menuentry 'Hurd' {
  insmod ext2
  multiboot /boot/gnumach.gz root=part:1:device:wd0 console=com0
  module /hurd/ext2fs.static ext2fs --multiboot-command-line='${kernel-command-line}'
  module /lib/ld.so.1 exec /hurd/exec '$(exec-task=task-create)'
}
menuentry 'Back on the cdrom' {
  search --set=root --file /live/vmlinuz
  linux /live/vmlinuz2 quiet
}
";
    let fake = Fake::new(&[
        ("/boot/grub/i386-pc/eltorito.img", "core"),
        ("/boot/grub/grub.cfg", grub_cfg),
        (
            "/boot/grub/i386-pc/command.lst",
            "linux: linux\ninitrd: linux\n*serial: serial\nterminal_input: terminal\n*multiboot: multiboot\n",
        ),
        ("/boot/grub/i386-pc/terminal.lst", "iserial: serial\noserial: serial\n"),
        (
            "/boot/grub/i386-pc/moddep.lst",
            "normal: boot\nlinux: boot relocator\nserial: terminfo\next2: fshelp\n",
        ),
        ("/boot/grub/i386-pc/normal.mod", "n"),
        ("/boot/grub/i386-pc/boot.mod", "b"),
        ("/boot/grub/i386-pc/relocator.mod", "r"),
        ("/boot/grub/i386-pc/linux.mod", "l"),
        ("/boot/grub/i386-pc/terminfo.mod", "t"),
        ("/boot/grub/i386-pc/serial.mod", "s"),
        ("/boot/grub/i386-pc/ext2.mod", "e"),
        ("/live/vmlinuz", "k"),
        ("/live/initrd.img", "i"),
    ]);
    let bios = fake.lba("/boot/grub/i386-pc/eltorito.img");
    let cat = catalog(&[(
        Platform::Bios,
        bios,
        Some("/boot/grub/i386-pc/eltorito.img"),
    )]);
    let found = discover_in(&fake, Some(&cat));
    let warnings: Vec<_> = found
        .anomalies
        .iter()
        .filter(|a| a.severity > Severity::Info)
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
    let notes: Vec<_> = found.anomalies.iter().map(|a| a.message.as_str()).collect();
    assert_eq!(
        notes,
        [
            "/boot/grub/grub.cfg names /boot/gnumach.gz, which is not in the image",
            "/boot/grub/grub.cfg names /hurd/ext2fs.static, which is not in the image",
            "/boot/grub/grub.cfg names /lib/ld.so.1, which is not in the image",
            "/boot/grub/grub.cfg names /live/vmlinuz2, which is not in the image",
        ]
    );
    // The default boot: GRUB's lists, normal and the modules of the
    // commands and terminals it uses, after their dependencies; the
    // Hurd entry's `insmod ext2` is not on the default path.
    assert_eq!(
        listed(&found),
        [
            "el-torito-bios /boot/grub/i386-pc/eltorito.img *",
            "loader-data /boot/grub/i386-pc/command.lst *",
            "loader-data /boot/grub/i386-pc/terminal.lst *",
            "loader-data /boot/grub/i386-pc/moddep.lst *",
            "module /boot/grub/i386-pc/boot.mod *",
            "module /boot/grub/i386-pc/normal.mod *",
            "module /boot/grub/i386-pc/terminfo.mod *",
            "module /boot/grub/i386-pc/serial.mod *",
            "module /boot/grub/i386-pc/relocator.mod *",
            "module /boot/grub/i386-pc/linux.mod *",
            "config /boot/grub/grub.cfg *",
            "kernel /live/vmlinuz *",
            "initrd /live/initrd.img *",
        ]
    );
}

/// isolinux: `APPEND` arguments are not files, a `COM32` chain to a
/// disk is not a kernel, and a missing kernel of a non-default label is
/// a note.
#[test]
fn regression_isolinux_arguments_and_other_labels() {
    let fake = Fake::new(&[
        ("/isolinux/isolinux.bin", "bin"),
        ("/isolinux/ldlinux.c32", "ld"),
        (
            "/isolinux/isolinux.cfg",
            "default live\nlabel live\n kernel /live/vmlinuz\n append root=/dev/sr0 init=/bin/sh initrd=/live/initrd.img ext2fs exec\n\
             label hd\n com32 chain.c32\n append hd0 1\n\
             label old\n kernel /old/vmlinuz\n",
        ),
        ("/live/vmlinuz", "k"),
        ("/live/initrd.img", "i"),
    ]);
    let bios = fake.lba("/isolinux/isolinux.bin");
    let cat = catalog(&[(Platform::Bios, bios, Some("/isolinux/isolinux.bin"))]);
    let found = discover_in(&fake, Some(&cat));
    let got: Vec<_> = found
        .anomalies
        .iter()
        .map(|a| (a.severity, a.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [(
            Severity::Info,
            "/isolinux/isolinux.cfg names /old/vmlinuz, which is not in the image"
        )]
    );
    assert_eq!(
        listed(&found),
        [
            "el-torito-bios /isolinux/isolinux.bin *",
            "module /isolinux/ldlinux.c32 *",
            "config /isolinux/isolinux.cfg *",
            "kernel /live/vmlinuz *",
            "initrd /live/initrd.img *",
        ]
    );
}

#[test]
fn no_catalog_still_lists_config_files() {
    let fake = Fake::new(&[
        ("/boot/grub/grub.cfg", "menuentry a {\n linux /vmlinuz\n}\n"),
        ("/VMLINUZ", "k"),
    ]);
    let found = discover_in(&fake, None);
    let paths: Vec<_> = found.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["/boot/grub/grub.cfg", "/VMLINUZ"]);
    assert!(discover_in(&Fake::new(&[]), None).files.is_empty());
}

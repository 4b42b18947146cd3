//! Tests of [`super`].

use super::super::tests::{default_paths, loader_from, paths};
use super::*;

#[test]
fn tokenizer_quotes_variables_and_separators() {
    let mut vars = HashMap::new();
    vars.insert("k".to_owned(), "/casper/vmlinuz".to_owned());
    let t = tokenize(
        r#"linux	$k "a b" 'c $k' ${k}x $unset; initrd /i # comment"#,
        &vars,
    );
    assert_eq!(
        t,
        [
            vec![
                "linux",
                "/casper/vmlinuz",
                "a b",
                "c $k",
                "/casper/vmlinuzx",
                "$unset"
            ],
            vec!["initrd", "/i"],
        ]
    );
}

#[test]
fn default_entry_first_then_others() {
    let files = [
        (
            "/boot/grub/grub.cfg",
            "set timeout=5\nset default=1\nset kdir=/casper\nloadfont unicode\n\
             if [ x$feature_menuentry_id = xy ]; then\n  menuentry_id_option=\"--id\"\nfi\n\
             menuentry \"Try Ubuntu\" --class ubuntu {\n\tset gfxpayload=keep\n\tlinux\t$kdir/vmlinuz boot=casper ---\n\tinitrd\t$kdir/initrd\n}\n\
             menuentry 'Safe graphics' {\n  linux ($root)/casper/vmlinuz nomodeset\n  initrd /casper/initrd /casper/extra.img\n}\n\
             submenu 'Advanced' {\n  menuentry 'Debug' {\n    linux16 /casper/vmlinuz-debug\n    initrd16 $unknown/initrd\n  }\n}\n\
             menuentry 'UEFI Firmware Settings' { fwsetup; }\n",
        ),
    ];
    let mut load = loader_from(&files);
    let walk = walk_grub(&["/boot/grub/grub.cfg"], &mut load);
    assert_eq!(
        paths(&walk),
        [
            "config /boot/grub/grub.cfg",
            "font /boot/grub/fonts/unicode.pf2",
            "kernel /casper/vmlinuz",
            "initrd /casper/initrd",
            "initrd /casper/extra.img",
            "kernel /casper/vmlinuz-debug",
        ]
    );
    let ids: Vec<_> = walk.anomalies.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["boot.unresolved-variable"]);
}

#[test]
fn default_by_title_id_and_submenu_path() {
    let cfg = |default: &str| {
        format!(
            "set default=\"{default}\"\nmenuentry 'A' {{ linux /a; }}\n\
             menuentry 'B' --id b-id {{\n linuxefi /b\n initrdefi /b.img\n}}\n\
             submenu 'S' {{\n menuentry 'S0' {{\n linux /s0\n }}\n menuentry 'S1' {{\n linux /s1\n }}\n}}\n"
        )
    };
    for (default, first) in [
        ("B", "/b"),
        ("b-id", "/b"),
        ("2>1", "/s1"),
        ("2", "/s0"),
        ("${saved}", "/a"),
        ("9", "/a"),
    ] {
        let text = cfg(default);
        let files = [("/EFI/BOOT/grub.cfg", text.as_str())];
        let mut load = loader_from(&files);
        let walk = walk_grub(&["/EFI/BOOT/grub.cfg"], &mut load);
        assert_eq!(walk.refs[1].path, first, "default {default}");
    }
}

#[test]
fn source_configfile_and_missing_files() {
    let files = [
        (
            "/boot/grub/loopback.cfg",
            "source /boot/grub/grub.cfg\n",
        ),
        (
            "/boot/grub/grub.cfg",
            "set prefix=($root)/boot/grub\nsource $prefix/theme.cfg\nsource ${prefix}/entries.cfg\n\
             menuentry 'more' {\n configfile /boot/grub/more.cfg\n}\nsource $nowhere/x.cfg\n",
        ),
        ("/boot/grub/entries.cfg", "menuentry 'Live' {\n linux /live/vmlinuz\n initrd /live/initrd.img\n}\n"),
        ("/boot/grub/more.cfg", "menuentry 'x' {\n linux /x/vmlinuz\n}\nconfigfile /boot/grub/more.cfg\n"),
    ];
    let mut load = loader_from(&files);
    let walk = walk_grub(
        &["/boot/grub/grub.cfg", "/boot/grub/loopback.cfg"],
        &mut load,
    );
    assert_eq!(
        paths(&walk),
        [
            "config /boot/grub/grub.cfg",
            "config /boot/grub/entries.cfg",
            "config /boot/grub/more.cfg",
            "config /boot/grub/loopback.cfg",
            "kernel /live/vmlinuz",
            "initrd /live/initrd.img",
            "kernel /x/vmlinuz",
        ]
    );
    let ids: Vec<_> = walk
        .anomalies
        .iter()
        .map(|a| (a.id.as_str(), a.severity))
        .collect();
    assert_eq!(
        ids,
        [
            ("boot.unresolved-variable", crate::Severity::Info),
            ("boot.missing-file", crate::Severity::Warn),
        ]
    );
    assert!(walk.anomalies[1].message.contains("/boot/grub/theme.cfg"));
    // The first root and what it sources are read by the default boot;
    // a configfile in a non-default entry and the second root are not.
    assert_eq!(
        default_paths(&walk),
        [
            "/boot/grub/grub.cfg",
            "/boot/grub/entries.cfg",
            "/live/vmlinuz",
            "/live/initrd.img",
        ]
    );
}

#[test]
fn default_entry_configfile_is_read_by_the_default_boot() {
    let files = [
        (
            "/boot/grub/grub.cfg",
            "set default=1
menuentry a {
 configfile /a.cfg
}
menuentry b {
 configfile /b.cfg
}
",
        ),
        (
            "/a.cfg",
            "menuentry a1 {
 linux /a/vmlinuz
}
",
        ),
        (
            "/b.cfg",
            "menuentry b1 {
 linux /b/vmlinuz
 initrd /b/initrd
}
",
        ),
    ];
    let mut load = loader_from(&files);
    let walk = walk_grub(&["/boot/grub/grub.cfg"], &mut load);
    assert_eq!(
        default_paths(&walk),
        ["/boot/grub/grub.cfg", "/b.cfg", "/b/vmlinuz", "/b/initrd"]
    );
}

/// Fonts, themes and backgrounds the default boot loads are refs of
/// their own roles; the needs list what GRUB must load for them.
#[test]
fn fonts_themes_backgrounds_and_needs() {
    let files = [
        (
            "/boot/grub/grub.cfg",
            "insmod all_video\nloadfont unicode\nloadfont /boot/grub/fonts/dejavu.pf2\n\
             set theme=/boot/grub/themes/t/theme.txt\nterminal_output gfxterm\n\
             menuentry a {\n background_image /splash.png\n linux /k\n}\n\
             menuentry b {\n insmod ext2\n linux (hd0,gpt2)/k\n}\n",
        ),
        (
            "/boot/grub/themes/t/theme.txt",
            "desktop-image: \"bg.png\"\ntitle-font: \"DejaVu Sans 12\"\n+ label { font = \"../../fonts/term.pf2\" }\n",
        ),
    ];
    let mut load = loader_from(&files);
    let walk = walk_grub(&["/boot/grub/grub.cfg"], &mut load);
    assert_eq!(
        paths(&walk),
        [
            "config /boot/grub/grub.cfg",
            "font /boot/grub/fonts/unicode.pf2",
            "font /boot/grub/fonts/dejavu.pf2",
            "theme /boot/grub/themes/t/theme.txt",
            "theme /boot/grub/themes/t/bg.png",
            "font /boot/grub/fonts/term.pf2",
            "kernel /k",
            "theme /splash.png",
        ]
    );
    assert!(walk.refs.iter().all(|r| r.default_boot));
    let needs: Vec<String> = walk.needs.iter().map(|n| format!("{n:?}")).collect();
    assert!(
        needs.contains(&"Module(\"all_video\")".to_owned()),
        "{needs:?}"
    );
    assert!(
        needs.contains(&"Terminal(\"ogfxterm\")".to_owned()),
        "{needs:?}"
    );
    assert!(
        needs.contains(&"Command(\"background_image\")".to_owned()),
        "{needs:?}"
    );
    // Entry b is not the default: its insmod is not needed.
    assert!(!needs.contains(&"Module(\"ext2\")".to_owned()), "{needs:?}");
    assert!(walk.anomalies.is_empty(), "{:?}", walk.anomalies);
}

#[test]
fn hostile_configs_are_bounded() {
    let mut text = String::from("menuentry a {\n linux /k\n initrd");
    for i in 0..100_000 {
        text.push_str(&format!(" /i{i}"));
    }
    text.push_str("\n}\n");
    for i in 0..10_000 {
        text.push_str(&format!("menuentry e{i} {{ linux /k{i}; }}\n{{{{{{\n"));
    }
    let files = [("/g.cfg", text.as_str())];
    let mut load = loader_from(&files);
    let walk = walk_grub(&["/g.cfg"], &mut load);
    assert!(walk.refs.len() < 300, "{}", walk.refs.len());
}

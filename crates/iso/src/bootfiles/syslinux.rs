//! isolinux / syslinux configuration: which kernel and initrds a BIOS boot
//! through isolinux loads.
//!
//! Keywords are case-insensitive. `INCLUDE` (and `MENU INCLUDE`) are read in
//! place; a label's `CONFIG` is read as a chained menu. `KERNEL`/`LINUX` name
//! the kernel (COM32 modules such as `vesamenu.c32` are not kernels);
//! `INITRD` and `initrd=` in `APPEND` name comma-separated initrds. Relative
//! paths resolve against the working directory, which is the directory of the
//! top configuration (as isolinux does), or the one a `CONFIG` names.
//!
//! The loader's own files are refs too: the `UI` module (or a module
//! `DEFAULT` names, the pre-4.00 way to start a menu) as
//! [`BootRole::Module`], `MENU BACKGROUND` as [`BootRole::Theme`], `FONT`
//! as [`BootRole::Font`]; discovery adds `ldlinux.c32` and the libraries
//! a module links.
//!
//! The default entry is the `ONTIMEOUT` label, else the `MENU DEFAULT` label,
//! else the `DEFAULT` label (or command line), else the first label: that is
//! what an unattended boot loads.

use super::walk::{dirname, resolve, Loader, Menu, MenuEntry, MAX_MENU_ENTRIES};
use super::{BootRole, ConfigRef, ConfigWalk, LoadFn, MAX_DEPTH};

/// Walks the syslinux configuration `root` (an absolute path) and everything
/// it includes, reading files through `load`.
pub fn walk_syslinux(root: &str, load: &mut LoadFn<'_>) -> ConfigWalk {
    let mut loader = Loader::new(load);
    let menu = walk_menu(&mut loader, root, None, &dirname(root), 0);
    loader.finish(menu.into_iter().collect())
}

#[derive(Default)]
struct State {
    cwd: String,
    labels: Vec<Label>,
    /// Every `DEFAULT` value, in order (the last one naming a label wins).
    defaults: Vec<String>,
    ontimeout: Option<String>,
    /// Index of the label marked `MENU DEFAULT`.
    menu_default: Option<usize>,
}

struct Label {
    name: String,
    entry: MenuEntry,
    /// Config to chain to, when the label is a `CONFIG` label.
    chain: Option<(String, String)>,
}

fn walk_menu(
    loader: &mut Loader<'_>,
    path: &str,
    from: Option<&str>,
    cwd: &str,
    depth: usize,
) -> Option<Menu> {
    let mut st = State {
        cwd: cwd.to_owned(),
        ..State::default()
    };
    let (id, previous) = loader.begin_menu();
    let read = read_file(loader, &mut st, path, from, depth);
    loader.end_menu(previous);
    read?;
    let mut entries = Vec::new();
    let default = pick_default(&st);
    let mut default_index = 0;
    for (i, label) in std::mem::take(&mut st.labels).into_iter().enumerate() {
        let mut entry = label.entry;
        if let Some((cfg, dir)) = label.chain {
            if let Some(m) = walk_menu(loader, &cfg, Some(path), &dir, depth + 1) {
                entry.chain.push(m);
            }
        }
        if Some(i) == default.label {
            default_index = entries.len();
        }
        entries.push(entry);
    }
    if let Some(cmd) = default.command {
        // `DEFAULT vmlinuz initrd=...` with no such label is a command line.
        entries.insert(0, command_entry(&cmd, &st.cwd, path));
        default_index = 0;
    }
    Some(Menu {
        entries,
        default: default_index,
        id,
    })
}

struct Default {
    label: Option<usize>,
    command: Option<String>,
}

fn find_label(st: &State, name: &str) -> Option<usize> {
    st.labels.iter().position(|l| l.name == name).or_else(|| {
        st.labels
            .iter()
            .position(|l| l.name.eq_ignore_ascii_case(name))
    })
}

fn pick_default(st: &State) -> Default {
    let first_word = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| s.split_whitespace().next())
            .map(str::to_owned)
    };
    if let Some(i) = first_word(&st.ontimeout).and_then(|n| find_label(st, &n)) {
        return Default {
            label: Some(i),
            command: None,
        };
    }
    if st.menu_default.is_some() {
        return Default {
            label: st.menu_default,
            command: None,
        };
    }
    let names = st
        .defaults
        .iter()
        .rev()
        .filter_map(|d| d.split_whitespace().next());
    if let Some(i) = names.clone().find_map(|n| find_label(st, n)) {
        return Default {
            label: Some(i),
            command: None,
        };
    }
    if let Some(cmd) = st
        .defaults
        .iter()
        .rev()
        .find(|d| d.split_whitespace().next().is_some_and(|n| !is_module(n)))
    {
        return Default {
            label: None,
            command: Some(cmd.clone()),
        };
    }
    Default {
        label: (!st.labels.is_empty()).then_some(0),
        command: None,
    }
}

fn command_entry(cmd: &str, cwd: &str, cfg: &str) -> MenuEntry {
    let mut words = cmd.split_whitespace();
    let mut entry = MenuEntry::default();
    if let Some(k) = words.next().and_then(|k| resolve(cwd, k)) {
        entry.set_kernel(ConfigRef::new(k, BootRole::Kernel, cfg));
    }
    add_append_initrds(&mut entry, &words.collect::<Vec<_>>().join(" "), cwd, cfg);
    entry
}

/// COM32 modules and other things that are not Linux kernels.
fn is_module(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".c32", ".com", ".cbt", ".0", ".bss"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

fn add_initrd_list(entry: &mut MenuEntry, list: &str, cwd: &str, cfg: &str) {
    for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(p) = resolve(cwd, p) {
            entry.add(ConfigRef::new(p, BootRole::Initrd, cfg));
        }
    }
}

fn add_append_initrds(entry: &mut MenuEntry, append: &str, cwd: &str, cfg: &str) {
    for w in append.split_whitespace() {
        if let Some(list) = w.strip_prefix("initrd=") {
            add_initrd_list(entry, list, cwd, cfg);
        }
    }
}

fn read_file(
    loader: &mut Loader<'_>,
    st: &mut State,
    path: &str,
    from: Option<&str>,
    depth: usize,
) -> Option<()> {
    let text = loader.load(path, from, depth)?;
    let mut in_text = false;
    for raw in text.lines() {
        let line = raw.trim();
        if in_text {
            in_text = !line.eq_ignore_ascii_case("endtext");
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kw, rest) = split_word(line);
        let kw = kw.to_ascii_lowercase();
        let arg = split_word(rest).0;
        match kw.as_str() {
            "include" => include(loader, st, arg, path, depth),
            "menu" => {
                let (sub, sub_rest) = split_word(rest);
                match sub.to_ascii_lowercase().as_str() {
                    "include" => include(loader, st, split_word(sub_rest).0, path, depth),
                    "default" if !st.labels.is_empty() => {
                        st.menu_default = Some(st.labels.len() - 1);
                    }
                    "background" => {
                        let file = split_word(sub_rest).0;
                        if !file.starts_with('#') {
                            menu_file(loader, st, file, BootRole::Theme, path);
                        }
                    }
                    _ => {}
                }
            }
            "text" => in_text = arg.eq_ignore_ascii_case("help"),
            "default" => {
                if is_module(arg) {
                    menu_file(loader, st, arg, BootRole::Module, path);
                }
                st.defaults.push(rest.to_owned());
            }
            "ui" => {
                // `UI menu.c32` or `UI vesamenu.c32 extra.cfg`.
                menu_file(loader, st, arg, BootRole::Module, path);
            }
            "font" => menu_file(loader, st, arg, BootRole::Font, path),
            "ontimeout" => st.ontimeout = Some(rest.to_owned()),
            "label" if st.labels.len() >= MAX_MENU_ENTRIES => {}
            "label" => st.labels.push(Label {
                name: rest.to_owned(),
                entry: MenuEntry::default(),
                chain: None,
            }),
            "kernel" | "linux" | "boot" | "bss" | "pxe" | "fdimage" | "comboot" | "com32" => {
                let cwd = st.cwd.clone();
                if let Some(label) = st.labels.last_mut() {
                    if let (false, Some(k)) = (is_module(arg), resolve(&cwd, arg)) {
                        label
                            .entry
                            .set_kernel(ConfigRef::new(k, BootRole::Kernel, path));
                    }
                }
            }
            "initrd" => {
                let cwd = st.cwd.clone();
                if let Some(label) = st.labels.last_mut() {
                    add_initrd_list(&mut label.entry, arg, &cwd, path);
                }
            }
            "append" => {
                let cwd = st.cwd.clone();
                if let Some(label) = st.labels.last_mut() {
                    add_append_initrds(&mut label.entry, rest, &cwd, path);
                }
            }
            "config" => {
                let (file, tail) = split_word(rest);
                let dir_arg = split_word(tail).0;
                let Some(file) = resolve(&st.cwd, file) else {
                    continue;
                };
                let dir = match dir_arg {
                    "" => dirname(&file),
                    d => resolve(&st.cwd, d).unwrap_or_else(|| dirname(&file)),
                };
                match st.labels.last_mut() {
                    Some(label) => label.chain = Some((file, dir)),
                    // A top-level CONFIG restarts with the new file.
                    None if depth < MAX_DEPTH => {
                        st.cwd = dir;
                        read_file(loader, st, &file, Some(path), depth + 1);
                        return Some(());
                    }
                    None => {}
                }
            }
            _ => {}
        }
    }
    Some(())
}

/// A file the menu itself loads (its UI module, background, font).
fn menu_file(loader: &mut Loader<'_>, st: &State, arg: &str, role: BootRole, cfg: &str) {
    if let Some(p) = resolve(&st.cwd, arg) {
        loader.file(ConfigRef::new(p, role, cfg));
    }
}

fn include(loader: &mut Loader<'_>, st: &mut State, arg: &str, from: &str, depth: usize) {
    if let Some(p) = resolve(&st.cwd, arg) {
        read_file(loader, st, &p, Some(from), depth + 1);
    }
}

/// The first whitespace-separated word and the (trimmed) rest.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{default_paths, loader_from, paths};
    use super::*;

    #[test]
    fn debian_style_includes_and_initrd_lists() {
        let files = [
            (
                "/isolinux/isolinux.cfg",
                "# comment\npath \ninclude menu.cfg\ndefault vesamenu.c32\nprompt 0\ntimeout 0\n",
            ),
            (
                "/isolinux/menu.cfg",
                "menu hshift 7\nmenu title Installer\ninclude stdmenu.cfg\nINCLUDE txt.cfg\nlabel help\n  kernel /install/vmlinuz\n",
            ),
            ("/isolinux/stdmenu.cfg", "menu background splash.png\n"),
            (
                "/isolinux/txt.cfg",
                "default install\nlabel expert\n\tmenu label ^Expert\n\tkernel /install.amd/vmlinuz\n\tappend priority=low vga=788 initrd=/install.amd/initrd.gz --- \n\
                 label install\n\tmenu label ^Install\n\tKERNEL /install.amd/vmlinuz\n\tAPPEND vga=788 initrd=/install.amd/initrd.gz,../extra/fw.cpio --- quiet\n\
                 TEXT HELP\n kernel /not/a/kernel\nENDTEXT\n label local\n  localboot 0\n",
            ),
        ];
        let mut load = loader_from(&files);
        let walk = walk_syslinux("/isolinux/isolinux.cfg", &mut load);
        assert_eq!(
            paths(&walk),
            [
                "config /isolinux/isolinux.cfg",
                "config /isolinux/menu.cfg",
                "config /isolinux/stdmenu.cfg",
                "theme /isolinux/splash.png",
                "config /isolinux/txt.cfg",
                "module /isolinux/vesamenu.c32",
                "kernel /install.amd/vmlinuz",
                "initrd /install.amd/initrd.gz",
                "initrd /extra/fw.cpio",
                "kernel /install/vmlinuz",
            ]
        );
        assert_eq!(
            walk.refs[1].source.as_deref(),
            Some("/isolinux/isolinux.cfg")
        );
        assert_eq!(walk.refs[6].source.as_deref(), Some("/isolinux/txt.cfg"));
        assert!(walk.anomalies.is_empty(), "{:?}", walk.anomalies);
    }

    #[test]
    fn menu_default_initrd_keyword_and_relative_paths() {
        let files = [(
            "/boot/isolinux/isolinux.cfg",
            "UI menu.c32\nDEFAULT live\nLABEL live\n LINUX vmlinuz\n INITRD initrd.lz,/ucode.img\n\
             LABEL safe\n MENU DEFAULT\n LINUX /casper/vmlinuz\n INITRD /casper/initrd\n\
             LABEL gone\n KERNEL missing/vmlinuz\n",
        )];
        let mut load = loader_from(&files);
        let walk = walk_syslinux("/boot/isolinux/isolinux.cfg", &mut load);
        assert_eq!(
            paths(&walk),
            [
                "config /boot/isolinux/isolinux.cfg",
                "module /boot/isolinux/menu.c32",
                "kernel /casper/vmlinuz",
                "initrd /casper/initrd",
                "kernel /boot/isolinux/vmlinuz",
                "initrd /boot/isolinux/initrd.lz",
                "initrd /ucode.img",
                "kernel /boot/isolinux/missing/vmlinuz",
            ]
        );
    }

    #[test]
    fn default_command_line_ontimeout_and_config_chain() {
        let files = [
            (
                "/syslinux/syslinux.cfg",
                "default vmlinuz initrd=initrd.img quiet\nlabel more\n config /boot/other.cfg\n",
            ),
            (
                "/boot/other.cfg",
                "ontimeout b\nlabel a\n kernel a.krn\nlabel b\n kernel b.krn\n append initrd=b.img\ninclude /boot/missing.cfg\n",
            ),
        ];
        let mut load = loader_from(&files);
        let walk = walk_syslinux("/syslinux/syslinux.cfg", &mut load);
        assert_eq!(
            paths(&walk),
            [
                "config /syslinux/syslinux.cfg",
                "config /boot/other.cfg",
                "kernel /syslinux/vmlinuz",
                "initrd /syslinux/initrd.img",
                "kernel /boot/b.krn",
                "initrd /boot/b.img",
                "kernel /boot/a.krn",
            ]
        );
        assert_eq!(walk.anomalies.len(), 1);
        assert_eq!(walk.anomalies[0].id, "boot.missing-file");
        assert!(walk.anomalies[0].message.contains("/boot/missing.cfg"));
        assert!(walk.anomalies[0].message.contains("/boot/other.cfg"));
    }

    #[test]
    fn default_boot_follows_menu_default_and_its_chain() {
        let files = [
            (
                "/isolinux/isolinux.cfg",
                "ui vesamenu.c32
include menu.cfg
include /isolinux/
",
            ),
            (
                "/isolinux/menu.cfg",
                "label memtest
 kernel /boot/memtest
label live
 menu default
 config live.cfg
                 label other
 config other.cfg
",
            ),
            ("/isolinux/", ""),
            (
                "/isolinux/live.cfg",
                "label a
 kernel /a/vmlinuz
label b
 kernel /b/vmlinuz
",
            ),
            (
                "/isolinux/other.cfg",
                "label o
 kernel /o/vmlinuz
",
            ),
        ];
        let mut load = loader_from(&files);
        let walk = walk_syslinux("/isolinux/isolinux.cfg", &mut load);
        assert_eq!(
            paths(&walk),
            [
                "config /isolinux/isolinux.cfg",
                "module /isolinux/vesamenu.c32",
                "config /isolinux/menu.cfg",
                "config /isolinux/live.cfg",
                "config /isolinux/other.cfg",
                "kernel /a/vmlinuz",
                "kernel /b/vmlinuz",
                "kernel /boot/memtest",
                "kernel /o/vmlinuz",
            ]
        );
        assert_eq!(
            default_paths(&walk),
            [
                "/isolinux/isolinux.cfg",
                "/isolinux/vesamenu.c32",
                "/isolinux/menu.cfg",
                "/isolinux/live.cfg",
                "/a/vmlinuz",
            ]
        );
        assert_eq!(walk.anomalies.len(), 1);
        assert_eq!(
            walk.anomalies[0].message,
            "/isolinux/isolinux.cfg names /isolinux, which is a directory in the image, not a file"
        );
    }

    #[test]
    fn include_loops_are_bounded() {
        let files = [
            (
                "/a.cfg",
                "include /b.cfg\ninclude a.cfg\nlabel x\n kernel /k\n",
            ),
            ("/b.cfg", "include /a.cfg\n"),
        ];
        let mut load = loader_from(&files);
        let walk = walk_syslinux("/a.cfg", &mut load);
        assert_eq!(
            paths(&walk),
            ["config /a.cfg", "config /b.cfg", "kernel /k"]
        );
    }

    #[test]
    fn hostile_configs_are_bounded() {
        let mut text = String::from("label a\n kernel /k\n initrd ");
        text.push_str(
            &(0..100_000)
                .map(|i| format!("/i{i}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        text.push('\n');
        for i in 0..10_000 {
            text.push_str(&format!("label l{i}\n kernel /k{i}\n"));
        }
        let files = [("/big.cfg", text.as_str())];
        let mut load = loader_from(&files);
        let walk = walk_syslinux("/big.cfg", &mut load);
        assert!(walk.refs.len() < 300, "{}", walk.refs.len());
    }
}

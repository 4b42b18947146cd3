//! The boot loader's own files a boot reads besides configurations,
//! kernels and initrds: GRUB modules and data files, syslinux `.c32`
//! modules.
//!
//! GRUB (`$prefix/$platform/`, e.g. `/boot/grub/i386-pc/`): `normal.mod`
//! always, the modules of the commands the default boot runs (from
//! `command.lst`), of the terminals it selects (`terminal.lst`) and of its
//! `insmod` lines, each with its dependencies from `moddep.lst`; plus the
//! lists `normal` reads at start (`command.lst`, `fs.lst`, `crypto.lst`,
//! `terminal.lst`) and `moddep.lst`. A module the image lacks is built into
//! the core image and is not an anomaly.
//!
//! syslinux (since 5.00): `ldlinux.c32` next to `isolinux.bin`, always;
//! the `UI` module and the libraries it links (`libcom32.c32`,
//! `libutil.c32`), looked for where the configuration names them, then in
//! the loader's directory.

use std::collections::{HashMap, HashSet, VecDeque};

use super::grub::GrubNeed;
use super::BootRole;

/// Most GRUB modules one boot is said to load.
const MAX_MODULES: usize = 512;

/// The lists GRUB's `normal` module reads when it starts, then the
/// dependency list.
const GRUB_LISTS: [&str; 5] = [
    "command.lst",
    "fs.lst",
    "crypto.lst",
    "terminal.lst",
    "moddep.lst",
];

/// `name: value...` lines of a GRUB list (`*name` marks an extended
/// command in `command.lst`; the star is dropped).
pub(super) fn parse_list(text: &str) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let k = k.trim().trim_start_matches('*');
        if k.is_empty() {
            continue;
        }
        let v = v.split_whitespace().map(str::to_owned).collect();
        out.entry(k.to_owned()).or_insert(v);
    }
    out
}

/// The GRUB files of a boot, in the order GRUB loads them: the lists, then
/// `normal` and the needed modules, each after its dependencies. `read`
/// returns a file's text, `None` when the image lacks it.
pub(super) fn grub_files(
    dir: &str,
    needs: &[GrubNeed],
    read: &mut dyn FnMut(&str) -> Option<String>,
) -> Vec<(String, BootRole)> {
    let mut out = Vec::new();
    let mut lists: HashMap<&str, HashMap<String, Vec<String>>> = HashMap::new();
    for name in GRUB_LISTS {
        let path = format!("{dir}/{name}");
        if let Some(text) = read(&path) {
            lists.insert(name, parse_list(&text));
            out.push((path, BootRole::LoaderData));
        }
    }
    if out.is_empty() {
        // No module directory for this platform: a monolithic image.
        return out;
    }
    let empty = HashMap::new();
    let get = |name: &str| lists.get(name).unwrap_or(&empty);
    let first = |map: &HashMap<String, Vec<String>>, key: &str| {
        map.get(key).and_then(|v| v.first()).cloned()
    };
    let mut wanted = vec!["normal".to_owned()];
    for n in needs {
        let module = match n {
            GrubNeed::Command(c) => first(get("command.lst"), c),
            GrubNeed::Module(m) => Some(m.clone()),
            GrubNeed::Terminal(t) => first(get("terminal.lst"), t),
        };
        wanted.extend(module);
    }
    let deps = get("moddep.lst");
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for m in wanted {
        // Dependencies first (a post-order walk), bounded.
        let mut stack = VecDeque::from([(m, false)]);
        while let Some((m, expanded)) = stack.pop_back() {
            if order.len() >= MAX_MODULES {
                break;
            }
            if expanded {
                order.push(m);
                continue;
            }
            if !valid_module_name(&m) || !seen.insert(m.clone()) {
                continue;
            }
            stack.push_back((m.clone(), true));
            for d in deps.get(&m).into_iter().flatten().rev() {
                if !seen.contains(d) {
                    stack.push_back((d.clone(), false));
                }
            }
        }
    }
    out.extend(
        order
            .into_iter()
            .map(|m| (format!("{dir}/{m}.mod"), BootRole::Module)),
    );
    out
}

/// A module name is a plain file name (no path tricks from a hostile list).
fn valid_module_name(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 64
        && m.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !m.starts_with('.')
}

/// The libraries a syslinux menu module links.
pub(super) fn syslinux_libraries(module: &str) -> &'static [&'static str] {
    let name = module.rsplit('/').next().unwrap_or(module);
    match name.to_ascii_lowercase().as_str() {
        "menu.c32" | "vesamenu.c32" => &["libcom32.c32", "libutil.c32"],
        "hdt.c32" => &["libcom32.c32", "libutil.c32", "libgpl.c32", "libmenu.c32"],
        "chain.c32" | "ifcpu.c32" | "ifcpu64.c32" | "reboot.c32" | "poweroff.c32" => {
            &["libcom32.c32", "libutil.c32"]
        }
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_modules_follow_commands_terminals_insmod_and_deps() {
        let files = [
            (
                "/g/command.lst",
                "*echo: echo\nlinux: linux\ninitrd: linux\n*search: search\n",
            ),
            ("/g/terminal.lst", "iserial: serial\noserial: serial\n"),
            ("/g/fs.lst", "iso9660\n"),
            (
                "/g/moddep.lst",
                "normal: extcmd boot\nlinux: relocator boot\nrelocator: mmap\nmmap: boot\n\
                 serial: extcmd terminfo\nboot:\nextcmd:\necho: extcmd\next2: fshelp\n\
                 evil: ../../etc/passwd\n",
            ),
        ];
        let mut read = |p: &str| {
            files
                .iter()
                .find(|(n, _)| *n == p)
                .map(|(_, t)| (*t).to_owned())
        };
        let needs = [
            GrubNeed::Command("linux".into()),
            GrubNeed::Command("echo".into()),
            GrubNeed::Command("set".into()),
            GrubNeed::Terminal("iserial".into()),
            GrubNeed::Module("ext2".into()),
            GrubNeed::Module("evil".into()),
        ];
        let got: Vec<String> = grub_files("/g", &needs, &mut read)
            .into_iter()
            .map(|(p, r)| format!("{r} {p}"))
            .collect();
        assert_eq!(
            got,
            [
                "loader-data /g/command.lst",
                "loader-data /g/fs.lst",
                "loader-data /g/terminal.lst",
                "loader-data /g/moddep.lst",
                "module /g/extcmd.mod",
                "module /g/boot.mod",
                "module /g/normal.mod",
                "module /g/mmap.mod",
                "module /g/relocator.mod",
                "module /g/linux.mod",
                "module /g/echo.mod",
                "module /g/terminfo.mod",
                "module /g/serial.mod",
                "module /g/fshelp.mod",
                "module /g/ext2.mod",
                "module /g/evil.mod",
            ]
        );
        // No lists: modules are built in, nothing is read.
        assert!(grub_files("/none", &needs, &mut read).is_empty());
    }

    #[test]
    fn syslinux_menu_modules_link_their_libraries() {
        assert_eq!(
            syslinux_libraries("/isolinux/VESAMENU.C32"),
            ["libcom32.c32", "libutil.c32"]
        );
        assert!(syslinux_libraries("ldlinux.c32").is_empty());
    }
}

//! The machinery shared by the configuration readers: loading files with
//! the limits applied once, the menu model, path resolution, and the final
//! load order (configurations, the default entry, then every other entry).
//!
//! Each configuration file belongs to the menu whose reading loaded it (an
//! `INCLUDE` or top-level `source` belongs to the menu that includes it, a
//! `CONFIG` label or a `configfile` inside an entry starts a new menu). The
//! unattended boot reads the first menu's files, its default entry, and the
//! files of the menus that default entry chains to, following their
//! defaults; those refs are marked [`ConfigRef::default_boot`].

use std::collections::HashSet;

use super::grub::GrubNeed;
use super::{BootRole, ConfigRef, ConfigWalk, NotLoaded, MAX_CONFIGS, MAX_DEPTH, MAX_REFS};
use crate::{Anomaly, Severity};

/// A boot menu: its entries and which one boots unattended.
#[derive(Debug, Default)]
pub(super) struct Menu {
    pub(super) entries: Vec<MenuEntry>,
    pub(super) default: usize,
    /// The id [`Loader::begin_menu`] gave it, which its configuration
    /// files carry.
    pub(super) id: usize,
}

/// One menu entry: its kernel first, then its initrds, and any menus it
/// chains to (syslinux `CONFIG`, GRUB `configfile` inside an entry), and
/// what it asks of GRUB.
#[derive(Debug, Default)]
pub(super) struct MenuEntry {
    pub(super) files: Vec<ConfigRef>,
    pub(super) chain: Vec<Menu>,
    pub(super) needs: Vec<GrubNeed>,
}

/// Most needs kept outside entries.
const MAX_MENU_NEEDS: usize = 512;

/// Most entries one menu keeps (labels, menu entries, submenu entries).
pub(super) const MAX_MENU_ENTRIES: usize = 256;
/// Most files one entry keeps (a kernel and its initrds).
const MAX_ENTRY_FILES: usize = 16;

impl MenuEntry {
    /// Sets the kernel (a later kernel line replaces an earlier one).
    pub(super) fn set_kernel(&mut self, r: ConfigRef) {
        self.files.retain(|f| f.role != BootRole::Kernel);
        self.files.insert(0, r);
        self.files.truncate(MAX_ENTRY_FILES);
    }

    /// Adds an initrd unless the entry has it already or is full.
    pub(super) fn add(&mut self, r: ConfigRef) {
        if self.files.len() < MAX_ENTRY_FILES && !self.files.iter().any(|f| f.path == r.path) {
            self.files.push(r);
        }
    }
}

/// Reads configuration files for a walk, enforcing the limits once.
pub(super) struct Loader<'a> {
    read: &'a mut super::LoadFn<'a>,
    visited: HashSet<String>,
    /// The files read (and the fonts and themes set up outside entries),
    /// each with the id of the menu it belongs to.
    configs: Vec<(ConfigRef, usize)>,
    /// GRUB needs outside entries, with their menu.
    needs: Vec<(GrubNeed, usize)>,
    anomalies: Vec<Anomaly>,
    /// Missing configuration files, with the menu that named them: a
    /// warning only when the default boot reads that menu.
    missing: Vec<(Anomaly, usize)>,
    /// The menu being read.
    menu: usize,
    menus: usize,
}

impl<'a> Loader<'a> {
    pub(super) fn new(read: &'a mut super::LoadFn<'a>) -> Self {
        Loader {
            read,
            visited: HashSet::new(),
            configs: Vec::new(),
            needs: Vec::new(),
            anomalies: Vec::new(),
            missing: Vec::new(),
            menu: 0,
            menus: 0,
        }
    }

    /// Starts reading a new menu: files loaded until [`Loader::end_menu`]
    /// belong to it. Returns its id and the id `end_menu` restores.
    pub(super) fn begin_menu(&mut self) -> (usize, usize) {
        let id = self.menus;
        self.menus += 1;
        (id, std::mem::replace(&mut self.menu, id))
    }

    /// Goes back to reading the menu `previous` (from `begin_menu`).
    pub(super) fn end_menu(&mut self, previous: usize) {
        self.menu = previous;
    }

    /// The text of `path` named by `from`, or `None` when it is missing,
    /// already read, or past a limit.
    pub(super) fn load(&mut self, path: &str, from: Option<&str>, depth: usize) -> Option<String> {
        if depth > MAX_DEPTH {
            self.anomalies.push(Anomaly::new(
                "boot.config-too-deep",
                Severity::Warn,
                format!(
                    "{path} is nested more than {MAX_DEPTH} configuration files deep; not read"
                ),
            ));
            return None;
        }
        if self.visited.len() >= MAX_CONFIGS || !self.visited.insert(path.to_owned()) {
            return None;
        }
        match (self.read)(path) {
            Ok(text) => {
                let r = ConfigRef {
                    path: path.to_owned(),
                    role: BootRole::Config,
                    source: from.map(str::to_owned),
                    default_boot: false,
                };
                self.configs.push((r, self.menu));
                Some(text)
            }
            Err(why) => {
                if let Some(a) = from.and_then(|from| not_loaded(from, path, why)) {
                    self.missing.push((a, self.menu));
                }
                None
            }
        }
    }

    /// Whether the image has a file at `path` (a GRUB `search --file`).
    pub(super) fn exists(&mut self, path: &str) -> bool {
        (self.read)(path).is_ok()
    }

    /// The text of a data file (a GRUB theme) that another ref records;
    /// read once, within the same limits as configuration files.
    pub(super) fn peek(&mut self, path: &str, depth: usize) -> Option<String> {
        if depth > MAX_DEPTH
            || self.visited.len() >= MAX_CONFIGS
            || !self.visited.insert(path.to_owned())
        {
            return None;
        }
        (self.read)(path).ok()
    }

    /// A file the menu being read loads outside its entries (a font, a
    /// theme).
    pub(super) fn file(&mut self, r: ConfigRef) {
        if self.configs.len() < MAX_REFS && !self.configs.iter().any(|(c, _)| c.path == r.path) {
            self.configs.push((r, self.menu));
        }
    }

    /// A GRUB need of the menu being read, outside its entries.
    pub(super) fn need(&mut self, n: GrubNeed) {
        if self.needs.len() < MAX_MENU_NEEDS && !self.needs.iter().any(|(m, _)| *m == n) {
            self.needs.push((n, self.menu));
        }
    }

    pub(super) fn unresolved(&mut self, word: &str, cfg: &str) {
        self.anomalies.push(Anomaly::new(
            "boot.unresolved-variable",
            Severity::Info,
            format!(
                "{cfg} names `{word}`, whose variables are not set in the configuration; skipped"
            ),
        ));
    }

    /// Orders everything: configs, the first menu's default entry, then all
    /// entries; marks what the unattended boot reads.
    pub(super) fn finish(self, menus: Vec<Menu>) -> ConfigWalk {
        let mut default_files = Vec::new();
        let mut default_menus = HashSet::new();
        let mut needs: Vec<GrubNeed> = Vec::new();
        if let Some(first) = menus.first() {
            let mut menu = first;
            // The default entry, following chained menus to their defaults.
            for _ in 0..=MAX_DEPTH {
                default_menus.insert(menu.id);
                let Some(e) = menu.entries.get(menu.default) else {
                    break;
                };
                default_files.extend(e.files.iter());
                needs.extend(e.needs.iter().cloned());
                match e.chain.first() {
                    Some(next) => menu = next,
                    None => break,
                }
            }
        }
        let mut refs: Vec<ConfigRef> = self
            .configs
            .into_iter()
            .map(|(mut r, menu)| {
                r.default_boot = default_menus.contains(&menu);
                r
            })
            .collect();
        let menu_needs = self
            .needs
            .into_iter()
            .filter(|(_, m)| default_menus.contains(m));
        let mut needs: Vec<GrubNeed> = menu_needs.map(|(n, _)| n).chain(needs).collect();
        let mut seen_needs = HashSet::new();
        needs.retain(|n| seen_needs.insert(n.clone()));
        let mut anomalies = self.anomalies;
        for (mut a, menu) in self.missing {
            if !default_menus.contains(&menu) {
                a.severity = Severity::Info;
            }
            anomalies.push(a);
        }
        let mut seen: HashSet<String> = refs.iter().map(|r| r.path.clone()).collect();
        let mut push = |r: &ConfigRef, default_boot: bool, refs: &mut Vec<ConfigRef>| {
            if refs.len() < MAX_REFS && seen.insert(r.path.clone()) {
                refs.push(ConfigRef {
                    default_boot,
                    ..r.clone()
                });
            }
        };
        default_files
            .into_iter()
            .for_each(|r| push(r, true, &mut refs));
        fn all(menu: &Menu, out: &mut Vec<ConfigRef>) {
            let default = menu.entries.get(menu.default);
            let order = default.into_iter().chain(menu.entries.iter());
            for e in order {
                out.extend(e.files.iter().cloned());
                e.chain.iter().for_each(|m| all(m, out));
            }
        }
        let mut rest = Vec::new();
        menus.iter().for_each(|m| all(m, &mut rest));
        rest.iter().for_each(|r| push(r, false, &mut refs));
        ConfigWalk {
            refs,
            anomalies,
            needs,
        }
    }
}

/// The anomaly for a file `cfg` names that was not read; `None` when the
/// reader already reported why ([`NotLoaded::Failed`]). A directory is
/// reported under the same id as a missing file (there is no file there),
/// with a message that says what is there instead.
pub(super) fn not_loaded(cfg: &str, path: &str, why: NotLoaded) -> Option<Anomaly> {
    let message = match why {
        NotLoaded::Missing => format!("{cfg} names {path}, which is not in the image"),
        NotLoaded::Directory => {
            format!("{cfg} names {path}, which is a directory in the image, not a file")
        }
        NotLoaded::Failed => return None,
    };
    Some(Anomaly::new("boot.missing-file", Severity::Warn, message))
}

/// The directory part of an absolute path (`/` for top-level files).
pub(super) fn dirname(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => path[..i].to_owned(),
    }
}

/// `path` made absolute against `base` and normalised, with a GRUB device
/// prefix (`(cd0)`, `($root)`) dropped. `None` when it is empty or still
/// holds an unexpanded `$variable`.
pub(super) fn resolve(base: &str, path: &str) -> Option<String> {
    let path = match path.strip_prefix('(') {
        Some(rest) => rest.split_once(')').map_or("", |(_, p)| p),
        None => path,
    };
    if path.is_empty() || path.contains('$') {
        return None;
    }
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_paths() {
        assert_eq!(
            resolve("/isolinux", "vmlinuz").as_deref(),
            Some("/isolinux/vmlinuz")
        );
        assert_eq!(resolve("/isolinux", "../a/./b").as_deref(), Some("/a/b"));
        assert_eq!(resolve("/", "/x//y/").as_deref(), Some("/x/y"));
        assert_eq!(
            resolve("/", "($root)/casper/vmlinuz").as_deref(),
            Some("/casper/vmlinuz")
        );
        assert_eq!(resolve("/", "(hd0,msdos1)/k").as_deref(), Some("/k"));
        assert_eq!(resolve("/", "$kdir/k"), None);
        assert_eq!(resolve("/", "(broken"), None);
        assert_eq!(resolve("/", "/../.."), None);
        assert_eq!(dirname("/isolinux/isolinux.cfg"), "/isolinux");
        assert_eq!(dirname("/a.cfg"), "/");
    }
}

//! GRUB configuration: which kernel and initrds GRUB loads from the image.
//!
//! This is a reader for the subset of GRUB script that boot media use, not an
//! interpreter: `menuentry`/`submenu` blocks, `linux`/`linuxefi`/`linux16`
//! (and `multiboot`/`multiboot2`) kernels, `initrd`/`initrdefi`/`initrd16`
//! (and `module`/`module2`) with several files per line, `set var=value`
//! (variables are expanded only when the file set them; a path still holding
//! a `$variable` is skipped), and `source`/`configfile` followed up to a
//! depth limit. `if` conditions are not evaluated: every branch is read.
//! Device prefixes such as `($root)` or `(cd0)` are dropped.
//!
//! Files on another device are not the image's: a path with a device
//! prefix other than a cdrom (`(hd0,msdos1)/...`, `(loop)/...`), and every
//! path after `set root=` names such a device or after `search --set=root
//! --file F` for a file the image lacks (in a menu entry until its end, at
//! the top level until root is set again). Only the file operands of a
//! command are paths: `linux`/`multiboot`/`module` take one file and then
//! arguments (`root=...`, `init=/bin/sh`, a Hurd `module`'s `ext2fs` or
//! `exec`), `initrd` takes files only; `insmod` names modules.
//!
//! Besides files, the walk records what the default boot asks of GRUB
//! itself ([`GrubNeed`]: the commands it runs, `insmod` modules, terminals),
//! which discovery turns into module files through the image's
//! `command.lst`, `terminal.lst` and `moddep.lst`; `loadfont` fonts and
//! `set theme=` / `background_image` files are refs of their own roles.
//!
//! The default entry follows `set default=` (an index, `N>M` into a submenu,
//! a title or an `--id`), else the first entry: that is what an unattended
//! boot loads.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::walk::{dirname, resolve, Loader, Menu, MenuEntry, MAX_MENU_ENTRIES};
use super::{BootRole, ConfigRef, ConfigWalk, LoadFn};

/// Something a GRUB configuration asks of GRUB that loads a module.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum GrubNeed {
    /// A command word (`linux`, `search`...): its module comes from
    /// `command.lst`.
    Command(String),
    /// A module named by `insmod`.
    Module(String),
    /// A terminal (`iserial`, `ogfxterm`: `i`/`o` plus the name given to
    /// `terminal_input`/`terminal_output`): its module from `terminal.lst`.
    Terminal(String),
}

/// Most needs one walk records.
const MAX_NEEDS: usize = 256;

/// Walks the GRUB configurations `roots` (absolute paths, in order; the
/// first one's default entry is the default) and everything they source,
/// reading files through `load`.
pub fn walk_grub(roots: &[&str], load: &mut LoadFn<'_>) -> ConfigWalk {
    let mut loader = Loader::new(load);
    let mut menus = Vec::new();
    for root in roots {
        let mut ctx = Context::default();
        // GRUB sets `prefix` to the directory it found its configuration in.
        ctx.vars.insert("prefix".to_owned(), dirname(root));
        let (id, previous) = loader.begin_menu();
        let read = read_file(&mut loader, &mut ctx, root, None, 0);
        loader.end_menu(previous);
        if read.is_some() {
            menus.push(ctx.into_menu(id));
        }
    }
    loader.finish(menus)
}

/// Menu being built: top-level items, each an entry or a submenu.
#[derive(Default)]
struct Context {
    vars: HashMap<String, String>,
    items: Vec<Item>,
    /// `root` names a device other than the cdrom: paths without a device
    /// prefix are not on the image.
    root_away: bool,
}

struct Item {
    title: String,
    id: Option<String>,
    entry: MenuEntry,
    /// Entries of a submenu (empty for a plain entry).
    sub: Vec<(String, Option<String>, MenuEntry)>,
}

/// What an open `{` belongs to; an entry keeps the `root_away` to restore
/// at its end.
enum Block {
    Entry(bool),
    Submenu,
    Other,
}

impl Context {
    fn into_menu(self, id: usize) -> Menu {
        let default = self.vars.get("default").cloned().unwrap_or_default();
        let mut entries = Vec::new();
        let mut default_index = 0;
        let (top, sub) = match default.split_once('>') {
            Some((a, b)) => (a.trim(), Some(b.trim())),
            None => (default.trim(), None),
        };
        let matches = |title: &str, id: &Option<String>, want: &str| {
            want.parse::<usize>().is_err() && (title == want || id.as_deref() == Some(want))
        };
        for (i, item) in self.items.into_iter().enumerate() {
            let hit = top.parse::<usize>().ok() == Some(i) || matches(&item.title, &item.id, top);
            if hit {
                default_index = entries.len();
            }
            entries.push(item.entry);
            for (j, (title, id, e)) in item.sub.into_iter().enumerate() {
                let sub_hit = match sub {
                    Some(s) => s.parse::<usize>().ok() == Some(j) || matches(&title, &id, s),
                    None => j == 0,
                };
                if hit && sub_hit {
                    default_index = entries.len();
                }
                entries.push(e);
            }
        }
        Menu {
            entries,
            default: default_index,
            id,
        }
    }
}

fn read_file(
    loader: &mut Loader<'_>,
    ctx: &mut Context,
    path: &str,
    from: Option<&str>,
    depth: usize,
) -> Option<()> {
    let text = loader.load(path, from, depth)?;
    let mut stack: Vec<Block> = Vec::new();
    for line in text.lines() {
        for cmd in tokenize(line, &ctx.vars) {
            let Some(word) = cmd.first() else { continue };
            let args = &cmd[1..];
            let in_entry = stack.iter().any(|b| matches!(b, Block::Entry(_)));
            if !matches!(word.as_str(), "}" | "menuentry" | "submenu") {
                need(loader, ctx, in_entry, GrubNeed::Command(word.clone()));
            }
            match word.as_str() {
                "}" => {
                    if let Some(Block::Entry(saved)) = stack.pop() {
                        ctx.root_away = saved;
                    }
                }
                "menuentry" | "submenu" => {
                    let (title, id) = title_and_id(args);
                    let entry = MenuEntry::default();
                    let in_sub = stack.iter().any(|b| matches!(b, Block::Submenu));
                    let full = ctx.items.len()
                        + ctx.items.iter().map(|i| i.sub.len()).sum::<usize>()
                        >= MAX_MENU_ENTRIES;
                    match (word.as_str(), in_sub, ctx.items.last_mut()) {
                        _ if full => {}
                        ("menuentry", true, Some(parent)) => parent.sub.push((title, id, entry)),
                        _ => ctx.items.push(Item {
                            title,
                            id,
                            entry,
                            sub: Vec::new(),
                        }),
                    }
                    if args.last().map(String::as_str) == Some("{") {
                        stack.push(if word == "submenu" {
                            Block::Submenu
                        } else {
                            Block::Entry(ctx.root_away)
                        });
                    }
                }
                "set" => {
                    for a in args.iter().filter(|a| !a.starts_with('-')) {
                        assign(ctx, a);
                        if let Some(theme) = a.strip_prefix("theme=") {
                            read_theme(loader, ctx, in_entry, theme, path, depth);
                        }
                    }
                }
                w if !in_entry && w.contains('=') && !w.starts_with('=') => assign(ctx, w),
                "search" | "search.file" | "search.fs_file" | "search.fs_uuid"
                | "search.fs_label" => {
                    search(loader, ctx, word, args);
                }
                "insmod" => {
                    for m in args.iter().filter(|a| !a.starts_with('-')) {
                        need(loader, ctx, in_entry, GrubNeed::Module(m.clone()));
                    }
                }
                "terminal_input" | "terminal_output" => {
                    let io = if word == "terminal_input" { 'i' } else { 'o' };
                    for t in args.iter().filter(|a| !a.starts_with('-')) {
                        need(
                            loader,
                            ctx,
                            in_entry,
                            GrubNeed::Terminal(format!("{io}{t}")),
                        );
                    }
                }
                "loadfont" => {
                    for f in args.iter().filter(|a| !a.starts_with('-')) {
                        let file = if f.contains('/') || f.ends_with(".pf2") {
                            f.clone()
                        } else {
                            let prefix = ctx.vars.get("prefix").cloned().unwrap_or_default();
                            format!("{prefix}/fonts/{f}.pf2")
                        };
                        add_file(loader, ctx, in_entry, &file, BootRole::Font, path);
                    }
                }
                "background_image" => {
                    if let Some(f) = operands(args).next() {
                        add_file(loader, ctx, in_entry, f, BootRole::Theme, path);
                    }
                }
                // Kernels and multiboot modules: one file, then its arguments.
                "linux" | "linuxefi" | "linux16" | "multiboot" | "multiboot2" => {
                    if let Some(k) = operands(args).next() {
                        add_file(loader, ctx, in_entry, k, BootRole::Kernel, path);
                    }
                }
                "module" | "module2" => {
                    if let Some(m) = operands(args).next() {
                        add_file(loader, ctx, in_entry, m, BootRole::Initrd, path);
                    }
                }
                "initrd" | "initrdefi" | "initrd16" => {
                    for f in operands(args) {
                        // `newc:NAME:PATH` adds PATH to the archive as NAME.
                        let f = match f.strip_prefix("newc:") {
                            Some(rest) => rest.split_once(':').map_or(rest, |(_, p)| p),
                            None => f,
                        };
                        add_file(loader, ctx, in_entry, f, BootRole::Initrd, path);
                    }
                }
                "source" | "configfile" | "." => {
                    if args.first().is_some_and(|a| on_other_device(ctx, a)) {
                        // Another disk's configuration (a "boot from disk" entry).
                    } else if let Some(p) = args.first().and_then(|a| resolve("/", a)) {
                        if in_entry {
                            // Read only if this entry is chosen: a chained menu.
                            let mut sub = Context {
                                vars: ctx.vars.clone(),
                                items: Vec::new(),
                                root_away: ctx.root_away,
                            };
                            let (id, previous) = loader.begin_menu();
                            let read = read_file(loader, &mut sub, &p, Some(path), depth + 1);
                            loader.end_menu(previous);
                            if let (Some(()), Some(e)) = (read, current_entry(ctx)) {
                                e.chain.push(sub.into_menu(id));
                            }
                        } else {
                            read_file(loader, ctx, &p, Some(path), depth + 1);
                        }
                    } else if let Some(a) = args.first() {
                        loader.unresolved(a, path);
                    }
                }
                w if w.ends_with('{') || args.last().map(String::as_str) == Some("{") => {
                    stack.push(Block::Other);
                }
                _ => {}
            }
        }
    }
    Some(())
}

/// The operands of a command: the words that are not options.
fn operands(args: &[String]) -> impl Iterator<Item = &String> {
    args.iter().filter(|a| !a.starts_with("--"))
}

/// Records a need: in an entry for that entry, else for the menu read.
fn need(loader: &mut Loader<'_>, ctx: &mut Context, in_entry: bool, n: GrubNeed) {
    match current_entry(ctx) {
        Some(e) if in_entry => {
            if e.needs.len() < MAX_NEEDS && !e.needs.contains(&n) {
                e.needs.push(n);
            }
        }
        _ => loader.need(n),
    }
}

/// `search ... --set[=root] --file F`: root moves away from the cdrom when
/// the image has no `F`. Searches by UUID or label are assumed to find the
/// image (what boot media use them for).
fn search(loader: &mut Loader<'_>, ctx: &mut Context, word: &str, args: &[String]) {
    let mut sets_root = false;
    let mut by_file = matches!(word, "search.file" | "search.fs_file");
    let mut term = None;
    for a in args {
        match a.as_str() {
            "--set" | "-s" | "--set=root" => sets_root = true,
            "--file" | "-f" => by_file = true,
            s if s.starts_with("--set=") || s.starts_with('-') => {}
            s if term.is_none() => term = Some(s.to_owned()),
            _ => {}
        }
    }
    if !(sets_root && by_file) {
        return;
    }
    if let Some(p) = term.as_deref().and_then(|t| resolve("/", t)) {
        ctx.root_away = !loader.exists(&p);
    }
}

/// Reads a `theme.txt` and records it and the images and fonts it names
/// (quoted words ending in an image or font extension, relative to its
/// directory).
fn read_theme(
    loader: &mut Loader<'_>,
    ctx: &mut Context,
    in_entry: bool,
    theme: &str,
    cfg: &str,
    depth: usize,
) {
    if on_other_device(ctx, theme) {
        return;
    }
    let Some(p) = resolve("/", theme) else {
        loader.unresolved(theme, cfg);
        return;
    };
    add_file(loader, ctx, in_entry, &p, BootRole::Theme, cfg);
    let Some(text) = loader.peek(&p, depth + 1) else {
        return;
    };
    let dir = dirname(&p);
    let exts = [".png", ".jpg", ".jpeg", ".tga", ".pf2"];
    let mut named = Vec::new();
    for piece in text.split('"').skip(1).step_by(2) {
        let lower = piece.to_ascii_lowercase();
        if exts.iter().any(|e| lower.ends_with(e)) {
            named.push(piece.to_owned());
        }
    }
    for f in named.iter().take(32) {
        if let Some(f) = resolve(&dir, f) {
            let role = if f.ends_with(".pf2") {
                BootRole::Font
            } else {
                BootRole::Theme
            };
            add_file(loader, ctx, in_entry, &f, role, &p);
        }
    }
}

/// The device a GRUB path names (`(hd0,msdos1)/x` -> `hd0,msdos1`), if any.
fn device(word: &str) -> Option<&str> {
    let rest = word.strip_prefix('(')?;
    let (dev, _) = rest.split_once(')')?;
    Some(dev.trim_matches(|c| c == '(' || c == '\''))
}

/// Whether a device name is the cdrom GRUB booted from (`cd0`, `cd`).
fn is_cdrom(dev: &str) -> bool {
    dev.to_ascii_lowercase().starts_with("cd")
}

/// `word` names a file on a device other than the image.
fn on_other_device(ctx: &Context, word: &str) -> bool {
    match device(word) {
        Some("$root" | "${root}" | "") => ctx.root_away,
        Some(dev) => !is_cdrom(dev),
        None => ctx.root_away,
    }
}

fn add_file(
    loader: &mut Loader<'_>,
    ctx: &mut Context,
    in_entry: bool,
    word: &str,
    role: BootRole,
    cfg: &str,
) {
    // Outside a menu entry a kernel line runs when the file is read; such
    // configs are rare on boot media and are ignored.
    // Fonts and themes set up at the top level belong to the menu.
    let menu_file = matches!(role, BootRole::Font | BootRole::Theme);
    if !in_entry && !menu_file {
        return;
    }
    if on_other_device(ctx, word) {
        return;
    }
    let Some(p) = resolve("/", word) else {
        loader.unresolved(word, cfg);
        return;
    };
    let r = ConfigRef::new(p, role, cfg);
    match current_entry(ctx) {
        Some(e) if in_entry => {
            if role == BootRole::Kernel {
                e.set_kernel(r);
            } else {
                e.add(r);
            }
        }
        _ => loader.file(r),
    }
}

fn current_entry(ctx: &mut Context) -> Option<&mut MenuEntry> {
    let item = ctx.items.last_mut()?;
    match item.sub.last_mut() {
        Some((_, _, e)) => Some(e),
        None => Some(&mut item.entry),
    }
}

fn assign(ctx: &mut Context, a: &str) {
    if let Some((k, v)) = a.split_once('=') {
        let valid = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid && k == "root" {
            // Kept out of the variables: `($root)` and unprefixed paths
            // follow `root_away`.
            let dev = device(v).unwrap_or(v);
            ctx.root_away = !(dev.is_empty() || is_cdrom(dev) || dev.starts_with('$'));
        } else if valid {
            ctx.vars.insert(k.to_owned(), v.to_owned());
        }
    }
}

/// The title (first non-option argument) and `--id` of a menu entry.
fn title_and_id(args: &[String]) -> (String, Option<String>) {
    let mut title = None;
    let mut id = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--class" | "--users" | "--hotkey" => {
                it.next();
            }
            "--id" => id = it.next().cloned(),
            "{" => break,
            s if s.starts_with("--id=") => id = Some(s[5..].to_owned()),
            s if s.starts_with("--") => {}
            s if title.is_none() => title = Some(s.to_owned()),
            _ => {}
        }
    }
    (title.unwrap_or_default(), id)
}

/// Ends the current word; a bare (unquoted) `{` or `}` also ends the command.
fn end_word(
    word: &mut String,
    quoted: &mut bool,
    words: &mut Vec<String>,
    cmds: &mut Vec<Vec<String>>,
) {
    let w = std::mem::take(word);
    let brace = !*quoted && (w == "{" || w == "}");
    *quoted = false;
    if brace && w == "}" {
        cmds.push(std::mem::take(words));
    }
    words.push(w);
    if brace {
        cmds.push(std::mem::take(words));
    }
}

/// Splits a line into commands (`;`-separated) of words, removing quotes and
/// expanding the variables in `vars`; unknown `$variables` stay as written.
fn tokenize(line: &str, vars: &HashMap<String, String>) -> Vec<Vec<String>> {
    let mut cmds = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let mut quote: Option<char> = None;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    word.push(n);
                    in_word = true;
                }
            }
            (_, '$') => {
                let mut name = String::new();
                let braced = chars.peek() == Some(&'{');
                if braced {
                    chars.next();
                }
                while let Some(&n) = chars.peek() {
                    if braced && n == '}' {
                        chars.next();
                        break;
                    }
                    if !(braced || n.is_ascii_alphanumeric() || n == '_') {
                        break;
                    }
                    name.push(n);
                    chars.next();
                }
                match vars.get(&name) {
                    Some(v) => word.push_str(v),
                    None if braced => word.push_str(&format!("${{{name}}}")),
                    None => {
                        word.push('$');
                        word.push_str(&name);
                    }
                }
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                quoted = true;
                in_word = true;
            }
            (None, '#') if !in_word => break,
            (None, ';') => {
                if in_word {
                    end_word(&mut word, &mut quoted, &mut words, &mut cmds);
                    in_word = false;
                }
                cmds.push(std::mem::take(&mut words));
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    end_word(&mut word, &mut quoted, &mut words, &mut cmds);
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        end_word(&mut word, &mut quoted, &mut words, &mut cmds);
    }
    cmds.push(words);
    cmds.retain(|c| !c.is_empty());
    cmds
}

#[cfg(test)]
mod tests;

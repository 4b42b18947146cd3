//! Key presses for guests that wait in a boot menu.
//!
//! A real installer stops in its menu: GRUB with `timeout=-1` waits for
//! ever, isolinux counts down its `TIMEOUT`. A run can press keys through
//! QMP `send-key` (the guest's PS/2 keyboard), either when a serial line
//! matches a pattern (`ret@Press enter`), at a time (`ret@5`: 5 s after the
//! guest started), or, with [`MenuMode::Auto`], Enter as soon as a GRUB or
//! isolinux menu is recognised on the serial console.
//!
//! The time spent waiting at a menu is its own phase, not boot time: a
//! press after a menu (or a pattern) was seen counts from that moment; a
//! timed press counts from the last serial output before it. The runner
//! subtracts the waits from every time it reports after them.

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Whether to press Enter at a recognised boot menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MenuMode {
    /// Leave menus alone.
    #[default]
    Off,
    /// Press Enter once at the first GRUB or isolinux menu seen.
    Auto,
}

/// When a [`KeyPress`] happens.
#[derive(Debug, Clone)]
pub enum KeyTrigger {
    /// The first serial line (or prompt not yet ended) matching this.
    Line(Regex),
    /// This many seconds after the guest started.
    Seconds(f64),
}

/// Keys pressed one after another, once, when the trigger fires.
#[derive(Debug, Clone)]
pub struct KeyPress {
    /// QEMU key names (qcodes: `ret`, `down`, `esc`, `a`, `f1`...).
    pub keys: Vec<String>,
    /// When.
    pub trigger: KeyTrigger,
    /// The specification as given (`ret@5`).
    pub text: String,
}

/// A key specification could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySpecError {
    /// No `@`.
    #[error("expected KEYS@REGEX or KEYS@SECONDS, e.g. ret@5 or down,ret@boot:")]
    NoAt,
    /// A key name that is not a qcode word.
    #[error("{0:?} is not a QEMU key name (qcodes such as ret, down, esc, a, f1)")]
    BadKey(String),
    /// The pattern does not compile.
    #[error("invalid regular expression {0:?}")]
    BadRegex(String),
}

impl std::str::FromStr for KeyPress {
    type Err = KeySpecError;

    /// `KEYS@WHEN`: KEYS is a comma-separated list of qcodes; WHEN is a
    /// number of seconds, or else a regular expression for a serial line.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (keys, when) = s.split_once('@').ok_or(KeySpecError::NoAt)?;
        let keys: Vec<String> = keys.split(',').map(|k| k.trim().to_owned()).collect();
        for k in &keys {
            let ok = !k.is_empty()
                && k.len() <= 24
                && k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(KeySpecError::BadKey(k.clone()));
            }
        }
        let trigger = match when.parse::<f64>() {
            Ok(secs) if secs.is_finite() && secs >= 0.0 => KeyTrigger::Seconds(secs),
            _ => KeyTrigger::Line(
                Regex::new(when).map_err(|_| KeySpecError::BadRegex(when.to_owned()))?,
            ),
        };
        Ok(KeyPress {
            keys,
            trigger,
            text: s.to_owned(),
        })
    }
}

/// Serial text by which a boot menu is recognised.
const MENU_PATTERNS: &[&str] = &[
    // GRUB 2's menu footer.
    r"Use the .* keys to select which entry is highlighted",
    r"Press enter to boot the selected OS",
    // syslinux/isolinux menu.c32 and vesamenu.c32 over serial, and the
    // plain prompt.
    r"Automatic boot in \d+ seconds?",
    r"Press \[Tab\] to edit options",
    r"^boot: ?$",
];

/// One press made during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPressed {
    /// When, seconds since the guest started (wall time, waits included).
    pub at_seconds: f64,
    /// The keys, comma-separated.
    pub keys: String,
    /// What made it: `menu` (a recognised menu), `line` or `time`.
    pub cause: String,
    /// Seconds spent waiting before it (see the module doc).
    pub waited_seconds: f64,
}

/// Decides when to press what during one run.
#[derive(Debug)]
pub(crate) struct KeyDriver {
    pending: Vec<KeyPress>,
    menu: Option<Vec<Regex>>,
    /// When something to wait for was seen (a menu or a trigger line).
    seen_at: Option<f64>,
    last_output: f64,
    pressed: Vec<KeyPressed>,
}

impl KeyDriver {
    pub(crate) fn new(keys: &[KeyPress], menu: MenuMode) -> Self {
        KeyDriver {
            pending: keys.to_vec(),
            menu: (menu == MenuMode::Auto).then(|| {
                MENU_PATTERNS
                    .iter()
                    .map(|p| Regex::new(p).expect("static pattern"))
                    .collect()
            }),
            seen_at: None,
            last_output: 0.0,
            pressed: Vec::new(),
        }
    }

    /// Serial text arrived at `t` (raw seconds); returns the keys to press
    /// now.
    pub(crate) fn on_text(&mut self, text: &str, t: f64) -> Vec<Vec<String>> {
        self.last_output = t;
        let mut out = Vec::new();
        if let Some(menu) = &self.menu {
            if menu.iter().any(|re| re.is_match(text)) {
                self.seen_at.get_or_insert(t);
                self.menu = None;
                out.push(self.press(vec!["ret".to_owned()], "menu", t));
            }
        }
        let mut i = 0;
        while i < self.pending.len() {
            if matches!(&self.pending[i].trigger, KeyTrigger::Line(re) if re.is_match(text)) {
                let k = self.pending.remove(i);
                self.seen_at.get_or_insert(t);
                out.push(self.press(k.keys, "line", t));
            } else {
                i += 1;
            }
        }
        out
    }

    /// Time passed; returns the keys whose time has come.
    pub(crate) fn on_tick(&mut self, t: f64) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            if matches!(self.pending[i].trigger, KeyTrigger::Seconds(s) if t >= s) {
                let k = self.pending.remove(i);
                out.push(self.press(k.keys, "time", t));
            } else {
                i += 1;
            }
        }
        out
    }

    /// Whether a timed press is still to come (reads must not settle the
    /// run before it).
    pub(crate) fn timed_pending(&self) -> bool {
        self.pending
            .iter()
            .any(|k| matches!(k.trigger, KeyTrigger::Seconds(_)))
    }

    fn press(&mut self, keys: Vec<String>, cause: &str, t: f64) -> Vec<String> {
        let from = self.seen_at.take().unwrap_or(self.last_output);
        let from = from.max(self.pressed.last().map_or(0.0, |p| p.at_seconds));
        self.pressed.push(KeyPressed {
            at_seconds: t,
            keys: keys.join(","),
            cause: cause.to_owned(),
            waited_seconds: (t - from).max(0.0),
        });
        keys
    }

    /// Presses made so far.
    pub(crate) fn count(&self) -> usize {
        self.pressed.len()
    }

    /// Total seconds waited so far.
    pub(crate) fn waited(&self) -> f64 {
        self.pressed
            .iter()
            .fold(0.0, |sum, p| sum + p.waited_seconds)
    }

    pub(crate) fn into_pressed(self) -> Vec<KeyPressed> {
        self.pressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let k: KeyPress = "ret@5".parse().unwrap();
        assert_eq!(k.keys, ["ret"]);
        assert!(matches!(k.trigger, KeyTrigger::Seconds(s) if s == 5.0));
        let k: KeyPress = "down,ret@^boot:".parse().unwrap();
        assert_eq!(k.keys, ["down", "ret"]);
        assert!(matches!(k.trigger, KeyTrigger::Line(ref re) if re.as_str() == "^boot:"));
        assert_eq!("ret".parse::<KeyPress>().unwrap_err(), KeySpecError::NoAt);
        assert_eq!(
            "Enter@5".parse::<KeyPress>().unwrap_err(),
            KeySpecError::BadKey("Enter".into())
        );
        assert_eq!(
            "ret@(".parse::<KeyPress>().unwrap_err(),
            KeySpecError::BadRegex("(".into())
        );
    }

    #[test]
    fn menu_auto_presses_enter_once_and_counts_the_wait() {
        let mut d = KeyDriver::new(&[], MenuMode::Auto);
        assert!(d.on_text("GNU GRUB  version 2.06", 1.0).is_empty());
        let keys = d.on_text(
            "Use the ^ and v keys to select which entry is highlighted.",
            1.5,
        );
        assert_eq!(keys, [vec!["ret".to_owned()]]);
        assert!(d
            .on_text("Press enter to boot the selected OS", 1.6)
            .is_empty());
        assert_eq!(d.waited(), 0.0);
        let p = d.into_pressed();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].cause, "menu");
    }

    #[test]
    fn a_timed_press_counts_the_idle_time_before_it() {
        let k: KeyPress = "ret@10".parse().unwrap();
        let mut d = KeyDriver::new(&[k], MenuMode::Off);
        assert!(d.timed_pending());
        d.on_text("isolinux: menu", 2.0);
        assert!(d.on_tick(9.9).is_empty());
        assert_eq!(d.on_tick(10.0), [vec!["ret".to_owned()]]);
        assert!(!d.timed_pending());
        assert!((d.waited() - 8.0).abs() < 1e-9);
        assert!(d.on_tick(20.0).is_empty());
    }

    #[test]
    fn isolinux_prompts_are_menus() {
        for text in [
            "boot: ",
            "Automatic boot in 5 seconds...",
            "Press [Tab] to edit options",
        ] {
            let mut d = KeyDriver::new(&[], MenuMode::Auto);
            assert_eq!(d.on_text(text, 0.0).len(), 1, "{text}");
        }
        let mut d = KeyDriver::new(&[], MenuMode::Off);
        assert!(d.on_text("boot: ", 0.0).is_empty());
    }
}

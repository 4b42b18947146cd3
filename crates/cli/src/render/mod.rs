//! Human renderers: they take the libraries' serde results and write text.
//! Nothing here measures or reads the image.

pub mod bench;
pub mod boot;
pub mod check;
pub mod doctor;
pub mod fleet;
pub mod fleet_html;
pub mod inspect;
pub mod tune;
pub mod tune_measure;
pub mod verify;

use std::io::IsTerminal;

use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement};

/// A table in the house look: no borders or rules, wrapped to
/// the terminal's width when stdout is a terminal that reports one.
///
/// Cells may hold text coloured by [`paint`]: the escape codes are taken
/// out and the colour is given to the cell, so widths are measured on what
/// is displayed. A terminal that reports 0 columns (`script`, some CI
/// ptys) or no width at all counts as unlimited.
#[derive(Debug)]
pub struct Table {
    inner: comfy_table::Table,
}

/// A new [`Table`] with `header`.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    table_for_width(header, terminal_columns())
}

/// [`table`] for a terminal `columns` wide (`None`: unlimited).
pub fn table_for_width<I, S>(header: I, columns: Option<u16>) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut t = comfy_table::Table::new();
    // Width and styling are decided here, not by comfy-table's own tty
    // probe (which takes a 0-column pty at its word).
    t.force_no_tty().load_preset(presets::NOTHING);
    match columns {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(w);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t.set_header(
        header
            .into_iter()
            .map(|h| styled(h.into()))
            .collect::<Vec<_>>(),
    );
    Table { inner: t }
}

impl Table {
    /// Adds a row of cells (plain or [`paint`]ed text).
    pub fn add_row<I, S>(&mut self, row: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let cells: Vec<Cell> = row.into_iter().map(|c| styled(c.into())).collect();
        self.inner.add_row(cells);
        self
    }

    /// The table without trailing spaces on its lines. Colours appear
    /// only where a cell was [`paint`]ed, which happens only with colour on.
    pub fn trim_fmt(&mut self) -> String {
        self.inner.enforce_styling();
        self.inner.trim_fmt()
    }
}

/// The width of the terminal on stdout, `None` when stdout is not a
/// terminal or it reports no (or a zero) width.
fn terminal_columns() -> Option<u16> {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    rustix::termios::tcgetwinsize(&stdout)
        .ok()
        .map(|w| w.ws_col)
        .filter(|&c| c > 0)
}

/// A cell from text that may be wrapped in [`paint`]'s escape codes: the
/// codes become the cell's colour and attributes, the text stays plain.
fn styled(text: String) -> Cell {
    if !text.contains('\x1b') {
        return Cell::new(text);
    }
    let mut plain = String::with_capacity(text.len());
    let mut codes: Vec<String> = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            let mut code = String::new();
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
                code.push(n);
            }
            if codes.is_empty() && code != "0" {
                codes = code.split(';').map(str::to_owned).collect();
            }
        } else {
            plain.push(c);
        }
    }
    let mut cell = Cell::new(plain);
    for code in codes {
        cell = match code.as_str() {
            "1" => cell.add_attribute(Attribute::Bold),
            "31" => cell.fg(Color::Red),
            "32" => cell.fg(Color::Green),
            "33" => cell.fg(Color::Yellow),
            "34" => cell.fg(Color::Blue),
            "36" => cell.fg(Color::Cyan),
            _ => cell,
        };
    }
    cell
}

/// Bytes with a binary unit, e.g. `1.50 GiB (1610612736 bytes)` when `exact`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {}", UNITS[unit])
}

/// Bytes per second with a decimal unit (as disks and networks are quoted).
pub fn rate(bytes_per_second: u64) -> String {
    let v = bytes_per_second as f64;
    if v >= 1e9 {
        format!("{:.2} GB/s", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1} MB/s", v / 1e6)
    } else {
        format!("{:.1} kB/s", v / 1e3)
    }
}

/// Nanoseconds as seconds with a unit.
pub fn seconds(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}

/// Wraps text in an ANSI colour when colour is on.
pub fn paint(text: &str, color: bool, code: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// Green PASS, red FAIL, yellow otherwise.
pub fn status(word: &str, color: bool) -> String {
    let code = match word {
        "PASS" | "ok" => "32",
        "FAIL" | "error" => "31;1",
        _ => "33",
    };
    paint(word, color, code)
}

/// The serde name of a unit-like enum value (`"bios"`, `"io_uring"`,
/// `"cold"`), so human and JSON output use the same words.
pub fn word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

/// One `doctor --probe` measurement: `URL (server): connect 0.1 ms, round
/// trip 50.3 ms, first 1.0 MiB in 61.2 ms (16.3 MiB/s), 1 redirect`.
pub fn probe_line(p: &isotune_doctor::NetProbe) -> String {
    let ms = |ns: u64| {
        if ns < 1_000_000 {
            format!("{} µs", ns / 1000)
        } else {
            format!("{:.1} ms", ns as f64 / 1e6)
        }
    };
    let mut parts = Vec::new();
    if let Some(c) = p.connect_ns {
        parts.push(format!("connect {}", ms(c)));
    }
    if let Some(r) = p.rtt_ns {
        parts.push(format!("round trip {}", ms(r)));
    }
    if let (Some(t), Some(rate)) = (p.read_ns, p.throughput_bytes_per_s()) {
        parts.push(format!(
            "first {:.1} MiB in {} ({:.1} MiB/s)",
            p.read_bytes as f64 / f64::from(1 << 20),
            ms(t),
            rate / f64::from(1 << 20)
        ));
    }
    if p.redirects > 0 {
        parts.push(format!("{} redirect(s)", p.redirects));
    }
    if let Some(e) = &p.error {
        parts.push(format!("failed: {e}"));
    }
    format!("{} ({}): {}", p.source, p.server, parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_named() {
        assert_eq!(bytes(0), "0 bytes");
        assert_eq!(bytes(2048), "2.00 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.50 GiB");
        assert_eq!(rate(1_520_000_000), "1.52 GB/s");
        assert_eq!(rate(224_000_000), "224.0 MB/s");
        assert_eq!(seconds(710_000_000), "710.0 ms");
        assert_eq!(seconds(2_500_000_000), "2.50 s");
        assert_eq!(status("PASS", false), "PASS");
    }

    /// Painted cells line up with plain ones: the escape codes are not
    /// counted as width.
    #[test]
    fn painted_cells_keep_their_columns() {
        for color in [false, true] {
            let mut t = table_for_width(["check", "result", "detail"], Some(80));
            t.add_row(["sha256", &status("PASS", color), "matches"]);
            t.add_row(["truncation", &status("FAIL", color), "short by 2048 bytes"]);
            let text = t.trim_fmt();
            let strip = |l: &str| {
                let mut out = String::new();
                let mut esc = false;
                for c in l.chars() {
                    match (esc, c) {
                        (_, '\x1b') => esc = true,
                        (true, c) if c.is_ascii_alphabetic() => esc = false,
                        (true, _) => {}
                        (false, c) => out.push(c),
                    }
                }
                out
            };
            let lines: Vec<String> = text.lines().map(strip).collect();
            let col = lines[0].find("detail").unwrap();
            assert_eq!(lines[1].find("matches"), Some(col), "{color}: {text}");
            assert_eq!(lines[2].find("short"), Some(col), "{color}: {text}");
            assert_eq!(text.contains('\x1b'), color, "{text:?}");
        }
    }

    /// No width (a 0-column pty, or not a terminal): nothing is wrapped.
    #[test]
    fn unknown_width_is_unlimited() {
        let long = "a finding whose text is far longer than any terminal is wide ".repeat(3);
        let mut t = table_for_width(["#", "finding"], None);
        t.add_row(["1", long.trim()]);
        let text = t.trim_fmt();
        assert_eq!(text.lines().count(), 2, "{text}");
        let mut t = table_for_width(["#", "finding"], Some(40));
        t.add_row(["1", long.trim()]);
        assert!(t.trim_fmt().lines().count() > 2);
    }
}

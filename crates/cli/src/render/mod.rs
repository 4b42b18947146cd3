//! Human renderers: they take the libraries' serde results and write text.
//! Nothing here measures or reads the image.

pub mod bench;
pub mod boot;
pub mod check;
pub mod doctor;
pub mod inspect;
pub mod tune;
pub mod verify;

use comfy_table::{presets, ContentArrangement, Table};

/// A table in the house look: no outer borders, a header rule, wrapped to
/// the terminal when there is one.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    t
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
}

//! Tables in a real pseudo-terminal (`script` from util-linux): coloured
//! cells keep their columns (escape codes are not width), and a terminal
//! that reports 0 columns, as `script` and some CI ptys do, does not
//! collapse the table to one letter per column.

use isotune_testutil as common;

use std::process::Command;

/// Runs `isotune ARGS` in a pty whose size is set to `cols` columns first;
/// returns what the terminal showed, without escape codes and CRs.
fn in_pty(cols: u16, args: &str) -> Option<String> {
    let script = common::tool("script")?;
    let bin = assert_cmd::cargo::cargo_bin("isotune");
    let cmd = format!("stty cols {cols} rows 50; {} {args}", bin.display());
    let out = Command::new(script)
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(raw.contains('\x1b'), "no colour in the pty: {raw:?}");
    Some(strip(&raw))
}

fn strip(s: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in s.chars() {
        match (esc, c) {
            (_, '\x1b') => esc = true,
            (true, c) if c.is_ascii_alphabetic() => esc = false,
            (true, _) | (false, '\r') => {}
            (false, c) => out.push(c),
        }
    }
    out
}

const CMDLINE: &str = "--color always doctor --qemu-cmdline \
     'qemu-system-x86_64 -drive file=/isos/x.iso,media=cdrom,aio=native'";

/// The table's header and the rows that start a finding.
fn findings_table(text: &str) -> (String, Vec<String>) {
    let mut lines = text.lines();
    let header = lines
        .find(|l| l.contains("severity") && l.contains("layer"))
        .unwrap_or_else(|| panic!("no table header: {text}"))
        .to_owned();
    let rows = lines
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_owned)
        .collect();
    (header, rows)
}

#[test]
fn zero_columns_is_unlimited_and_colour_keeps_columns() {
    let Some(text) = in_pty(0, CMDLINE) else {
        return;
    };
    let (header, rows) = findings_table(&text);
    let layer = header.find("layer").unwrap();
    let finding = header.find("finding").unwrap();
    // Each finding on one line (nothing wrapped one letter per column),
    // its coloured severity not shifting the columns after it.
    let aio = rows
        .iter()
        .find(|r| r.contains("[drive.aio-native-needs-direct]"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        aio.contains("error") && aio.contains("/isos/x.iso"),
        "{aio}"
    );
    assert!(rows.len() >= 3, "{text}");
    for r in &rows {
        assert_eq!(
            r.find("vm-config").or(r.find("accelerator")),
            Some(layer),
            "{text}"
        );
        assert_eq!(&r[finding - 1..finding], " ", "{text}");
    }
}

#[test]
fn a_narrow_terminal_wraps_but_keeps_columns() {
    let Some(text) = in_pty(100, CMDLINE) else {
        return;
    };
    let (header, rows) = findings_table(&text);
    let layer = header.find("layer").unwrap();
    for r in &rows {
        assert_eq!(
            r.find("vm-config").or(r.find("accelerator")),
            Some(layer),
            "{text}"
        );
    }
    let table_lines: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("severity"))
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(
        table_lines.iter().all(|l| l.chars().count() <= 100),
        "{text}"
    );
    assert!(
        table_lines.len() > rows.len() + 1,
        "nothing wrapped: {text}"
    );
}

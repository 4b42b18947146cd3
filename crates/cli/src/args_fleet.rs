//! Arguments of `isotune fleet` (report).

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Arguments of `isotune fleet`.
#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    pub action: FleetCommand,
}

/// The `fleet` subcommands.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Read the JSON reports of many hosts (doctor, check, tune verify,
    /// bench; DIR/HOST/*.json, as the Ansible role fetches them) and sum
    /// them up: findings by id across the fleet, the worst hosts, hosts
    /// whose reports are missing, stale or from an older schema, drift.
    /// Exit 1 when a host has an error-severity finding or drift, 2 when
    /// no report could be read.
    Report(FleetReportArgs),
}

/// Arguments of `isotune fleet report`.
#[derive(Debug, Args)]
pub struct FleetReportArgs {
    /// Directories holding HOST/*.json (or one host's *.json).
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,

    /// Reports older than this are stale (the report's own timestamp, else
    /// the file's mtime): a number with a unit, s, m, h, d or w (`36h`).
    #[arg(long, value_name = "DUR", default_value = "7d", value_parser = duration_seconds)]
    pub max_age: u64,

    /// Print JSON (stable schema with `schema_version`).
    #[arg(long)]
    pub json: bool,

    /// Also write the report as Markdown to FILE (all-or-nothing).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,

    /// Also write one self-contained HTML page to FILE (sortable host
    /// table, bar chart of findings per id; no external assets).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// `90s`, `30m`, `36h`, `7d`, `2w` (a bare number is seconds) to seconds.
pub(crate) fn duration_seconds(s: &str) -> Result<u64, String> {
    let bad = || format!("expected a duration like 90s, 30m, 36h, 7d or 2w, not {s:?}");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_seconds("90"), Ok(90));
        assert_eq!(duration_seconds("36h"), Ok(129_600));
        assert_eq!(duration_seconds("7d"), Ok(604_800));
        assert_eq!(duration_seconds("2w"), Ok(1_209_600));
        for bad in ["", "d", "7x", "-1d", "1.5d", "99999999999999999999w"] {
            assert!(duration_seconds(bad).is_err(), "{bad}");
        }
    }
}

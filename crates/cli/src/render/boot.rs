//! Rendering of `isotune boot` results: the ranked table (human and
//! Markdown) and the SVG chart (per configuration the runs as points and
//! the median as a bar, split at the phase markers' medians).

use std::io::{self, Write};

use isotune_qemu::rank::MIN_RUNS_TO_COMPARE;
use isotune_qemu::report::{BootReport, ConfigResult};
use isotune_stats::Verdict;

use super::{bytes, paint, table};

mod chart;
pub use chart::chart;

fn secs(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.2} s"))
        .unwrap_or_else(|| "-".to_owned())
}

/// What the comparison cell says when fewer runs than
/// [`MIN_RUNS_TO_COMPARE`] succeeded on either side.
pub const TOO_FEW_RUNS: &str = "too few runs to compare (use --runs 3 or more)";

fn versus(r: &BootReport, c: &ConfigResult) -> String {
    if c.config.name == r.baseline {
        return "baseline".to_owned();
    }
    let base_runs = r
        .configs
        .iter()
        .find(|b| b.config.name == r.baseline)
        .map_or(0, |b| b.runs.len());
    match &c.summary.vs_baseline {
        None if !c.runs.is_empty()
            && (c.runs.len() < MIN_RUNS_TO_COMPARE || base_runs < MIN_RUNS_TO_COMPARE) =>
        {
            TOO_FEW_RUNS.to_owned()
        }
        None => "-".to_owned(),
        Some(v) => {
            // Fieller's interval is unbounded when the baseline's mean is
            // not clearly above zero (too few or too spread runs): say so
            // instead of leaving the verdict without its interval.
            let ci = match v.speedup_ci95 {
                Some((lo, hi)) => format!(" [{lo:.2}, {hi:.2}]"),
                None if v.verdict != Verdict::NoSignificantChange => {
                    " [interval unbounded]".to_owned()
                }
                None => String::new(),
            };
            let verdict = match v.verdict {
                Verdict::Faster => "faster",
                Verdict::Slower => "slower",
                Verdict::NoSignificantChange => "no significant difference",
            };
            format!("{:.2}x{ci} {verdict}", v.speedup)
        }
    }
}

struct Row {
    cells: Vec<String>,
}

fn rows(r: &BootReport) -> (Vec<String>, Vec<Row>) {
    let mut header: Vec<String> = ["#", "configuration", "median ± MAD", "min … max"]
        .map(str::to_owned)
        .to_vec();
    header.extend(r.markers.iter().map(|m| format!("{m} (median)")));
    let waits = has_menu_wait(r);
    if waits {
        header.push("menu wait (median)".to_owned());
    }
    header.extend(
        [
            "read from ISO",
            "bytes/request",
            "backend",
            "vs baseline (95% CI)",
        ]
        .map(str::to_owned),
    );
    let rows = r
        .ranked()
        .into_iter()
        .map(|c| {
            let s = &c.summary;
            let mut cells = vec![
                s.rank
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".to_owned()),
                c.config.name.clone(),
                match (s.median_seconds, s.mad_seconds) {
                    (Some(m), Some(d)) => format!("{m:.2} s ± {d:.2}"),
                    _ => format!("failed ({} runs)", c.failures.len()),
                },
                match (s.min_seconds, s.max_seconds) {
                    (Some(a), Some(b)) => format!("{a:.2} … {b:.2}"),
                    _ => "-".to_owned(),
                },
            ];
            cells.extend(
                r.markers
                    .iter()
                    .map(|m| secs(s.phase_median_seconds.get(m).copied())),
            );
            if waits {
                cells.push(secs(s.median_menu_wait_seconds));
            }
            cells.push(
                s.median_rd_bytes
                    .map(|b| bytes(b as u64))
                    .unwrap_or_else(|| "-".to_owned()),
            );
            cells.push(
                s.median_bytes_per_request
                    .map(|b| format!("{b:.0}"))
                    .unwrap_or_else(|| "-".to_owned()),
            );
            cells.push(
                s.median_backend_share
                    .map(|b| format!("{:.0}%", b * 100.0))
                    .unwrap_or_else(|| "-".to_owned()),
            );
            cells.push(versus(r, c));
            Row { cells }
        })
        .collect();
    (header, rows)
}

/// Whether any run pressed keys (so the menu wait gets its column).
fn has_menu_wait(r: &BootReport) -> bool {
    r.configs
        .iter()
        .flat_map(|c| &c.runs)
        .any(|x| !x.keys_pressed.is_empty())
}

/// `to start 10.00 KiB in 5 requests (2048 B each); to end ...`
fn phases_line(c: &ConfigResult) -> String {
    c.summary
        .phase_reads
        .iter()
        .map(|p| {
            format!(
                "to {} {} in {:.0} requests{}",
                p.until,
                bytes(p.median_rd_bytes as u64),
                p.median_rd_operations,
                p.median_bytes_per_request
                    .map(|b| format!(" ({b:.0} B each)"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The image's name for titles: the ISO's file name, or the built-in
/// workload.
pub(crate) fn image_name(r: &BootReport) -> String {
    match &r.builtin {
        Some(b) => format!("built-in {b} workload"),
        None => r
            .iso
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| r.iso.display().to_string()),
    }
}

/// How the page cache was before the runs: `warm`, `cold (verified)` when
/// every run's drop left nothing cached, else what was still cached.
fn cache_words(r: &BootReport) -> String {
    if r.warm {
        return "warm cache".to_owned();
    }
    let runs: Vec<_> = r.configs.iter().flat_map(|c| &c.runs).collect();
    let unverified = runs.iter().filter(|x| x.cache.is_none()).count();
    let partly: Vec<u64> = runs
        .iter()
        .filter_map(|x| x.cache)
        .filter(|d| !d.is_cold())
        .map(|d| d.resident_after_bytes)
        .collect();
    if runs.is_empty() {
        "cold cache".to_owned()
    } else if partly.is_empty() && unverified == 0 {
        "cache cold (verified)".to_owned()
    } else if partly.is_empty() {
        "cold cache (not measured)".to_owned()
    } else {
        format!(
            "cache NOT cold: {} of {} runs started with up to {} of the ISO still cached",
            partly.len(),
            runs.len(),
            bytes(partly.iter().copied().max().unwrap_or(0))
        )
    }
}

/// What isotune's HTTP server answered (medians over the runs), and which
/// network source to choose at each latency.
fn net_lines(out: &mut dyn Write, r: &BootReport) -> io::Result<()> {
    let served: Vec<_> = r
        .ranked()
        .into_iter()
        .filter(|c| c.runs.iter().any(|run| run.server.is_some()))
        .collect();
    if !served.is_empty() {
        writeln!(
            out,
            "requests QEMU sent to isotune's HTTP server (medians):"
        )?;
    }
    for c in served {
        let med = |f: &dyn Fn(&isotune_qemu::report::ServerCounts) -> u64| {
            let v: Vec<f64> = c
                .runs
                .iter()
                .filter_map(|run| run.server.as_ref().map(|s| f(s) as f64))
                .collect();
            isotune_stats::median(&v).unwrap_or(0.0)
        };
        writeln!(
            out,
            "  {}: {:.0} Range requests, {}, {:.0} connection(s)",
            c.config.name,
            med(&|s| s.requests),
            mib(med(&|s| s.bytes)),
            med(&|s| s.connections),
        )?;
    }
    for a in &r.source_advice {
        writeln!(out, "network source: {a}")?;
    }
    Ok(())
}

fn mib(bytes: f64) -> String {
    format!("{:.2} MiB", bytes / f64::from(1u32 << 20))
}

/// How a run ends, said before the runs start and above the table.
pub fn ending(until: Option<&str>, settle_seconds: Option<f64>, timeout_seconds: f64) -> String {
    let mut ways = Vec::new();
    if let Some(u) = until {
        ways.push(format!("at the serial line matching {u:?}"));
    }
    ways.push("when the guest powers off".to_owned());
    if let Some(s) = settle_seconds {
        ways.push(format!("after {s} s without reads from the ISO"));
    }
    format!(
        "a run ends {}; a run still going after {timeout_seconds} s fails (--timeout)",
        ways.join(", ")
    )
}

/// The terminal report.
pub fn human(out: &mut dyn Write, r: &BootReport, color: bool) -> io::Result<()> {
    writeln!(
        out,
        "isotune boot: {} ({} configuration{}, {} run{} each, {}, QEMU {}, accel {})",
        r.builtin
            .as_deref()
            .map(|b| format!("built-in {b} workload"))
            .unwrap_or_else(|| r.iso.display().to_string()),
        r.configs.len(),
        if r.configs.len() == 1 { "" } else { "s" },
        r.runs_per_config,
        if r.runs_per_config == 1 { "" } else { "s" },
        cache_words(r),
        r.qemu.version,
        r.accel_used.clone().unwrap_or_else(|| format!(
            "{} asked, no run got far enough to tell",
            r.accel_requested
        )),
    )?;
    writeln!(
        out,
        "{}",
        ending(r.until.as_deref(), r.settle_seconds, r.timeout_seconds)
    )?;
    let kvm_used = r.accel_used.as_deref().is_some_and(|a| a != "tcg");
    if r.kvm_pvm && kvm_used {
        writeln!(
            out,
            "{}",
            paint(
                "warning: /dev/kvm here is a paravirtual nested KVM (kvm_pvm): firmware code is emulated, \
                 timings do not describe a real KVM host",
                color,
                "33"
            )
        )?;
    }
    writeln!(out)?;
    let (header, rows) = rows(r);
    let mut t = table(header);
    for row in rows {
        t.add_row(row.cells);
    }
    writeln!(out, "{}", t.trim_fmt())?;
    writeln!(out)?;
    if has_menu_wait(r) {
        writeln!(
            out,
            "menu wait: seconds the guest waited at its boot menu before the keys were pressed; \
             not counted in the boot time"
        )?;
    }
    writeln!(
        out,
        "time: seconds from the guest's start to {}; backend: share of that time QEMU's block layer spent reading the ISO",
        r.until
            .as_deref()
            .map(|u| format!("the line matching {u:?}"))
            .unwrap_or_else(|| "the guest stopping or ISO reads settling".to_owned())
    )?;
    if r.configs.iter().any(|c| !c.summary.phase_reads.is_empty()) && !r.markers.is_empty() {
        writeln!(out, "reads by phase (medians):")?;
        for c in r.ranked() {
            if c.summary.phase_reads.is_empty() {
                continue;
            }
            writeln!(out, "  {}: {}", c.config.name, phases_line(c))?;
        }
    }
    net_lines(out, r)?;
    for s in &r.skipped {
        writeln!(out, "skipped {}: {}", s.config.name, s.reason)?;
    }
    for c in &r.configs {
        for f in &c.failures {
            writeln!(
                out,
                "{}: {}",
                c.config.name,
                paint(&f.to_string(), color, "31")
            )?;
        }
    }
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    out.flush()
}

/// The Markdown report.
pub fn markdown(out: &mut dyn Write, r: &BootReport) -> io::Result<()> {
    writeln!(out, "# isotune boot\n")?;
    writeln!(
        out,
        "- image: {}\n- QEMU {} ({}), accelerator {}{}\n- {} runs per configuration, {}, runs interleaved\n",
        r.builtin
            .as_deref()
            .map(|b| format!("built-in {b} workload"))
            .unwrap_or_else(|| format!("`{}`", r.iso.display())),
        r.qemu.version,
        r.qemu.binary.display(),
        r.accel_used.as_deref().unwrap_or("unknown"),
        if r.kvm_pvm && r.accel_used.as_deref() != Some("tcg") {
            " (kvm_pvm: a paravirtual nested KVM, timings describe no real host)"
        } else {
            ""
        },
        r.runs_per_config,
        cache_words(r),
    )?;
    let (header, rows) = rows(r);
    writeln!(out, "| {} |", header.join(" | "))?;
    writeln!(out, "|{}", "---|".repeat(header.len()))?;
    for row in rows {
        let cells: Vec<String> = row.cells.iter().map(|c| c.replace('|', "\\|")).collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    if r.configs.iter().any(|c| !c.summary.phase_reads.is_empty()) && !r.markers.is_empty() {
        writeln!(out, "\nReads by phase (medians):\n")?;
        for c in r.ranked() {
            if !c.summary.phase_reads.is_empty() {
                writeln!(out, "- `{}`: {}", c.config.name, phases_line(c))?;
            }
        }
    }
    if !r.source_advice.is_empty() {
        writeln!(out, "\nNetwork source:\n")?;
        for a in &r.source_advice {
            writeln!(out, "- {a}")?;
        }
    }
    if !r.skipped.is_empty() {
        writeln!(out, "\nSkipped:\n")?;
        for s in &r.skipped {
            writeln!(out, "- `{}`: {}", s.config.name, s.reason)?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use isotune_host::pagecache::{CacheDrop, ResidencyMethod};
    use isotune_qemu::matrix::{expand, BusChoice, MatrixSpec, WorkloadCaps};
    use isotune_qemu::report::{summarize, ConfigSummary, QemuInfo, RunRecord};

    use super::*;

    fn report(runs: usize, left_bytes: u64) -> BootReport {
        let m = expand(
            &MatrixSpec {
                buses: vec![BusChoice::Ide, BusChoice::VirtioScsi],
                ..MatrixSpec::default()
            },
            WorkloadCaps {
                bios: true,
                uefi: false,
            },
        );
        let mut rng = isotune_testutil::Rng::new(runs as u64 + 1);
        let mut configs: Vec<ConfigResult> = m
            .configs
            .iter()
            .enumerate()
            .map(|(i, c)| ConfigResult {
                config: c.clone(),
                iso: "/isos/debian.iso".into(),
                argv: Vec::new(),
                runs: (0..runs)
                    .map(|run| RunRecord {
                        run,
                        seconds: (5 - 3 * i) as f64 + rng.below(100) as f64 / 1000.0,
                        menu_wait_seconds: 0.0,
                        keys_pressed: Vec::new(),
                        end: "settled".to_owned(),
                        phases: BTreeMap::new(),
                        phase_reads: BTreeMap::new(),
                        rd_bytes: 1 << 20,
                        rd_operations: 512,
                        rd_total_time_ns: 1_000_000,
                        qemu_cpu_seconds: 1.0,
                        accel: "tcg".to_owned(),
                        cache: Some(CacheDrop {
                            resident_before_bytes: 1 << 20,
                            resident_after_bytes: if run == 0 { left_bytes } else { 0 },
                            method: ResidencyMethod::Cachestat,
                        }),
                        server: None,
                    })
                    .collect(),
                failures: Vec::new(),
                summary: ConfigSummary::empty(),
            })
            .collect();
        summarize(&mut configs, 0);
        BootReport {
            schema_version: 2,
            iso: "/isos/debian.iso".into(),
            builtin: None,
            qemu: QemuInfo {
                binary: "/usr/bin/qemu-system-x86_64".into(),
                version: "10.0.2".to_owned(),
            },
            accel_requested: "tcg".to_owned(),
            accel_used: Some("tcg".to_owned()),
            kvm_pvm: false,
            warm: false,
            runs_per_config: runs,
            until: None,
            settle_seconds: Some(5.0),
            timeout_seconds: 300.0,
            keys: Vec::new(),
            menu: Default::default(),
            markers: Vec::new(),
            baseline: configs[0].config.name.clone(),
            source_advice: Vec::new(),
            configs,
            skipped: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn text(r: &BootReport) -> String {
        let mut out = Vec::new();
        human(&mut out, r, false).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fewer_than_three_runs_are_not_compared() {
        for runs in [1, 2] {
            let t = text(&report(runs, 0));
            assert!(t.contains(TOO_FEW_RUNS), "{t}");
            assert!(!t.contains("no significant difference"), "{t}");
            assert!(!t.contains("x faster"), "{t}");
        }
        let t = text(&report(3, 0));
        assert!(!t.contains(TOO_FEW_RUNS), "{t}");
        assert!(t.contains("faster"), "{t}");
    }

    #[test]
    fn the_cache_state_is_what_was_measured() {
        let t = text(&report(3, 0));
        assert!(t.contains("cache cold (verified)"), "{t}");
        let t = text(&report(3, 8192));
        assert!(
            t.contains(
                "cache NOT cold: 2 of 6 runs started with up to 8.00 KiB of the ISO still cached"
            ),
            "{t}"
        );
        assert!(t.contains("a run ends when the guest powers off, after 5 s without reads from the ISO; a run still going after 300 s fails"), "{t}");
    }

    #[test]
    fn the_chart_title_names_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("c.svg");
        chart(&svg, &report(3, 0)).unwrap();
        let s = std::fs::read_to_string(&svg).unwrap();
        assert!(s.contains("isotune boot: debian.iso"), "{s}");
    }
}

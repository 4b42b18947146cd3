//! Human output of `isotune tune`: the plan, what apply did, verify's
//! expected/actual/who-else, rollback, status and warm.

use std::io::{self, Write};
use std::path::Path;

use isotune_tune::{
    ApplyReport, Effect, EntryState, Plan, RollbackAction, RollbackReport, StatusReport, Target,
    VerifyReport, VerifyState, WarmReport,
};

use super::{bytes, status as word, table};

/// A value for a table cell: one line, files shown by their line count.
fn value(target: &Target, v: Option<&str>) -> String {
    match (target, v) {
        (Target::File { .. }, None) => "(no file)".to_owned(),
        (Target::File { .. }, Some(text)) => {
            let n = text.lines().count();
            format!("{n} line{}", if n == 1 { "" } else { "s" })
        }
        (Target::Sysfs { .. }, v) => v.unwrap_or("(unreadable)").to_owned(),
        (Target::Domain { .. }, v) => v.unwrap_or("(no such disk)").to_owned(),
    }
}

/// The value a journal entry replaced, for people: a domain's is its whole
/// persistent XML, shown as the summary planned.
fn old_value(e: &isotune_tune::JournalEntry) -> String {
    match &e.change.target {
        Target::Domain { .. } => value(&e.change.target, e.change.current.as_deref()),
        t => value(t, e.old.as_deref()),
    }
}

/// The plan: changes, then findings that need a person.
pub fn plan(out: &mut dyn Write, plan: &Plan) -> io::Result<()> {
    if plan.changes.is_empty() {
        writeln!(out, "No change for isotune to make.")?;
    } else {
        let mut t = table([
            "change", "finding", "target", "current", "new", "effect", "persists",
        ]);
        for c in &plan.changes {
            t.add_row([
                c.id.clone(),
                c.finding.clone(),
                c.target.label(),
                value(&c.target, c.current.as_deref()),
                value(&c.target, Some(&c.new)),
                match c.effect {
                    Effect::Now => "now".to_owned(),
                    Effect::NextBoot => "next boot or device change".to_owned(),
                    Effect::NextStart => "next start (running)".to_owned(),
                },
                if c.persists { "yes" } else { "no" }.to_owned(),
            ]);
        }
        writeln!(out, "Changes isotune can make:\n{}", t.trim_fmt())?;
        for c in &plan.changes {
            if let Some(note) = &c.note {
                writeln!(out, "  note ({}): {note}", c.id)?;
            }
            if let Some(d) = &c.domain {
                if let Some(b) = &d.bus {
                    writeln!(out, "  bus ({}): {} because {}", c.id, b.bus, b.why)?;
                }
                if d.running {
                    writeln!(
                        out,
                        "  effect ({}): the domain is running; the change is defined for its next start (isotune never restarts it)",
                        c.id
                    )?;
                }
                for line in d.diff.lines() {
                    writeln!(out, "    {line}")?;
                }
            }
            if let (Target::File { path }, text) = (&c.target, &c.new) {
                writeln!(out, "  {} will contain:", path.display())?;
                for line in text.lines() {
                    writeln!(out, "    {line}")?;
                }
            }
        }
    }
    if !plan.manual.is_empty() {
        writeln!(out, "\nManual (needs a person):")?;
        for m in &plan.manual {
            writeln!(out, "  {} ({}): {}", m.finding, m.subject, m.title)?;
            writeln!(out, "    fix: {}", m.fix.replace('\n', "\n         "))?;
        }
    }
    Ok(())
}

/// What apply did.
/// What apply did; `restarting`: `--restart` was given (its outcome is
/// printed after).
pub fn applied(out: &mut dyn Write, r: &ApplyReport, restarting: bool) -> io::Result<()> {
    for e in &r.entries {
        writeln!(
            out,
            "applied {}: {} {} -> {}",
            e.change.id,
            e.change.target.label(),
            old_value(e),
            value(&e.change.target, Some(&e.change.new)),
        )?;
        if !restarting && e.change.domain.as_ref().is_some_and(|d| d.running) {
            writeln!(
                out,
                "  defined for the next start of the running domain (not restarted)"
            )?;
        }
    }
    writeln!(
        out,
        "transaction {} journalled in {}; undo with `isotune tune rollback {}`",
        r.transaction,
        r.journal_path.display(),
        r.transaction
    )
}

/// Verify: one row per applied value, then who else sets the ones that differ.
pub fn verify(out: &mut dyn Write, r: &VerifyReport, color: bool) -> io::Result<()> {
    issues(out, &r.journal_issues)?;
    if r.items.is_empty() {
        return writeln!(out, "Nothing applied: no value to verify.");
    }
    let mut t = table(["state", "change", "target", "expected", "actual"]);
    for i in &r.items {
        let state = match &i.state {
            VerifyState::Ok => word("ok", color),
            VerifyState::Drift => word("DRIFT", color),
            VerifyState::Interrupted => word("interrupted", color),
            VerifyState::Unreadable { .. } => word("unreadable", color),
        };
        t.add_row([
            state,
            i.change.id.clone(),
            i.change.target.label(),
            value(&i.change.target, Some(&i.expected)),
            value(&i.change.target, i.actual.as_deref()),
        ]);
    }
    writeln!(out, "{}", t.trim_fmt())?;
    for i in &r.items {
        match &i.state {
            VerifyState::Ok => continue,
            VerifyState::Drift => writeln!(
                out,
                "{}: {} is not what isotune wrote (changed after transaction {})",
                i.change.id,
                i.change.target.label(),
                i.transaction
            )?,
            VerifyState::Interrupted => writeln!(
                out,
                "{}: apply was interrupted around this change; `isotune tune rollback {}` restores the old value",
                i.change.id, i.transaction
            )?,
            VerifyState::Unreadable { error } => writeln!(out, "{}: {error}", i.change.id)?,
        }
        if let (Target::Domain { domain, .. }, VerifyState::Drift) = (&i.change.target, &i.state) {
            writeln!(
                out,
                "  changed in domain {domain}'s persistent XML by a later `virsh edit` or define (not by isotune)"
            )?;
            continue;
        }
        if i.also_set_by.is_empty() && i.state == VerifyState::Drift {
            writeln!(
                out,
                "  no udev rule, sysctl file or TuneD profile sets it: a manual write (echo, blockdev --setra) or a tool without a file"
            )?;
        }
        for o in &i.also_set_by {
            writeln!(
                out,
                "  also set by {} {}:{}: {}",
                o.kind,
                o.path.display(),
                o.line_number,
                o.line
            )?;
        }
    }
    Ok(())
}

fn issues(out: &mut dyn Write, issues: &[isotune_tune::JournalIssue]) -> io::Result<()> {
    for i in issues {
        writeln!(out, "journal file not used: {i}")?;
    }
    Ok(())
}

/// Rollback: what was restored, or that nothing was left.
pub fn rollback(out: &mut dyn Write, r: &RollbackReport) -> io::Result<()> {
    issues(out, &r.journal_issues)?;
    if r.restored.is_empty() {
        return writeln!(
            out,
            "Nothing to roll back: every journalled change is already rolled back."
        );
    }
    for i in &r.restored {
        let how = match i.action {
            RollbackAction::Restored => "restored",
            RollbackAction::RestoredInterrupted => "restored (apply was interrupted)",
            RollbackAction::DeviceGone => "nothing to restore (device gone)",
            RollbackAction::Failed => "FAILED to restore",
        };
        writeln!(
            out,
            "{how} {} ({}): {} = {}",
            i.change,
            i.transaction,
            i.target.label(),
            match &i.target {
                Target::Domain { .. } => "the journalled persistent XML".to_owned(),
                t => value(t, i.restored.as_deref()),
            }
        )?;
        if let Some(e) = &i.error {
            writeln!(out, "  {e}; kept in the journal for the next rollback")?;
        }
    }
    Ok(())
}

/// Status: every journalled change.
pub fn status(out: &mut dyn Write, r: &StatusReport) -> io::Result<()> {
    issues(out, &r.journal_issues)?;
    if r.items.is_empty() {
        return writeln!(out, "No journalled change in {}.", r.journal_dir.display());
    }
    let mut t = table([
        "transaction",
        "time (UTC)",
        "change",
        "finding",
        "target",
        "state",
    ]);
    for i in &r.items {
        t.add_row([
            i.transaction.clone(),
            utc(i.entry.updated_unix_seconds),
            i.entry.change.id.clone(),
            i.entry.change.finding.clone(),
            i.entry.change.target.label(),
            match i.entry.state {
                EntryState::Pending => "interrupted",
                EntryState::Applied => "applied",
                EntryState::RolledBack => "rolled back",
                EntryState::Failed => "failed",
            }
            .to_owned(),
        ]);
    }
    writeln!(out, "{}", t.trim_fmt())
}

/// Warm: residency before and after.
pub fn warm(out: &mut dyn Write, iso: &Path, r: &WarmReport) -> io::Result<()> {
    writeln!(
        out,
        "{}: {} in the page cache before, {} after ({} of {}); boot files read first: {}",
        iso.display(),
        bytes(r.resident_before_bytes),
        bytes(r.resident_after_bytes),
        percent(r.resident_after_bytes, r.size_bytes),
        bytes(r.size_bytes),
        bytes(r.boot_bytes),
    )
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "100%".to_owned();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// `2026-12-07 08:00:00` from seconds since the Unix epoch (civil-from-days,
/// H. Hinnant's algorithm).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        // Checked with `date -u -d @1796630461`.
        assert_eq!(utc(1_796_630_461), "2026-12-07 08:01:01");
    }
}

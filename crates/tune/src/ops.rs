//! The journalled operations: `apply` a plan, `rollback` what was applied,
//! `verify` that applied values are still in place and `status`.

use std::path::PathBuf;

use serde::Serialize;

use crate::backend;
use crate::error::{Error, JournalIssue};
use crate::journal::{now_unix_seconds, EntryState, Journal, JournalEntry, Transaction};
use crate::model::{Change, Plan, Target};
use crate::others::{self, OtherSetter};

/// Version of the JSON schema of the apply, verify, rollback and status
/// reports.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// Called at every step boundary of `apply` with the step's number (1:
/// transaction created; then per change: old value journalled, value
/// written, entry marked applied). The crash tests kill the process here.
pub trait ApplyHooks {
    /// Step `n` is complete and on disk.
    fn step(&mut self, n: u32);
}

impl ApplyHooks for () {
    fn step(&mut self, _n: u32) {}
}

/// What `apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The transaction's id (for `rollback ID`).
    pub transaction: String,
    /// Its journal file.
    pub journal_path: PathBuf,
    /// The entries, all applied.
    pub entries: Vec<JournalEntry>,
}

/// Applies `plan`: before each change its old value is journalled
/// durably. On a failed write, the changes already made by this run are
/// rolled back and the write's error is returned.
pub fn apply(
    journal: &Journal,
    plan: &Plan,
    hooks: &mut dyn ApplyHooks,
) -> Result<ApplyReport, Error> {
    let _lock = journal.lock()?;
    let roots = plan.roots.clone();
    let mut tx = journal.begin(&roots);
    journal.save(&tx)?;
    let mut step = 1;
    hooks.step(step);
    let mut i = 0;
    while i < plan.changes.len() {
        // The changes of one domain that follow each other are defined
        // together: libvirt validates the whole domain at each define, so
        // a domain with two elements it refuses (loaded from an older
        // libvirt's files) can only be fixed in one define. Every entry of
        // the batch journals the whole persistent XML from before it.
        let batch = batch_len(&plan.changes[i..]);
        let changes = &plan.changes[i..i + batch];
        i += batch;
        let (olds, new) = match (&changes[0].target, &changes[0].domain) {
            (Target::Domain { uri, domain, .. }, Some(_)) => {
                let old = isotune_libvirt::inactive_xml(uri, domain)?;
                let mut new = old.clone();
                for c in changes {
                    let edits = &c.domain.as_ref().expect("a domain change").edits;
                    new = crate::domain::edit(&new, edits).map_err(|error| {
                        let _ = undo(journal, &mut tx);
                        Error::DomainEdit {
                            domain: domain.clone(),
                            error,
                        }
                    })?;
                }
                (vec![Some(old); batch], new)
            }
            _ => (
                vec![backend::read(&roots, &changes[0].target)?],
                changes[0].new.clone(),
            ),
        };
        for (change, old) in changes.iter().zip(olds) {
            tx.entries.push(JournalEntry {
                change: change.clone(),
                old,
                state: EntryState::Pending,
                updated_unix_seconds: now_unix_seconds(),
                error: None,
            });
        }
        journal.save(&tx)?;
        step += 1;
        hooks.step(step);
        let first = tx.entries.len() - batch;
        if let Err(e) = backend::write(&roots, &changes[0].target, Some(&new)) {
            // Nothing was written for these entries (libvirt refuses a
            // domain XML as a whole); undo the others. When the undo fails
            // too, the journal still holds them for `rollback`.
            for last in &mut tx.entries[first..] {
                last.state = EntryState::Failed;
                last.error = Some(chain(&e));
                last.updated_unix_seconds = now_unix_seconds();
            }
            let _ = journal.save(&tx);
            let _ = undo(journal, &mut tx);
            return Err(e);
        }
        step += 1;
        hooks.step(step);
        for last in &mut tx.entries[first..] {
            if matches!(last.change.target, Target::Domain { .. }) {
                // What libvirt made of it (its normalised form) is what
                // verify compares with later.
                if let Ok(Some(v)) = backend::read(&roots, &last.change.target) {
                    last.change.new = v;
                }
            }
            last.state = EntryState::Applied;
            last.updated_unix_seconds = now_unix_seconds();
        }
        journal.save(&tx)?;
        step += 1;
        hooks.step(step);
    }
    Ok(ApplyReport {
        schema_version: REPORT_SCHEMA_VERSION,
        journal_path: journal.path_of(&tx.id),
        transaction: tx.id,
        entries: tx.entries,
    })
}

/// How many changes from the first one are defined together: the first
/// and the domain changes right after it on the same domain; 1 for any
/// other change.
fn batch_len(changes: &[Change]) -> usize {
    let key = |c: &Change| match (&c.target, &c.domain) {
        (Target::Domain { uri, domain, .. }, Some(_)) => Some((uri.clone(), domain.clone())),
        _ => None,
    };
    match key(&changes[0]) {
        None => 1,
        Some(k) => changes
            .iter()
            .take_while(|c| key(c).as_ref() == Some(&k))
            .count(),
    }
}

/// An error and its sources, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s += &format!(": {c}");
        cur = c.source();
    }
    s
}

/// Restores every pending or applied entry of `tx`, last first, saving
/// after each; returns what was restored.
fn undo(journal: &Journal, tx: &mut Transaction) -> Result<Vec<RollbackItem>, Error> {
    let mut items = Vec::new();
    for i in (0..tx.entries.len()).rev() {
        let entry = &tx.entries[i];
        if !entry.state.is_open() {
            continue;
        }
        let target = &entry.change.target;
        let gone = match target {
            Target::Sysfs { .. } => !tx.roots.host_path(target).exists(),
            // An undefined domain is not defined again by a rollback.
            Target::Domain { uri, domain, .. } => {
                matches!(isotune_libvirt::inactive_xml(uri, domain), Err(e) if e.no_domain)
            }
            Target::File { .. } => false,
        };
        let (action, error) = if gone {
            // The device is gone (detached, or a reboot renamed it): its
            // value went with it and there is nothing to restore.
            (RollbackAction::DeviceGone, None)
        } else {
            match backend::write(&tx.roots, target, entry.old.as_deref()) {
                Ok(()) if entry.state == EntryState::Pending => {
                    (RollbackAction::RestoredInterrupted, None)
                }
                Ok(()) => (RollbackAction::Restored, None),
                // Left in the journal for the next rollback; the other
                // entries are still restored.
                Err(e) => (RollbackAction::Failed, Some(e.to_string())),
            }
        };
        items.push(RollbackItem {
            transaction: tx.id.clone(),
            change: entry.change.id.clone(),
            target: target.clone(),
            restored: entry.old.clone(),
            action,
            error,
        });
        if action != RollbackAction::Failed {
            let e = &mut tx.entries[i];
            e.state = EntryState::RolledBack;
            e.updated_unix_seconds = now_unix_seconds();
            journal.save(tx)?;
        }
    }
    Ok(items)
}

/// Which transactions `rollback` undoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackSelect {
    /// The newest transaction with changes still in place.
    Last,
    /// Every transaction, newest first.
    All,
    /// One transaction by id.
    Id(String),
}

/// What rollback did to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackAction {
    /// The old value was written back.
    Restored,
    /// The apply was interrupted around this change; the old value was
    /// written back (a no-op when the change had not been written).
    RestoredInterrupted,
    /// The sysfs attribute no longer exists (the device is gone), or the
    /// libvirt domain was undefined: nothing to restore; the entry is
    /// closed.
    DeviceGone,
    /// Writing the old value failed (see `error`); the entry stays open
    /// for the next rollback.
    Failed,
}

/// One restored value.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackItem {
    /// Its transaction.
    pub transaction: String,
    /// The change's id.
    pub change: String,
    /// What was restored.
    pub target: Target,
    /// The value written back (`None`: the file was removed).
    pub restored: Option<String>,
    /// What was done.
    pub action: RollbackAction,
    /// Why it failed ([`RollbackAction::Failed`]).
    pub error: Option<String>,
}

/// What `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Restored values, in the order restored. Empty: nothing was left to
    /// roll back.
    pub restored: Vec<RollbackItem>,
    /// Journal files that could not be used (their changes were not touched).
    pub journal_issues: Vec<JournalIssue>,
}

impl RollbackReport {
    /// Whether every selected value was restored (or its device is gone)
    /// and every journal file was read.
    pub fn passed(&self) -> bool {
        self.journal_issues.is_empty()
            && self
                .restored
                .iter()
                .all(|i| i.action != RollbackAction::Failed)
    }
}

/// Undoes the selected transactions, newest first, each in reverse order.
/// Idempotent: entries already rolled back are left alone.
pub fn rollback(journal: &Journal, select: &RollbackSelect) -> Result<RollbackReport, Error> {
    let _lock = journal.lock()?;
    let (mut txs, journal_issues) = load(journal)?;
    txs.reverse();
    let open = |tx: &Transaction| tx.entries.iter().any(|e| e.state.is_open());
    let chosen: Vec<&mut Transaction> = match select {
        RollbackSelect::All => txs.iter_mut().collect(),
        RollbackSelect::Last => txs.iter_mut().filter(|t| open(t)).take(1).collect(),
        RollbackSelect::Id(id) => {
            if !txs.iter().any(|t| &t.id == id) {
                let path = journal.path_of(id);
                if path.exists() {
                    // Present but unusable: say why.
                    return Err(crate::journal::load(&path).expect_err("listed as an issue"));
                }
                return Err(Error::NoSuchTransaction {
                    id: id.clone(),
                    dir: journal.dir().to_owned(),
                });
            }
            txs.iter_mut().filter(|t| &t.id == id).collect()
        }
    };
    let mut restored = Vec::new();
    for tx in chosen {
        restored.extend(undo(journal, tx)?);
    }
    Ok(RollbackReport {
        schema_version: REPORT_SCHEMA_VERSION,
        restored,
        journal_issues,
    })
}

/// Usable transactions (oldest first) and the issues of the others.
fn load(journal: &Journal) -> Result<(Vec<Transaction>, Vec<JournalIssue>), Error> {
    let mut txs = Vec::new();
    let mut issues = Vec::new();
    for r in journal.load_all()? {
        match r {
            Ok(tx) => txs.push(tx),
            Err(Error::Journal { path, problem }) => issues.push(JournalIssue { path, problem }),
            Err(e) => return Err(e),
        }
    }
    Ok((txs, issues))
}

/// How an applied value stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum VerifyState {
    /// The value is what isotune wrote.
    Ok,
    /// Something else changed it.
    Drift,
    /// The apply was interrupted around this change: roll it back.
    Interrupted,
    /// The value could not be read.
    Unreadable {
        /// Why.
        error: String,
    },
}

/// One applied value, re-read.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyItem {
    /// Its transaction.
    pub transaction: String,
    /// The change.
    pub change: Change,
    /// What isotune wrote.
    pub expected: String,
    /// What is there now (`None`: the file is gone or unreadable).
    pub actual: Option<String>,
    /// The verdict.
    pub state: VerifyState,
    /// Files that also set this value (looked up when it differs).
    pub also_set_by: Vec<OtherSetter>,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Every value applied and not rolled back (the newest entry per target).
    pub items: Vec<VerifyItem>,
    /// Journal files that could not be used.
    pub journal_issues: Vec<JournalIssue>,
}

impl VerifyReport {
    /// Whether every value is in place and every journal file was read.
    pub fn passed(&self) -> bool {
        self.journal_issues.is_empty() && self.items.iter().all(|i| i.state == VerifyState::Ok)
    }
}

/// Re-reads every value applied and not rolled back.
pub fn verify(journal: &Journal) -> Result<VerifyReport, Error> {
    let (txs, journal_issues) = load(journal)?;
    let mut items: Vec<VerifyItem> = Vec::new();
    for tx in &txs {
        for e in tx.entries.iter().filter(|e| e.state.is_open()) {
            let target = &e.change.target;
            // A newer entry for the same target replaces an older one.
            items.retain(|i| tx.roots.host_path(&i.change.target) != tx.roots.host_path(target));
            let (actual, mut state) = match backend::read(&tx.roots, target) {
                Ok(v) if v.as_deref() == Some(e.change.new.as_str()) => (v, VerifyState::Ok),
                Ok(v) => (v, VerifyState::Drift),
                Err(err) => (
                    None,
                    VerifyState::Unreadable {
                        error: err.to_string(),
                    },
                ),
            };
            if e.state == EntryState::Pending {
                state = VerifyState::Interrupted;
            }
            let also_set_by = if state == VerifyState::Ok {
                Vec::new()
            } else {
                others::find(&tx.roots, target)
            };
            items.push(VerifyItem {
                transaction: tx.id.clone(),
                change: e.change.clone(),
                expected: e.change.new.clone(),
                actual,
                state,
                also_set_by,
            });
        }
    }
    Ok(VerifyReport {
        schema_version: REPORT_SCHEMA_VERSION,
        items,
        journal_issues,
    })
}

/// One journal entry as `status` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct StatusItem {
    /// Its transaction.
    pub transaction: String,
    /// When the transaction started, seconds since the Unix epoch.
    pub started_unix_seconds: u64,
    /// The entry.
    pub entry: JournalEntry,
}

/// What `status` lists.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The journal directory.
    pub journal_dir: PathBuf,
    /// Every entry, oldest transaction first.
    pub items: Vec<StatusItem>,
    /// Journal files that could not be used.
    pub journal_issues: Vec<JournalIssue>,
}

/// Lists every journalled change with its state.
pub fn status(journal: &Journal) -> Result<StatusReport, Error> {
    let (txs, journal_issues) = load(journal)?;
    let items = txs
        .into_iter()
        .flat_map(|tx| {
            let (id, started) = (tx.id, tx.started_unix_seconds);
            tx.entries.into_iter().map(move |entry| StatusItem {
                transaction: id.clone(),
                started_unix_seconds: started,
                entry,
            })
        })
        .collect();
    Ok(StatusReport {
        schema_version: REPORT_SCHEMA_VERSION,
        journal_dir: journal.dir().to_owned(),
        items,
        journal_issues,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Effect, Roots, PLAN_SCHEMA_VERSION};

    fn change(id: &str, target: Target, new: &str) -> Change {
        Change {
            id: id.to_owned(),
            finding: "storage.low-readahead".to_owned(),
            subject: "/dev/x".to_owned(),
            target,
            current: None,
            new: new.to_owned(),
            effect: Effect::Now,
            persists: false,
            note: None,
            domain: None,
        }
    }

    fn setup() -> (tempfile::TempDir, Journal, Plan, Target, Target) {
        let dir = tempfile::tempdir().unwrap();
        isotune_testutil::put(dir.path(), "sys/block/x/queue/read_ahead_kb", b"16\n");
        let roots = Roots {
            files: dir.path().to_owned(),
            sysfs: dir.path().to_owned(),
        };
        let sys = Target::Sysfs {
            path: "/sys/block/x/queue/read_ahead_kb".into(),
        };
        let file = Target::File {
            path: "/etc/udev/rules.d/60-isotune-readahead.rules".into(),
        };
        let plan = Plan {
            schema_version: PLAN_SCHEMA_VERSION,
            changes: vec![
                change("a", sys.clone(), "4096"),
                change("b", file.clone(), "rule\n"),
            ],
            manual: Vec::new(),
            roots,
        };
        let journal = Journal::new(&dir.path().join("state"));
        (dir, journal, plan, sys, file)
    }

    #[test]
    fn apply_verify_drift_rollback_twice() {
        let (_dir, j, plan, sys, file) = setup();
        let mut steps = Vec::new();
        struct Rec<'a>(&'a mut Vec<u32>);
        impl ApplyHooks for Rec<'_> {
            fn step(&mut self, n: u32) {
                self.0.push(n);
            }
        }
        apply(&j, &plan, &mut Rec(&mut steps)).unwrap();
        assert_eq!(steps, (1..=7).collect::<Vec<_>>());
        let v = verify(&j).unwrap();
        assert!(v.passed(), "{v:?}");
        // Behind isotune's back.
        backend::write(&plan.roots, &sys, Some("128")).unwrap();
        let v = verify(&j).unwrap();
        assert!(!v.passed());
        assert_eq!(v.items[0].state, VerifyState::Drift);
        assert_eq!(v.items[0].actual.as_deref(), Some("128"));

        let r = rollback(&j, &RollbackSelect::Last).unwrap();
        assert_eq!(r.restored.len(), 2);
        assert_eq!(r.restored[0].change, "b", "reverse order");
        assert_eq!(
            backend::read(&plan.roots, &sys).unwrap().as_deref(),
            Some("16")
        );
        assert_eq!(backend::read(&plan.roots, &file).unwrap(), None);
        let again = rollback(&j, &RollbackSelect::All).unwrap();
        assert!(again.restored.is_empty());
        assert!(verify(&j).unwrap().items.is_empty());
        let s = status(&j).unwrap();
        assert!(s
            .items
            .iter()
            .all(|i| i.entry.state == EntryState::RolledBack));
    }

    #[test]
    fn failed_write_undoes_the_run() {
        let (dir, j, mut plan, sys, _file) = setup();
        // The second change's directory is a file: its write fails.
        isotune_testutil::put(dir.path(), "etc/udev", b"not a directory");
        plan.changes[1].target = Target::File {
            path: "/etc/udev/rules.d/x.rules".into(),
        };
        let e = apply(&j, &plan, &mut ()).unwrap_err();
        assert!(e.to_string().contains("etc/udev"), "{e}");
        assert_eq!(
            backend::read(&plan.roots, &sys).unwrap().as_deref(),
            Some("16")
        );
        assert!(rollback(&j, &RollbackSelect::All)
            .unwrap()
            .restored
            .is_empty());
    }

    #[test]
    fn rollback_goes_on_past_a_gone_device_and_a_failed_write() {
        let (dir, j, plan, sys, file) = setup();
        apply(&j, &plan, &mut ()).unwrap();
        std::fs::remove_file(plan.roots.host_path(&sys)).unwrap();
        // The rule file's directory becomes unwritable: a file in its place.
        let rules = dir.path().join("etc/udev/rules.d");
        std::fs::remove_dir_all(&rules).unwrap();
        std::fs::write(&rules, b"x").unwrap();
        let r = rollback(&j, &RollbackSelect::Last).unwrap();
        assert!(!r.passed());
        assert_eq!(r.restored[0].action, RollbackAction::Failed);
        assert!(r.restored[0].error.as_deref().unwrap().contains("rules.d"));
        assert_eq!(r.restored[1].action, RollbackAction::DeviceGone);
        // Fixed, the next rollback finishes the failed entry only.
        std::fs::remove_file(&rules).unwrap();
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(plan.roots.host_path(&file), b"rule\n").unwrap();
        let r = rollback(&j, &RollbackSelect::Last).unwrap();
        assert!(r.passed());
        assert_eq!(r.restored.len(), 1);
        assert!(!plan.roots.host_path(&file).exists());
    }

    #[test]
    fn rollback_of_unknown_or_corrupt_id_names_it() {
        let (_dir, j, plan, _sys, _file) = setup();
        let rep = apply(&j, &plan, &mut ()).unwrap();
        let e = rollback(&j, &RollbackSelect::Id("nope".into())).unwrap_err();
        assert!(matches!(e, Error::NoSuchTransaction { .. }));
        std::fs::write(&rep.journal_path, b"{\"schema_version\": 1, \"id\"").unwrap();
        let e = rollback(&j, &RollbackSelect::Id(rep.transaction.clone())).unwrap_err();
        assert!(e.to_string().contains("corrupt"), "{e}");
    }
}

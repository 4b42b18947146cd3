//! `docs/rules.md`, generated from [`RULES`](crate::RULES) so the catalogue
//! and the code cannot drift apart: a test compares the two and rewrites
//! the file when `ISOTUNE_BLESS=1`.

use std::fmt::Write;

use crate::finding::{severity_name, Layer};
use crate::rules::RULES;

/// The Markdown of `docs/rules.md`: every rule by layer, with its id,
/// severity, title, why and reference.
pub fn rules_markdown() -> String {
    let mut md = String::new();
    md.push_str("# Rule catalogue\n\n");
    md.push_str(
        "<!-- Generated from `isotune_doctor::RULES` by `cargo test -p isotune-doctor` \
         (`ISOTUNE_BLESS=1 cargo test -p isotune-doctor rules_md` rewrites it). Do not edit. -->\n\n",
    );
    md.push_str(
        "`isotune doctor` (and `isotune check`) run these rules over the facts gathered from the \
         host, the ISO and the VM definitions. Each finding names its subject, lists the evidence \
         it saw with units, and gives an exact fix for that subject. The severity below is the \
         highest a rule reports; a finding of severity `error` makes the command exit with 1.\n",
    );
    for layer in Layer::ALL {
        let rules: Vec<_> = RULES.iter().filter(|r| r.layer == layer).collect();
        if rules.is_empty() {
            continue;
        }
        let _ = write!(md, "\n## {}\n", layer.title());
        for r in rules {
            let _ = write!(
                md,
                "\n### `{}`\n\n**{}** (up to {})\n\n{}\n\nReference: {}\n",
                r.id,
                r.title,
                severity_name(r.severity),
                r.why,
                r.reference
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn doc_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules.md")
    }

    #[test]
    fn rules_md_is_current() {
        let want = rules_markdown();
        let path = doc_path();
        if std::env::var_os("ISOTUNE_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&path, &want).expect("writing docs/rules.md");
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/rules.md is out of date with RULES: run `ISOTUNE_BLESS=1 cargo test -p isotune-doctor rules_md`"
        );
    }

    #[test]
    fn every_rule_is_in_the_markdown() {
        let md = rules_markdown();
        for r in RULES {
            assert!(md.contains(&format!("### `{}`", r.id)), "{}", r.id);
        }
    }
}

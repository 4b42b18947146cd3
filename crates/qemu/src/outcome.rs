//! What a boot report says besides numbers: why a run failed and notes for
//! the reader. Enums with a stable JSON code and a sentence for humans.

use serde::{Deserialize, Serialize};

/// Why a run does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureCode {
    /// The guest never got past its boot sector or reached no marker.
    DidNotBoot,
    /// The guest stopped without printing the `--until` line.
    NoUntilLine,
    /// The run exceeded `--timeout`.
    Timeout,
    /// QEMU refused the arguments or died.
    QemuFailed,
    /// Anything else (QMP, I/O).
    Error,
}

/// One failed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailure {
    /// Run number, 1-based.
    pub run: usize,
    /// What kind of failure, for programs.
    pub code: FailureCode,
    /// What happened, for people.
    pub message: String,
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run {}: {}", self.run, self.message)
    }
}

/// A note for the reader of a boot report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootNote {
    /// `--accel auto` took TCG because /dev/kvm is kvm_pvm.
    AutoChoseTcgOnKvmPvm,
    /// `--accel auto` asked for KVM and QEMU fell back to TCG.
    AutoFellBackToTcg,
}

impl std::fmt::Display for BootNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BootNote::AutoChoseTcgOnKvmPvm => {
                "--accel auto chose TCG: /dev/kvm is a paravirtual nested KVM (kvm_pvm), where \
                 firmware code ran 40x slower than TCG in scripts/bench/accel.sh; pass --accel kvm \
                 to measure it anyway"
            }
            BootNote::AutoFellBackToTcg => "--accel auto fell back to TCG: KVM was not usable",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_sentences_readable() {
        let f = RunFailure {
            run: 2,
            code: FailureCode::DidNotBoot,
            message: "did not boot: the guest read 6144 bytes".to_owned(),
        };
        assert_eq!(
            f.to_string(),
            "run 2: did not boot: the guest read 6144 bytes"
        );
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains(r#""code":"did-not-boot""#), "{json}");
        assert_eq!(
            serde_json::to_string(&BootNote::AutoChoseTcgOnKvmPvm).unwrap(),
            r#""auto-chose-tcg-on-kvm-pvm""#
        );
        assert!(BootNote::AutoFellBackToTcg
            .to_string()
            .starts_with("--accel auto"));
    }
}

//! The host page cache: whether the ISO can stay in memory between boots.

use crate::describe::{bytes, short_bytes};
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::rules::Rule;

/// `cache.iso-exceeds-memory`.
pub(crate) const ISO_EXCEEDS_MEMORY: Rule = Rule {
    id: "cache.iso-exceeds-memory",
    layer: Layer::Filesystem,
    severity: Severity::Warn,
    title: "The ISO is larger than the memory available for the page cache",
    why: "A second boot of the same ISO is fast when the parts it reads are still in the \
          host's page cache. When the image is larger than MemAvailable, the parts read \
          late in a boot (an installer copying packages, a live system's squashfs) push \
          out the parts read early, so every boot reads from storage again and storage \
          speed decides the boot time.",
    reference: "kernel Documentation/filesystems/proc.rst (MemAvailable); \
                https://www.kernel.org/doc/html/latest/admin-guide/mm/concepts.html (page cache)",
    check: iso_exceeds_memory,
};

fn iso_exceeds_memory(facts: &Facts) -> Vec<Finding> {
    let Some(mem) = facts.host.as_ref().and_then(|h| h.memory) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for file in &facts.files {
        if file.size_bytes <= mem.available_bytes {
            continue;
        }
        let path = file.path.display();
        let mut evidence = vec![
            format!("ISO size: {}", bytes(file.size_bytes)),
            format!(
                "memory available (MemAvailable): {}",
                bytes(mem.available_bytes)
            ),
            format!("memory total (MemTotal): {}", bytes(mem.total_bytes)),
        ];
        if let Some(r) = file.resident_bytes {
            evidence.push(format!("resident in the page cache now: {}", bytes(r)));
        }
        let why_fix = if file.size_bytes > mem.total_bytes {
            "It cannot fit even in an idle host's memory."
        } else {
            "Free memory (fewer or smaller VMs running), or accept storage-speed boots."
        };
        out.push(ISO_EXCEEDS_MEMORY.finding(
            Severity::Warn,
            format!(
                "{path} ({}) is larger than the memory available for caching ({})",
                short_bytes(file.size_bytes),
                short_bytes(mem.available_bytes)
            ),
            path.to_string(),
            evidence,
            format!(
                "{why_fix} Put the ISO on the fastest local storage (NVMe), or boot the kernel \
                 and initrd directly (`-kernel`/`-initrd`, libvirt <kernel>/<initrd>) so less of \
                 the ISO is read; measure what a boot reads with `isotune boot {path}`."
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{example, healthy, GIB};

    #[test]
    fn iso_larger_than_available_memory_warns_with_residency() {
        let f = iso_exceeds_memory(&example("cache.iso-exceeds-memory").unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "/isos/x.iso");
        assert!(f[0]
            .evidence
            .iter()
            .any(|e| e.starts_with("resident in the page cache now: 0 bytes")));
        assert!(f[0].fix.starts_with("Free memory"));
        assert!(iso_exceeds_memory(&healthy()).is_empty());
    }

    #[test]
    fn larger_than_total_memory_says_so_and_no_memory_facts_is_silent() {
        let mut facts = example("cache.iso-exceeds-memory").unwrap();
        facts.files[0].size_bytes = 8 * GIB;
        assert!(iso_exceeds_memory(&facts)[0]
            .fix
            .starts_with("It cannot fit"));
        facts.host.as_mut().unwrap().memory = None;
        assert!(iso_exceeds_memory(&facts).is_empty());
    }
}

//! Memory from `/proc/meminfo`: how much page cache an ISO can hope for.

use std::path::Path;

use crate::read::{read_req, Warnings};
use crate::{MemoryFacts, SysRoot};

/// Reads `MemTotal` and `MemAvailable`. Without `MemAvailable` (kernels
/// before 3.14) `MemFree` stands in, with a warning.
pub(crate) fn read_memory(root: &SysRoot, w: &mut Warnings) -> Option<MemoryFacts> {
    let abs = Path::new("/proc/meminfo");
    let text = read_req(root, abs, w)?;
    parse_meminfo(&text, abs, w)
}

fn parse_meminfo(text: &str, abs: &Path, w: &mut Warnings) -> Option<MemoryFacts> {
    let (mut total, mut available, mut free) = (None, None, None);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key.trim() {
            "MemTotal" => &mut total,
            "MemAvailable" => &mut available,
            "MemFree" => &mut free,
            _ => continue,
        };
        match parse_amount(rest) {
            Some(bytes) => *slot = Some(bytes),
            None => w.add(abs, format_args!("cannot parse {:?}", line.trim())),
        }
    }
    let Some(total_bytes) = total else {
        w.add(abs, "no MemTotal");
        return None;
    };
    let available_bytes = match (available, free) {
        (Some(a), _) => a,
        (None, Some(f)) => {
            w.add(abs, "no MemAvailable, using MemFree");
            f
        }
        (None, None) => {
            w.add(abs, "no MemAvailable");
            return None;
        }
    };
    Some(MemoryFacts {
        total_bytes,
        available_bytes,
    })
}

/// `   24684092 kB` -> bytes (`kB` is KiB in meminfo); a bare number is bytes.
fn parse_amount(s: &str) -> Option<u64> {
    let mut parts = s.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    let bytes = match parts.next() {
        None => n,
        Some("kB") => n.checked_mul(1024)?,
        Some(_) => return None,
    };
    parts.next().is_none().then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<MemoryFacts>, Vec<String>) {
        let mut w = Warnings::default();
        let m = parse_meminfo(text, Path::new("/proc/meminfo"), &mut w);
        (m, w.0)
    }

    #[test]
    fn kib_become_bytes() {
        let (m, w) = parse("MemTotal:       32768 kB\nMemFree: 1 kB\nMemAvailable:   16384 kB\n");
        assert_eq!(
            m,
            Some(MemoryFacts {
                total_bytes: 32 << 20,
                available_bytes: 16 << 20
            })
        );
        assert!(w.is_empty());
    }

    #[test]
    fn old_kernel_falls_back_to_memfree() {
        let (m, w) = parse("MemTotal: 2048 kB\nMemFree: 1024 kB\n");
        assert_eq!(m.unwrap().available_bytes, 1 << 20);
        assert_eq!(w, ["/proc/meminfo: no MemAvailable, using MemFree"]);
    }

    #[test]
    fn garbage_is_warnings_not_a_panic() {
        let (m, w) = parse(
            "MemTotal: lots of kB\n\u{0}\u{1}binary\nMemAvailable: 99999999999999999999 kB\n",
        );
        assert_eq!(m, None);
        assert_eq!(w.len(), 3, "{w:?}");
        let (m, w) = parse("");
        assert_eq!((m, w.len()), (None, 1));
    }
}

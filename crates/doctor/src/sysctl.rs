//! What the sysctls the host readers collect do, and do not do, for reading
//! an ISO. Tuning articles recommend several of them for "faster ISO
//! mounting"; the renderers show the notes with `--explain`, or for a
//! value that differs from the kernel's default ([`sysctl_default`]).
//! Every name here is one `isotune_host::SYSCTLS` reads (a test checks).

/// One sentence on what the sysctl `name` (dotted, `net.core.somaxconn`)
/// does for ISO reads; `None` for a sysctl this table does not know.
pub fn sysctl_note(name: &str) -> Option<&'static str> {
    let note = match name {
        "net.core.somaxconn" => {
            "Listen backlog for TCP servers: irrelevant to a local ISO; it matters at most for a \
             server handing ISOs (HTTP, NFS, iSCSI) to many clients at once."
        }
        "net.core.netdev_max_backlog" => {
            "Packets queued per CPU before the network stack processes them: irrelevant to a \
             local ISO; it matters at most on a busy server or a 10G+ link dropping packets."
        }
        "net.ipv4.tcp_congestion_control" => {
            "TCP congestion algorithm (cubic, bbr): irrelevant to a local ISO; it can matter for \
             an ISO fetched over a long or lossy network path, and for a server sending to many \
             clients."
        }
        "net.ipv4.tcp_available_congestion_control" => {
            "The congestion algorithms this kernel offers (read-only list; the one in use is \
             net.ipv4.tcp_congestion_control): irrelevant to local ISO reads; bbr matters at \
             most for a server sending ISOs over long or lossy network paths."
        }
        "vm.dirty_ratio"
        | "vm.dirty_background_ratio"
        | "vm.dirty_bytes"
        | "vm.dirty_background_bytes"
        | "vm.dirty_expire_centisecs"
        | "vm.dirty_writeback_centisecs" => {
            "Write-back tuning for dirty page-cache pages: reading an ISO never dirties pages, so \
             it does not change ISO reads (it matters for the VM's writable disks)."
        }
        _ => return None,
    };
    Some(note)
}

/// The upstream kernel's default value of the sysctl `name`, as
/// `/proc/sys` prints it; `None` when there is no single default (the list
/// of available congestion algorithms depends on the modules built).
pub fn sysctl_default(name: &str) -> Option<&'static str> {
    Some(match name {
        // include/linux/socket.h SOMAXCONN since Linux 5.4.
        "net.core.somaxconn" => "4096",
        "net.core.netdev_max_backlog" => "1000",
        "net.ipv4.tcp_congestion_control" => "cubic",
        // mm/page-writeback.c.
        "vm.dirty_ratio" => "20",
        "vm.dirty_background_ratio" => "10",
        "vm.dirty_bytes" | "vm.dirty_background_bytes" => "0",
        "vm.dirty_expire_centisecs" => "3000",
        "vm.dirty_writeback_centisecs" => "500",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_note_is_for_a_sysctl_the_host_reads_and_back() {
        for name in isotune_host::SYSCTLS {
            assert!(sysctl_note(name).is_some(), "{name} has no note");
        }
        for name in ["vm.drop_caches", "vm.swappiness", "net.core.rmem_max"] {
            assert_eq!(sysctl_note(name), None, "{name} is never read");
        }
        assert_eq!(sysctl_default("vm.dirty_ratio"), Some("20"));
        assert_eq!(
            sysctl_default("net.ipv4.tcp_available_congestion_control"),
            None
        );
    }

    #[test]
    fn the_folklore_sysctls_are_explained() {
        for name in [
            "net.core.somaxconn",
            "net.core.netdev_max_backlog",
            "net.ipv4.tcp_congestion_control",
            "net.ipv4.tcp_available_congestion_control",
            "vm.dirty_ratio",
            "vm.dirty_background_bytes",
        ] {
            assert!(sysctl_note(name).is_some(), "{name}");
        }
        assert!(sysctl_note("vm.dirty_ratio")
            .unwrap()
            .contains("never dirties"));
        assert!(sysctl_note("net.core.somaxconn")
            .unwrap()
            .contains("irrelevant to a local ISO"));
        let available = sysctl_note("net.ipv4.tcp_available_congestion_control").unwrap();
        assert!(available.contains("irrelevant to local ISO reads"));
        assert!(available.contains("bbr"));
        assert_eq!(sysctl_note("kernel.pid_max"), None);
    }
}

//! What the sysctls the host readers collect do, and do not do, for reading
//! an ISO. Tuning articles recommend several of them for "faster ISO
//! mounting"; the renderer shows each value next to this note.

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
        "net.core.rmem_max" | "net.core.wmem_max" | "net.ipv4.tcp_rmem" | "net.ipv4.tcp_wmem" => {
            "Socket buffer limits: irrelevant to a local ISO; larger receive buffers help only an \
             ISO read over a high-latency, high-bandwidth network path (NFS, HTTP)."
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
        "vm.vfs_cache_pressure" => {
            "How eagerly the kernel reclaims dentry/inode caches: negligible for an ISO file's \
             data, which lives in the page cache."
        }
        "vm.swappiness" => {
            "Balance between swapping anonymous memory and dropping page cache: a lower value \
             keeps more of a cached ISO when memory is tight, at the cost of the VMs' memory."
        }
        "vm.drop_caches" => {
            "Writing 1 or 3 drops the page cache: every following boot reads the ISO from storage \
             again (isotune's cold-cache benchmarks use it on purpose)."
        }
        _ => return None,
    };
    Some(note)
}

#[cfg(test)]
mod tests {
    use super::*;

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

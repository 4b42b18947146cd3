//! The QEMU system-emulator options this parser knows, and whether each
//! takes an argument, so that argument consumption stays right for options
//! isotune does not otherwise care about (and an invented option such as
//! `-enable-dma` is reported, not swallowed). Taken from QEMU's
//! `qemu-options.hx` (10.0), plus options removed in recent releases that old
//! scripts still carry.

/// Options that take no argument.
const FLAGS: &[&str] = &[
    "S",
    "s",
    "nographic",
    "enable-kvm",
    "no-kvm",
    "no-reboot",
    "no-shutdown",
    "snapshot",
    "daemonize",
    "nodefaults",
    "no-user-config",
    "nodefconfig",
    "no-hpet",
    "no-acpi",
    "no-fd-bootchk",
    "no-quit",
    "no-frame",
    "alt-grab",
    "ctrl-grab",
    "full-screen",
    "curses",
    "sdl",
    "portrait",
    "show-cursor",
    "win2k-hack",
    "rtc-td-hack",
    "usb",
    "singlestep",
    "semihosting",
    "only-migratable",
    "preconfig",
    "mem-prealloc",
    "enable-sync-profile",
    "enable-fips",
    "async-teardown",
    "perfmap",
    "jitdump",
    "xen-attach",
    "xen-domid-restrict",
    "version",
    "help",
    "h",
    "audio-help",
    "old-param",
];

/// Options that take one argument.
const WITH_ARG: &[&str] = &[
    "machine",
    "M",
    "cpu",
    "accel",
    "smp",
    "numa",
    "add-fd",
    "set",
    "global",
    "boot",
    "m",
    "mem-path",
    "k",
    "audio",
    "audiodev",
    "soundhw",
    "device",
    "name",
    "uuid",
    "fda",
    "fdb",
    "hda",
    "hdb",
    "hdc",
    "hdd",
    "cdrom",
    "blockdev",
    "drive",
    "mtdblock",
    "sd",
    "pflash",
    "fsdev",
    "virtfs",
    "iscsi",
    "usbdevice",
    "display",
    "vga",
    "vnc",
    "spice",
    "g",
    "monitor",
    "qmp",
    "qmp-pretty",
    "mon",
    "chardev",
    "serial",
    "parallel",
    "debugcon",
    "pidfile",
    "D",
    "d",
    "dfilter",
    "L",
    "bios",
    "kernel",
    "append",
    "initrd",
    "dtb",
    "fw_cfg",
    "netdev",
    "nic",
    "net",
    "object",
    "rtc",
    "icount",
    "incoming",
    "action",
    "watchdog",
    "watchdog-action",
    "echr",
    "loadvm",
    "trace",
    "plugin",
    "run-with",
    "runas",
    "chroot",
    "sandbox",
    "readconfig",
    "writeconfig",
    "smbios",
    "acpitable",
    "tpmdev",
    "option-rom",
    "msg",
    "overcommit",
    "compat",
    "seed",
    "semihosting-config",
    "bt",
    "prom-env",
    "gdb",
    "xen-domid",
    "tb-size",
    // Proxmox VE's QEMU (pve-qemu): "PVE: Add dummy -id command line
    // parameter"; qemu-server starts every VM as `/usr/bin/kvm -id VMID ...`.
    // It is the only option Proxmox adds; its other arguments (`-machine
    // type=pc+pve0`, `-iscsi`, `-readconfig`) are upstream QEMU.
    "id",
];

/// Whether `name` (without leading dashes) takes an argument; `None` when the
/// option is not known.
pub(crate) fn takes_arg(name: &str) -> Option<bool> {
    if FLAGS.contains(&name) {
        Some(false)
    } else if WITH_ARG.contains(&name) {
        Some(true)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown() {
        assert_eq!(takes_arg("S"), Some(false));
        assert_eq!(takes_arg("enable-kvm"), Some(false));
        assert_eq!(takes_arg("drive"), Some(true));
        assert_eq!(takes_arg("enable-dma"), None);
        // Proxmox's `-id VMID`.
        assert_eq!(takes_arg("id"), Some(true));
        for f in FLAGS {
            assert!(!WITH_ARG.contains(f), "{f} listed twice");
        }
    }
}

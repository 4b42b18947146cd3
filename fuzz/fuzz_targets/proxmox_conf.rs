//! Fuzz target: the Proxmox VM config and storage.cfg parsers on arbitrary
//! bytes (the first half as storage.cfg, the rest as the VM's config).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(0);
    let storage = String::from_utf8_lossy(&data[..split]);
    let conf = String::from_utf8_lossy(&data[split..]);
    let storage = isotune_vmconfig::proxmox::StorageConfig::parse(&storage);
    let _ = isotune_vmconfig::proxmox::parse_vm_config(
        &conf,
        100,
        std::path::Path::new("/etc/pve/qemu-server/100.conf"),
        &storage,
    );
});

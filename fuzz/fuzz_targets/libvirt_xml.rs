//! Fuzz target: the libvirt domain XML parser on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = isotune_vmconfig::parse_domain_xml(&text, isotune_vmconfig::Origin::QemuCmdline);
});

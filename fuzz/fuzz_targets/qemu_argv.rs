//! Fuzz target: the QEMU argv parser (NUL-separated like /proc/PID/cmdline),
//! the shell splitter, and the emitter on whatever was parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let argv: Vec<String> = data
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let def = isotune_vmconfig::parse_argv(&argv, isotune_vmconfig::Origin::QemuCmdline);
    let _ = isotune_vmconfig::to_argv(&def);
    let _ = isotune_vmconfig::split_cmdline(&String::from_utf8_lossy(data));
});

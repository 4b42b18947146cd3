//! Fuzz target: checksum files, expected digests and the implanted-MD5
//! record parser on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let sums = isotune_verify::SumsFile::parse(&text);
    let _ = sums.entries_for("image.iso");
    let _ = isotune_verify::Expected::parse(&text);
    if let Some(record) = isotune_iso::md5record::parse(data) {
        let _ = record.format();
    }
});

//! Fuzz target: everything `isotune inspect --files` does, on arbitrary
//! bytes. Any panic, hang (libFuzzer -timeout) or runaway allocation
//! (-rss_limit_mb) is a bug: the reader must turn bad input into an error
//! or an anomaly.
#![no_main]

use isotune_iso::report::{inspect, InspectOptions};
use isotune_iso::{IsoImage, Namespace};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(image) = IsoImage::open(data.to_vec()) else {
        return;
    };
    let _ = inspect(
        &image,
        InspectOptions {
            files: Some(image.best_namespace()),
        },
    );
    for ns in [Namespace::Iso9660, Namespace::Joliet, Namespace::RockRidge] {
        if let Ok(tree) = image.files(ns) {
            for entry in tree.entries.iter().take(8) {
                let _ = image.read_file(entry, 4096);
            }
        }
    }
    let _ = image.lookup("/isolinux/isolinux.cfg");
    let _ = image.lookup("/boot/grub/grub.cfg");
});

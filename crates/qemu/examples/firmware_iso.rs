//! Writes the built-in firmware workload image that `isotune boot` boots
//! when no ISO is given, so it can be attached to a VM (the `tune --measure`
//! example in docs/tune.md): `cargo run -p isotune-qemu --example
//! firmware_iso -- OUT.iso [PAYLOAD_MIB]`.

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), mib) = (args.next(), args.next()) else {
        eprintln!("usage: firmware_iso OUT.iso [PAYLOAD_MIB (default 64)]");
        std::process::exit(2);
    };
    let mib: u64 = match mib.map(|m| m.to_string_lossy().parse()) {
        None => 64,
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            eprintln!("firmware_iso: PAYLOAD_MIB: {e}");
            std::process::exit(2);
        }
    };
    match isotune_qemu::workload::write_firmware_iso(out.as_ref(), mib << 20) {
        Ok(w) => println!("{}: {} bytes", w.path.display(), w.image_bytes),
        Err(e) => {
            eprintln!("firmware_iso: {e}");
            std::process::exit(2);
        }
    }
}

//! Writes one crafted hostile image (see `isotune_iso::crafted`), for
//! `scripts/bench/iso-budget.sh` and by hand.
//!
//! Usage: `cargo run --release -p isotune-iso --example crafted -- SHAPE BYTES OUT`
//! where SHAPE is `susp-ce`, `multi-extent` or `gpt`.

use isotune_iso::crafted::Shape;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [shape, bytes, out] = args.as_slice() else {
        return Err("usage: crafted SHAPE BYTES OUT (SHAPE: susp-ce, multi-extent, gpt)".into());
    };
    let shape = Shape::from_name(shape).ok_or_else(|| format!("unknown shape {shape}"))?;
    let bytes: u64 = bytes.parse()?;
    std::fs::write(out, shape.build(bytes))?;
    Ok(())
}

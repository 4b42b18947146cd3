//! Writes small valid images into a directory, as the seed corpus of the
//! `iso_reader` fuzz target (`scripts/fuzz`): the fuzzer then mutates real
//! El Torito catalogs, Joliet descriptors and directory records instead of
//! starting from random bytes. The crafted hostile shapes
//! (`isotune_iso::crafted`) are seeds too, so fuzzing starts next to what
//! once broke the time and memory budget.
//!
//! Usage: `cargo run -p isotune-iso --example seed_corpus -- DIR`

use std::path::PathBuf;

use isotune_iso::crafted::Shape;
use isotune_iso::sample::{sample_writer, SampleSizes};
use isotune_iso::writer::{FileSource, IsoWriter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: seed_corpus DIR")?);
    std::fs::create_dir_all(&dir)?;
    let tiny = SampleSizes {
        kernel_bytes: 3000,
        initrd_bytes: 5000,
    };
    sample_writer(tiny)?.write_file(dir.join("sample.iso"))?;

    let mut plain = IsoWriter::new("PLAIN");
    plain
        .add_file("/a.txt", FileSource::bytes("a"))?
        .add_file("/d1/d2/d3/b.bin", FileSource::zeros(5000))?;
    plain.write_file(dir.join("plain.iso"))?;

    let mut many = IsoWriter::new("MANY");
    many.joliet(true);
    for i in 0..120 {
        many.add_file(
            &format!("/dir/f{i:04}-a-long-joliet-file-name.txt"),
            FileSource::bytes(vec![b'x'; i]),
        )?;
    }
    many.write_file(dir.join("many.iso"))?;

    // The hostile shapes that once broke the time and memory budget, small.
    for shape in Shape::ALL {
        let bytes = shape.build(600 * 1024);
        std::fs::write(dir.join(format!("crafted-{}.iso", shape.name())), bytes)?;
    }
    Ok(())
}

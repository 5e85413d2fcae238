//! Embeds `migrations/NNNN_name.sql` in the binary, in order, and checks their numbering.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations/ is readable")
        .map(|entry| entry.expect("migrations/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();

    let mut out = String::from("pub const MIGRATIONS: &[Migration] = &[\n");
    for (index, path) in files.iter().enumerate() {
        let stem = path.file_stem().unwrap().to_str().expect("UTF-8 file name");
        let (number, name) = stem
            .split_once('_')
            .unwrap_or_else(|| panic!("{stem}.sql: name it NNNN_name.sql"));
        let version: u32 = number
            .parse()
            .unwrap_or_else(|_| panic!("{stem}.sql: NNNN must be a number"));
        assert_eq!(
            version as usize,
            index + 1,
            "{stem}.sql: migrations are numbered 0001, 0002, … without gaps"
        );
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(
            out,
            "    Migration {{ version: {version}, name: {name:?}, sql: include_str!({:?}) }},",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join("migrations.rs");
    std::fs::write(target, out).unwrap();
}

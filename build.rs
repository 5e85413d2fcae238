//! Embeds the migrations in the binary, in order, and checks their numbering: the desk's SQLite
//! `migrations/NNNN_name.sql` as `migrations.rs`, central's PostgreSQL
//! `migrations/central/NNNN_name.sql` as `central_migrations.rs`.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations/central");
    // Read when the script runs, not when it is built: a build script built for one checkout
    // can be reused by another of the same sources.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("migrations");
    embed(&dir, "MIGRATIONS", "migrations.rs");
    embed(
        &dir.join("central"),
        "CENTRAL_MIGRATIONS",
        "central_migrations.rs",
    );
}

/// Writes `pub const <name>: &[Migration]` with the `.sql` files of `dir` (not its
/// subdirectories) to `OUT_DIR/<file>`.
fn embed(dir: &Path, name: &str, file: &str) {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{} is readable: {e}", dir.display()))
        .map(|entry| entry.expect("migrations entry").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();

    let mut out = format!("pub const {name}: &[Migration] = &[\n");
    for (index, path) in files.iter().enumerate() {
        let stem = path.file_stem().unwrap().to_str().expect("UTF-8 file name");
        let (number, title) = stem
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
            "    Migration {{ version: {version}, name: {title:?}, sql: include_str!({:?}) }},",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join(file);
    std::fs::write(target, out).unwrap();
}

//! Writes ui/src/bindings.ts, the TypeScript types and command wrappers generated from Rust.

fn main() {
    let path = ebb_app::bindings::default_path();
    if let Err(e) = ebb_app::bindings::export(&path) {
        eprintln!("error: could not write {}: {e}", path.display());
        std::process::exit(1);
    }
    println!("wrote {}", path.display());
}

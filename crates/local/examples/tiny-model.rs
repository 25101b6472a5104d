//! Writes a tiny random model into a Hugging Face cache, for trying local mode's real-model
//! path without a download: `cargo run -p ebb-local --example tiny-model -- HUB_CACHE MODEL_ID
//! t5|llama|qwen2`.

use ebb_local::model::family::Family;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [cache, model, family] = args.as_slice() else {
        return Err("usage: tiny-model HUB_CACHE MODEL_ID t5|llama|qwen2".into());
    };
    let family = match family.as_str() {
        "t5" => Family::T5,
        "llama" => Family::Llama,
        "qwen2" => Family::Qwen2,
        other => return Err(format!("`{other}` is not t5, llama or qwen2")),
    };
    let snapshot = ebb_local::model::tiny::write(std::path::Path::new(cache), model, family)?;
    println!("{}", snapshot.display());
    Ok(())
}

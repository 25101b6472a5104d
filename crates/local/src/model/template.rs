//! Chat templates rendered as TGI renders them (`router/src/infer/chat_template.rs`): the
//! tokenizer's Jinja template with minijinja and Python's string methods, given `messages`,
//! `add_generation_prompt = true`, `bos_token`, `eos_token`, and `raise_exception`.

use minijinja::{Environment, ErrorKind, context};
use serde_json::Value;

/// The prompt for `messages` (OpenAI's shape: `role`, `content` as text or text parts).
/// Errors are TGI's `Template error: ...` sentences.
pub fn render(
    template: &str,
    messages: &[Value],
    bos_token: Option<&str>,
    eos_token: Option<&str>,
) -> Result<String, String> {
    let mut env = Environment::new();
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |message: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        },
    );
    // TGI flattens text parts into one string before rendering.
    let messages: Vec<Value> = messages.iter().map(flatten).collect();
    env.add_template("chat", template)
        .map_err(|e| format!("Template error: {e}"))?;
    let chat = env
        .get_template("chat")
        .map_err(|e| format!("Template error: {e}"))?;
    chat.render(context! {
        messages => messages,
        add_generation_prompt => true,
        bos_token => bos_token.unwrap_or(""),
        eos_token => eos_token.unwrap_or(""),
    })
    .map_err(|e| format!("Template error: {e}"))
}

fn flatten(message: &Value) -> Value {
    let mut m = message.clone();
    if let Some(Value::Array(parts)) = message.get("content") {
        let text: Vec<&str> = parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        m["content"] = Value::String(text.join(""));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'].strip() + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn messages_render_with_pythons_string_methods() {
        let messages = vec![
            json!({"role": "system", "content": " Be brief. "}),
            json!({"role": "user", "content": [{"type": "text", "text": "Hi"}]}),
        ];
        let prompt = render(CHATML, &messages, None, None).unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let refusing = "{{ raise_exception('Only user and assistant roles are supported') }}";
        let err = render(refusing, &messages, None, None).unwrap_err();
        assert!(err.contains("Only user and assistant roles"), "{err}");
    }
}

//! A GGUF's own chat template (`tokenizer.chat_template`, Jinja), rendered as
//! llama.cpp's HTTP server renders it, so that a study run on the embedded
//! backend asks the very prompt the same GGUF gets behind `llama-server`
//! (`docs/models.md`, "Chat templates").
//!
//! What the server does, and this module does too: the template sees
//! `messages` (`role`, `content`), `add_generation_prompt`, `bos_token` and
//! `eos_token`, and may call `raise_exception`; Python string methods
//! (`.strip()`, `.startswith()`, …) work as in Jinja2 (minijinja-contrib's
//! Python compatibility); when the tokenizer adds BOS itself, a BOS the
//! template wrote at the start is removed (and likewise a trailing EOS), so it
//! is not doubled. What it does not emulate: the server's polyfills for
//! templates that reject a system message or lack tool-call support — such a
//! template's own error is reported instead.
//!
//! Written here rather than taken from llama.cpp: llama.cpp's C API renders
//! only its built-in templates (`llama_chat_apply_template` matches a Jinja
//! source to the nearest built-in by heuristics, which is how SmolLM2's template
//! lost its default system prompt); its Jinja engine lives in the server's C++
//! `common` library, which has no C API. minijinja renders the Jinja itself.

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::types::Message;

/// A compiled Jinja chat template with the tokens it may refer to.
#[derive(Debug)]
pub struct JinjaTemplate {
    env: Environment<'static>,
    source_sha256: String,
    bos_token: String,
    eos_token: String,
    strip_bos: bool,
    strip_eos: bool,
}

impl JinjaTemplate {
    /// Compiles `source`. `bos_token` and `eos_token` are the vocabulary's
    /// special tokens as text; `strip_bos` / `strip_eos` say whether the
    /// tokenizer adds them itself (then a rendered leading BOS / trailing EOS
    /// is removed, as the server does).
    pub fn new(
        source: &str,
        bos_token: &str,
        eos_token: &str,
        strip_bos: bool,
        strip_eos: bool,
    ) -> Result<Self> {
        let mut env = Environment::new();
        // Jinja2's (and the server's) lenient undefined: a missing key is falsy.
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| Error::Invalid(format!("the chat template does not compile: {e:#}")))?;
        Ok(Self {
            env,
            source_sha256: hex::encode(Sha256::digest(source.as_bytes())),
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
            strip_bos,
            strip_eos,
        })
    }

    /// sha256 of the template's source (hex); part of the model's id.
    pub fn sha256(&self) -> &str {
        &self.source_sha256
    }

    /// The prompt text of `messages`, followed by the assistant's turn header
    /// when `add_generation_prompt`.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let turns: Vec<Value> = messages
            .iter()
            .map(|m| {
                Value::from_pairs([
                    ("role", Value::from(m.role.as_str())),
                    ("content", Value::from(m.content.as_str())),
                ])
            })
            .collect();
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| Error::Invalid(format!("chat template: {e}")))?;
        let mut out = tmpl
            .render(minijinja::context! {
                messages => turns,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| Error::Invalid(format!("the chat template failed: {e:#}")))?;
        if self.strip_bos && !self.bos_token.is_empty() && out.starts_with(&self.bos_token) {
            out.drain(..self.bos_token.len());
        }
        if self.strip_eos && !self.eos_token.is_empty() && out.ends_with(&self.eos_token) {
            out.truncate(out.len() - self.eos_token.len());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-135M-Instruct's `tokenizer.chat_template`, as its GGUF holds it.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    // Expected strings from Jinja2 itself (what Hugging Face's
    // `apply_chat_template` runs):
    //   import jinja2
    //   t = jinja2.Environment().from_string(SMOLLM2)
    //   t.render(messages=[{"role": "user", "content": "Hi"}], add_generation_prompt=True)
    #[test]
    fn smollm2_template_renders_as_jinja2_does() {
        let t = JinjaTemplate::new(SMOLLM2, "", "<|im_end|>", false, false).unwrap();
        assert_eq!(
            t.render(&[Message::user("Hi")], true).unwrap(),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging \
             Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            t.render(&[Message::system("Be brief."), Message::user("Hi")], false)
                .unwrap(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        );
        // hashlib.sha256(SMOLLM2.encode()).hexdigest()
        assert_eq!(
            t.sha256(),
            "872be49dbb638044ad01b60388f48d469ff2980e5f0dccdc22ec907db54d0788"
        );
    }

    // Gemma-style: BOS written by the template, Python string methods,
    // raise_exception; with strip_bos the leading BOS goes (the tokenizer adds it).
    //   jinja2 with raise_exception defined renders "<bos><start_of_turn>user\nHi<end_of_turn>\n"
    #[test]
    fn python_methods_bos_and_raise_exception() {
        let src = "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}\
                   {{ raise_exception('System role not supported') }}{% endif %}<start_of_turn>{{ m['role'] }}\n{{ m['content'].strip() }}<end_of_turn>\n\
                   {% endfor %}{% if messages[0]['content'].startswith('H') %}{% endif %}";
        let t = JinjaTemplate::new(src, "<bos>", "<eos>", false, false).unwrap();
        assert_eq!(
            t.render(&[Message::user(" Hi ")], false).unwrap(),
            "<bos><start_of_turn>user\nHi<end_of_turn>\n"
        );
        let stripped = JinjaTemplate::new(src, "<bos>", "<eos>", true, false).unwrap();
        assert_eq!(
            stripped.render(&[Message::user("Hi")], false).unwrap(),
            "<start_of_turn>user\nHi<end_of_turn>\n"
        );
        let e = t
            .render(&[Message::system("x"), Message::user("Hi")], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("System role not supported"), "{e}");
        let e = JinjaTemplate::new("{% for %}", "", "", false, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not compile"), "{e}");
    }
}

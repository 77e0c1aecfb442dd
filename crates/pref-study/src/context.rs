//! Prompts against the context window, before the first model call: a study's
//! plan offers every prompt it will send (or a bound on it, when the prompt
//! holds text not yet written), and [`ContextCheck::check`] counts the tokens of
//! the longest ones with the model's own tokenizer and chat template. A prompt
//! that cannot fit is refused here, with the setting to raise, instead of after
//! hours of work (and a frozen `config.toml` the run could never finish with).
//! See `docs/runs.md` ("Checked before the first model call").

use std::collections::BTreeMap;
use std::sync::Arc;

use pref_llm::{LanguageModel, Message};

use crate::error::{Error, Result};
use crate::models::Model;

/// Candidates counted per setting: the longest prompts by bytes. Tokens per
/// byte vary little between prompts of one template, so the longest in tokens
/// is among them; the backend's own check before each call stays as a backstop.
const PER_SETTING: usize = 8;

struct Candidate {
    bytes: usize,
    what: String,
    messages: Vec<Message>,
    reserve: usize,
}

struct Offers {
    model: Arc<Model>,
    longest: Vec<Candidate>,
}

/// The longest prompts offered per model setting, and the check of them.
#[derive(Default)]
pub struct ContextCheck {
    by_setting: BTreeMap<String, Offers>,
}

/// Bytes of a chat's contents plus a reserve, the ordering key of candidates.
fn size(messages: &[Message]) -> usize {
    messages.iter().map(|m| m.content.len()).sum()
}

impl ContextCheck {
    /// An empty check.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers a prompt `messages` that `model` (configured under `setting`,
    /// e.g. `model` or `authors[2].model`) will be sent, whose answer needs up to
    /// `reserve` more tokens of context; `what` names it in the error (called
    /// only for the candidates kept).
    pub fn offer(
        &mut self,
        setting: &str,
        model: &Arc<Model>,
        messages: &[Message],
        reserve: usize,
        what: impl FnOnce() -> String,
    ) {
        if model.context_tokens().is_none() {
            return; // an endpoint: its server checks the context
        }
        let offers = self
            .by_setting
            .entry(setting.to_string())
            .or_insert_with(|| Offers {
                model: model.clone(),
                longest: Vec::new(),
            });
        let bytes = size(messages) + reserve;
        if offers.longest.len() >= PER_SETTING && offers.longest.iter().all(|c| c.bytes >= bytes) {
            return;
        }
        offers.longest.push(Candidate {
            bytes,
            what: what(),
            messages: messages.to_vec(),
            reserve,
        });
        offers.longest.sort_by_key(|c| std::cmp::Reverse(c.bytes));
        offers.longest.truncate(PER_SETTING);
    }

    /// Counts the tokens of the kept candidates; the first that does not fit
    /// (prompt + reserve > the model's context) is an error naming it and the
    /// setting to raise.
    pub fn check(&self) -> Result<()> {
        for (setting, offers) in &self.by_setting {
            let Some(n_ctx) = offers.model.context_tokens() else {
                continue;
            };
            for c in &offers.longest {
                let tokens =
                    futures::executor::block_on(offers.model.prompt_tokens(&c.messages))
                        .map_err(|e| Error::Study(format!("{setting}: {}: {e}", c.what).into()))?;
                let Some(tokens) = tokens else { continue };
                if tokens + c.reserve > n_ctx {
                    return Err(Error::Study(
                        format!(
                            "{setting}: the prompt of {} is {tokens} tokens and its answer may \
                             need {} more, beyond the model's context of {n_ctx} tokens: raise \
                             {setting}.n_ctx (0 = 4096) or shorten the input",
                            c.what, c.reserve
                        )
                        .into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

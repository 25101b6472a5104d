//! Token-by-token generation with TGI's parameters, as TGI's Python server chooses tokens
//! (`server/text_generation_server/utils/tokens.py`, `NextTokenChooser` and
//! `StoppingCriteria`): the repetition penalty first, then, when sampling, temperature, top-k
//! and top-p, and a token drawn with the request's seed; else the most likely token. The
//! log-probability reported for a token is taken after those steps, as TGI's is.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::llama;
use rand::{Rng, SeedableRng};

use super::load::{Loaded, Network};

/// How the next token is drawn when sampling.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub seed: u64,
    pub temperature: f32,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
}

/// What one generation is asked for (TGI's `parameters`, already validated).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    pub max_new_tokens: u32,
    /// `None`: greedy decoding.
    pub sampling: Option<Sampling>,
    pub repetition_penalty: Option<f32>,
    pub stop: Vec<String>,
    /// How many of the most likely tokens to report at each step (TGI's `top_n_tokens`).
    pub top_n_tokens: u32,
    /// Tokens generated before an end-of-sequence token may end it (`transformers`'
    /// `min_new_tokens`; not a TGI parameter: the benchmark uses it to time a fixed length).
    pub min_new_tokens: u32,
}

/// One token as TGI's `details` give it.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub id: u32,
    pub text: String,
    /// Natural log of the token's probability.
    pub logprob: f32,
    pub special: bool,
}

/// Why a generation ended, with TGI's names (`FinishReason` in `router/src/lib.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Length,
    EosToken,
    StopSequence,
}

impl Finish {
    pub fn tgi(self) -> &'static str {
        match self {
            Finish::Length => "length",
            Finish::EosToken => "eos_token",
            Finish::StopSequence => "stop_sequence",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Every generated token, an end-of-sequence token included.
    pub tokens: Vec<Token>,
    /// The `top_n_tokens` most likely tokens at each step (empty when none were asked for).
    pub top_tokens: Vec<Vec<Token>>,
    /// The generated text, special tokens left out; a stop sequence that ended it is kept.
    pub text: String,
    pub finish: Finish,
}

/// The network run one step at a time, with its own caches.
enum Stepper {
    T5 {
        network: candle_transformers::models::t5::T5ForConditionalGeneration,
        encoded: Tensor,
    },
    Llama {
        network: llama::Llama,
        cache: llama::Cache,
    },
    Qwen2(candle_transformers::models::qwen2::ModelForCausalLM),
}

fn err(e: candle_core::Error) -> String {
    format!("generation failed: {e}")
}

fn row(ids: &[u32]) -> Result<Tensor, String> {
    Tensor::new(ids, &Device::Cpu)
        .and_then(|t| t.unsqueeze(0))
        .map_err(err)
}

impl Stepper {
    /// Starts on the prompt; returns the stepper, the first step's input and its position.
    fn start(network: &Network, prompt: &[u32]) -> Result<(Stepper, Vec<u32>), String> {
        match network {
            Network::T5(m, start) => {
                let mut network = m.clone();
                network.clear_kv_cache();
                let encoded = network.encode(&row(prompt)?).map_err(err)?;
                Ok((Stepper::T5 { network, encoded }, vec![*start]))
            }
            Network::Llama(m, config) => {
                let cache =
                    llama::Cache::new(true, DType::F32, config, &Device::Cpu).map_err(err)?;
                Ok((
                    Stepper::Llama {
                        network: m.clone(),
                        cache,
                    },
                    prompt.to_vec(),
                ))
            }
            Network::Qwen2(m) => {
                let mut network = m.clone();
                network.clear_kv_cache();
                Ok((Stepper::Qwen2(network), prompt.to_vec()))
            }
        }
    }

    /// The next token's logits after feeding `ids` at position `at`.
    fn step(&mut self, ids: &[u32], at: usize) -> Result<Vec<f32>, String> {
        let input = row(ids)?;
        let logits = match self {
            Stepper::T5 { network, encoded } => network.decode(&input, encoded),
            Stepper::Llama { network, cache } => network.forward(&input, at, cache),
            Stepper::Qwen2(network) => network.forward(&input, at),
        }
        .map_err(err)?;
        logits
            .to_dtype(DType::F32)
            .and_then(|l| l.flatten_all())
            .and_then(|l| l.to_vec1::<f32>())
            .map_err(err)
    }
}

impl Loaded {
    /// Generates from the prompt's token ids. `stop` is checked between tokens: once set, the
    /// generation ends with an error (its caller gave up waiting).
    pub fn generate(
        &self,
        prompt: &[u32],
        p: &Params,
        stop: &AtomicBool,
    ) -> Result<Generation, String> {
        let (mut stepper, mut input) = Stepper::start(&self.network, prompt)?;
        let decoder = matches!(self.network, Network::T5(..));
        let mut context: Vec<u32> = if decoder {
            input.clone()
        } else {
            prompt.to_vec()
        };
        let mut rng = p
            .sampling
            .as_ref()
            .map(|s| rand::rngs::StdRng::seed_from_u64(s.seed));
        let mut at = 0;
        let mut out = Generation {
            tokens: Vec::new(),
            top_tokens: Vec::new(),
            text: String::new(),
            finish: Finish::Length,
        };
        let mut generated: Vec<u32> = Vec::new();
        while out.tokens.len() < p.max_new_tokens as usize {
            if stop.load(Ordering::Relaxed) {
                return Err("the generation was stopped".into());
            }
            let mut logits = stepper.step(&input, at)?;
            at += input.len();
            if out.tokens.len() < p.min_new_tokens as usize {
                self.suppress_eos(&mut logits);
            }
            let (id, logprobs) = choose(&mut logits, &context, p, rng.as_mut());
            context.push(id);
            generated.push(id);
            self.record(&mut out, &generated, &logprobs, p.top_n_tokens);
            input = vec![id];
            if let Some(finish) = self.finish(&generated, &p.stop) {
                out.finish = finish;
                break;
            }
        }
        out.text = self.text(&generated);
        Ok(out)
    }

    /// End-of-sequence tokens made impossible (before `min_new_tokens`).
    fn suppress_eos(&self, logits: &mut [f32]) {
        for &eos in &self.eos {
            if let Some(l) = logits.get_mut(eos as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
    }

    /// The last generated token in TGI's details (and the top tokens, if asked for).
    fn record(&self, out: &mut Generation, generated: &[u32], logprobs: &[f32], top_n: u32) {
        let Some(&id) = generated.last() else { return };
        out.tokens.push(Token {
            id,
            text: self.piece(generated),
            logprob: logprobs[id as usize],
            special: self.eos.contains(&id) || self.is_special(id),
        });
        if top_n > 0 {
            out.top_tokens.push(self.top(logprobs, top_n as usize));
        }
    }

    /// Whether the generation ends here: an end-of-sequence token, or the text now ends with
    /// a stop sequence (TGI's `StopSequenceCriteria` looks at the text's end).
    fn finish(&self, generated: &[u32], stop: &[String]) -> Option<Finish> {
        let last = generated.last()?;
        if self.eos.contains(last) {
            return Some(Finish::EosToken);
        }
        if stop.is_empty() {
            return None;
        }
        let text = self.text(generated);
        stop.iter()
            .any(|s| text.ends_with(s.as_str()))
            .then_some(Finish::StopSequence)
    }

    /// The text of `ids`, special tokens left out.
    pub fn text(&self, ids: &[u32]) -> String {
        self.tokenizer.decode(ids, true).unwrap_or_default()
    }

    fn is_special(&self, id: u32) -> bool {
        self.special.contains(&id)
    }

    /// The last token's text as it adds to the text before it (a word-start marker becomes
    /// its space), the way TGI decodes token by token.
    pub fn piece(&self, ids: &[u32]) -> String {
        let Some(last) = ids.len().checked_sub(1) else {
            return String::new();
        };
        let from = last.saturating_sub(4);
        let before = self
            .tokenizer
            .decode(&ids[from..last], false)
            .unwrap_or_default();
        let with = self
            .tokenizer
            .decode(&ids[from..], false)
            .unwrap_or_default();
        match with.strip_prefix(&before) {
            Some(piece) => piece.to_string(),
            None => self
                .tokenizer
                .decode(&ids[last..], false)
                .unwrap_or_default(),
        }
    }

    fn top(&self, logprobs: &[f32], n: usize) -> Vec<Token> {
        let mut order: Vec<usize> = (0..logprobs.len()).collect();
        order.sort_by(|a, b| logprobs[*b].total_cmp(&logprobs[*a]));
        order
            .into_iter()
            .take(n)
            .map(|i| Token {
                id: i as u32,
                text: self
                    .tokenizer
                    .decode(&[i as u32], false)
                    .unwrap_or_default(),
                logprob: logprobs[i],
                special: self.eos.contains(&(i as u32)) || self.is_special(i as u32),
            })
            .collect()
    }
}

/// The next token, and every token's log-probability after the penalty and warpers.
fn choose(
    logits: &mut [f32],
    context: &[u32],
    p: &Params,
    rng: Option<&mut rand::rngs::StdRng>,
) -> (u32, Vec<f32>) {
    if let Some(penalty) = p.repetition_penalty.filter(|r| *r != 1.0) {
        repetition_penalty(logits, context, penalty);
    }
    if let Some(s) = &p.sampling {
        warp(logits, s);
    }
    let logprobs = log_softmax(logits);
    let id = match (rng, &p.sampling) {
        (Some(rng), Some(_)) => draw(&logprobs, rng),
        _ => argmax(&logprobs),
    };
    (id as u32, logprobs)
}

/// `transformers`' `RepetitionPenaltyLogitsProcessor`: a seen token's score is divided by
/// the penalty when positive, multiplied when negative.
fn repetition_penalty(logits: &mut [f32], context: &[u32], penalty: f32) {
    let mut seen: Vec<u32> = context.to_vec();
    seen.sort_unstable();
    seen.dedup();
    for id in seen {
        if let Some(l) = logits.get_mut(id as usize) {
            *l = if *l < 0.0 { *l * penalty } else { *l / penalty };
        }
    }
}

/// Temperature, then top-k, then top-p (nucleus), as `transformers`' warpers in that order.
fn warp(logits: &mut [f32], s: &Sampling) {
    if s.temperature != 1.0 {
        logits.iter_mut().for_each(|l| *l /= s.temperature);
    }
    if let Some(k) = s.top_k.filter(|k| *k < logits.len()) {
        let mut sorted: Vec<f32> = logits.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let kth = sorted[k.max(1) - 1];
        logits
            .iter_mut()
            .filter(|l| **l < kth)
            .for_each(|l| *l = f32::NEG_INFINITY);
    }
    if let Some(top_p) = s.top_p {
        let probs: Vec<f32> = log_softmax(logits).iter().map(|l| l.exp()).collect();
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|a, b| probs[*b].total_cmp(&probs[*a]));
        let mut sum = 0.0;
        let mut kept = 0;
        for &i in &order {
            kept += 1;
            sum += probs[i];
            if sum >= top_p {
                break;
            }
        }
        for &i in &order[kept..] {
            logits[i] = f32::NEG_INFINITY;
        }
    }
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    let log_sum = max + sum.ln();
    logits.iter().map(|l| l - log_sum).collect()
}

fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

fn draw(logprobs: &[f32], rng: &mut rand::rngs::StdRng) -> usize {
    let target: f32 = rng.random::<f32>();
    let mut sum = 0.0;
    let mut last = 0;
    for (i, l) in logprobs.iter().enumerate() {
        let p = l.exp();
        if p > 0.0 {
            last = i;
            sum += p;
            if sum > target {
                return i;
            }
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warpers_keep_only_what_top_k_and_top_p_allow() {
        let mut logits = vec![4.0, 3.0, 2.0, 1.0, 0.0];
        let s = Sampling {
            seed: 1,
            temperature: 1.0,
            top_k: Some(3),
            top_p: None,
        };
        warp(&mut logits, &s);
        assert_eq!(logits.iter().filter(|l| l.is_finite()).count(), 3);
        let mut logits = vec![10.0, 0.0, 0.0];
        let s = Sampling {
            top_k: None,
            top_p: Some(0.5),
            ..s
        };
        warp(&mut logits, &s);
        assert_eq!(logits.iter().filter(|l| l.is_finite()).count(), 1);
    }

    #[test]
    fn the_penalty_lowers_tokens_already_seen() {
        let mut logits = vec![2.0, -2.0, 2.0];
        repetition_penalty(&mut logits, &[0, 1, 1], 2.0);
        assert_eq!(logits, vec![1.0, -4.0, 2.0]);
    }

    #[test]
    fn log_probabilities_sum_to_one() {
        let lp = log_softmax(&[1.0, 2.0, 3.0, f32::NEG_INFINITY]);
        let total: f32 = lp.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-5);
        assert_eq!(argmax(&lp), 2);
    }
}

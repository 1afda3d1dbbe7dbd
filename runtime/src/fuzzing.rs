//! How the runtime's property tests configure proptest: failures persisted
//! under `runtime/proptest-regressions/` (committed, replayed first on every
//! run), and the case count and seed said out loud.
//!
//! `PROPTEST_CASES` changes the case count (a longer soak) and
//! `PROPTEST_RNG_SEED` fixes the seed (to replay a run); without it each run
//! draws a new seed, so CI explores new cases and prints the seed it used.

use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};

/// The configuration of fuzz target `name`: `cases` cases unless
/// `PROPTEST_CASES` says otherwise, the seed from `PROPTEST_RNG_SEED` or a
/// fresh one, printed either way (shown by `cargo test` when it fails, or
/// with `--nocapture`).
pub(crate) fn config(name: &str, cases: u32, source_file: &'static str) -> Config {
    let env = Config::default();
    let cases = match std::env::var_os("PROPTEST_CASES") {
        Some(_) => env.cases,
        None => cases,
    };
    let seed = match env.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => {
            let nonce = crate::segment::os::random_nonce().expect("getrandom");
            u64::from_le_bytes(nonce[..8].try_into().expect("8 bytes"))
        }
    };
    eprintln!(
        "fuzz {name}: {cases} cases, seed {seed} (replay: PROPTEST_RNG_SEED={seed}); \
         failures are saved under runtime/proptest-regressions/"
    );
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        source_file: Some(source_file),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..env
    }
}

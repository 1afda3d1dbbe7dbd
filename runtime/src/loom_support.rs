//! What every loom model of the crate shares: running a model over its
//! interleavings and checking that it had more than one (a model whose
//! threads never interleave checks nothing).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Checks `f` on every interleaving loom explores (with `preemption_bound`,
/// or without one), and that there was more than one to check.
pub(crate) fn check(preemption_bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = preemption_bound;
    let executions = Arc::new(AtomicUsize::new(0));
    let counter = executions.clone();
    builder.check(move || {
        f();
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let executions = executions.load(Ordering::Relaxed);
    eprintln!("{executions} executions");
    assert!(executions > 1, "a model with one execution checks nothing");
}

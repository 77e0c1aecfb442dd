//! Runnable examples of the pref crate APIs; see the `examples` targets.

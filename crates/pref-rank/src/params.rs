//! Hyperparameter validation in linfa's `ParamGuard` style: a plain params struct
//! with defaults is checked once into a [`Checked`] value, and only checked
//! params can fit. The idiom and the validators are pref-stats' (shared by every
//! statistics crate); this module instantiates them with pref-rank's error.

use crate::error::{Error, Result};

pref_stats::param_guard!(Error);

pub(crate) fn finite(name: &'static str, x: f64) -> Result<()> {
    Ok(pref_stats::finite(name, x)?)
}

pub(crate) fn positive(name: &'static str, x: f64) -> Result<()> {
    Ok(pref_stats::positive(name, x)?)
}

pub(crate) fn non_negative(name: &'static str, x: f64) -> Result<()> {
    Ok(pref_stats::non_negative(name, x)?)
}

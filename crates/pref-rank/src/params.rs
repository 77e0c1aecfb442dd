//! Hyperparameter validation in linfa's `ParamGuard` style: a plain params struct
//! with defaults is checked once into a [`Checked`] value, and only checked
//! params can fit.

use std::ops::Deref;

use crate::error::{Error, Result};

/// A set of hyperparameters that can be validated.
pub trait ParamGuard: Sized {
    /// Checks every field; the error names the offending one.
    fn validate(&self) -> Result<()>;

    /// Validates and wraps the params so they can be used to fit.
    fn check(self) -> Result<Checked<Self>> {
        self.validate()?;
        Ok(Checked(self))
    }
}

/// Validated hyperparameters (see [`ParamGuard::check`]); derefs to the params.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<P>(P);

impl<P> Checked<P> {
    /// The params.
    pub fn params(&self) -> &P {
        &self.0
    }
    /// Unwraps the params (for editing and re-checking).
    pub fn into_inner(self) -> P {
        self.0
    }
}

impl<P> Deref for Checked<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.0
    }
}

pub(crate) fn finite(name: &'static str, x: f64) -> Result<()> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(Error::param(name, format!("must be finite, got {x}")))
    }
}

pub(crate) fn positive(name: &'static str, x: f64) -> Result<()> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            name,
            format!("must be finite and > 0, got {x}"),
        ))
    }
}

pub(crate) fn non_negative(name: &'static str, x: f64) -> Result<()> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            name,
            format!("must be finite and ≥ 0, got {x}"),
        ))
    }
}

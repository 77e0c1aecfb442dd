//! Hyperparameters: params → checked params → fit (linfa's `ParamGuard` idiom), and
//! the validators every crate's checks are written with.
//!
//! A crate states its idiom once with [`param_guard!`](crate::param_guard), naming its
//! error type; that defines, in the calling module, the trait `ParamGuard`
//! (`validate`, and `check` which wraps valid params) and the type `Checked<P>`
//! (validated params; derefs to them). Both must live in the crate that uses them:
//! fitting methods are inherent methods of `Checked<TheirParams>` (Rust allows those
//! only on a local type), and `validate` returns the crate's own error.
//!
//! The validators return [`ParamError`]; a crate converts it into its error type with
//! `From`, so `positive("lr", self.lr)?` works in any crate's `validate`. Messages are
//! the same everywhere (`must be finite and > 0, got -1`).

pub use crate::error::ParamError;

/// Result of a validator.
pub type ParamResult = std::result::Result<(), ParamError>;

/// `x` is finite: `must be finite, got {x}`.
pub fn finite(name: &'static str, x: f64) -> ParamResult {
    if x.is_finite() {
        Ok(())
    } else {
        Err(ParamError::new(name, format!("must be finite, got {x}")))
    }
}

/// `x` is finite and > 0: `must be finite and > 0, got {x}`.
pub fn positive(name: &'static str, x: f64) -> ParamResult {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(ParamError::new(
            name,
            format!("must be finite and > 0, got {x}"),
        ))
    }
}

/// `x` is finite and ≥ 0: `must be finite and ≥ 0, got {x}`.
pub fn non_negative(name: &'static str, x: f64) -> ParamResult {
    at_least(name, x, 0.0)
}

/// `x` is finite and ≥ `min`: `must be finite and ≥ {min}, got {x}`.
pub fn at_least(name: &'static str, x: f64, min: f64) -> ParamResult {
    if x.is_finite() && x >= min {
        Ok(())
    } else {
        Err(ParamError::new(
            name,
            format!("must be finite and ≥ {min}, got {x}"),
        ))
    }
}

/// `x` lies in the open interval (0, 1) (a confidence level, say):
/// `must lie in (0, 1), got {x}`.
pub fn open_unit_interval(name: &'static str, x: f64) -> ParamResult {
    if x > 0.0 && x < 1.0 {
        Ok(())
    } else {
        Err(ParamError::new(
            name,
            format!("must lie in (0, 1), got {x}"),
        ))
    }
}

/// `x` lies in the closed interval [0, 1] (a share, say): `must lie in [0, 1], got {x}`.
pub fn unit_interval(name: &'static str, x: f64) -> ParamResult {
    if (0.0..=1.0).contains(&x) {
        Ok(())
    } else {
        Err(ParamError::new(
            name,
            format!("must lie in [0, 1], got {x}"),
        ))
    }
}

/// Defines, in the calling module, the hyperparameter idiom of a crate whose errors
/// are `$error`: the trait `ParamGuard` and the type `Checked<P>`.
///
/// ```
/// mod error {
///     #[derive(Debug)]
///     pub struct Error(pub String);
///     impl From<pref_stats::ParamError> for Error {
///         fn from(e: pref_stats::ParamError) -> Self {
///             Error(e.to_string())
///         }
///     }
/// }
/// mod params {
///     pref_stats::param_guard!(crate::error::Error);
/// }
/// use params::{Checked, ParamGuard};
///
/// struct Ridge {
///     alpha: f64,
/// }
/// impl ParamGuard for Ridge {
///     fn validate(&self) -> Result<(), error::Error> {
///         Ok(pref_stats::positive("alpha", self.alpha)?)
///     }
/// }
/// impl Checked<Ridge> {
///     fn shrink(&self, x: f64) -> f64 {
///         x / (1.0 + self.alpha)
///     }
/// }
///
/// fn main() {
///     assert_eq!(Ridge { alpha: 1.0 }.check().unwrap().shrink(4.0), 2.0);
///     let err = Ridge { alpha: -1.0 }.check().err().unwrap();
///     assert_eq!(err.0, "invalid parameter `alpha`: must be finite and > 0, got -1");
/// }
/// ```
#[macro_export]
macro_rules! param_guard {
    ($error:ty) => {
        /// A set of hyperparameters that can be validated (linfa's `ParamGuard`): a
        /// plain params struct with defaults is checked once into a [`Checked`] value,
        /// and only checked params can fit.
        pub trait ParamGuard: Sized {
            /// Checks every field; the error names the offending one.
            fn validate(&self) -> ::core::result::Result<(), $error>;

            /// Validates and wraps the params so they can be used to fit.
            fn check(self) -> ::core::result::Result<Checked<Self>, $error> {
                self.validate()?;
                ::core::result::Result::Ok(Checked(self))
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

        impl<P> ::core::ops::Deref for Checked<P> {
            type Target = P;
            fn deref(&self) -> &P {
                &self.0
            }
        }
    };
}

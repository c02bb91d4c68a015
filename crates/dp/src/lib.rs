//! Central differential privacy for Tessera: noisy aggregate releases under a budget.
//!
//! A purpose declares a budget (`dp: { budget: { rho: 0.5, per: 30d } }`); a consumer that
//! holds it may run releases — counts, sums, means and histograms over a source or a
//! feature view — until the period's budget is spent:
//!
//! ```text
//!  authorize (consumer holds the purpose; the purpose has a budget)
//!     → plan (sensitivity from max_rows and [lo, hi]; noise calibrated, rounded up)
//!     → early budget check (refuse before reading anything)
//!     → scan (DataFusion; lookup join, filter, time range, erased entities dropped)
//!     → bound (≤ max_rows rows per entity, keyed-hash sample; values clipped, scaled)
//!     → aggregate + integer noise (exact discrete Gaussian / Laplace samplers)
//!     → charge (locked, appended, fsync'd) → answer (noisy values, variance, cost, budget)
//! ```
//!
//! The samplers ([`sample`]) use integer arithmetic only (Canonne, Kamath & Steinke 2020),
//! driven by a [`sample::UniformSource`]: [`sample::ChaChaSource::from_os`] in production.
//! The accountant ([`Accountant`]) keeps a crash-safe journal under `.tessera/dp/`. See
//! `docs/DIFFERENTIAL_PRIVACY.md`.
//!
//! # Example
//! ```
//! use tessera_dp::sample::{ChaChaSource, DiscreteGaussian, Rational};
//! let g = DiscreteGaussian::new(Rational::new(100, 1)?)?; // σ² = 100
//! let mut rng = ChaChaSource::seeded(7); // tests only; releases use ChaChaSource::from_os()
//! let x: i64 = g.sample(&mut rng);
//! assert!(x.abs() < 100);
//! # Ok::<(), tessera_dp::Error>(())
//! ```

#[cfg(feature = "releases")]
mod accountant;
#[cfg(feature = "releases")]
mod bounding;
#[cfg(feature = "releases")]
mod budget;
mod error;
#[cfg(feature = "releases")]
mod noise;
#[cfg(feature = "releases")]
mod plan;
#[cfg(feature = "releases")]
mod release;
pub mod sample;
#[cfg(feature = "releases")]
mod scan;

#[cfg(feature = "releases")]
pub use accountant::{Accountant, BudgetStatus, JournalLine, BUDGET_JOURNAL};
#[cfg(feature = "releases")]
pub use bounding::{bound_rows, Row, Scaling};
#[cfg(feature = "releases")]
pub use budget::{Budget, Cost};
pub use error::{Error, Result};
#[cfg(feature = "releases")]
pub use noise::{Noise, NoiseInfo};
#[cfg(feature = "releases")]
pub use plan::{GroupKey, GroupValue, Groups, Plan};
#[cfg(feature = "releases")]
pub use release::{
    authorize, run_release, Bounds, BudgetSummary, NoiseSummary, ReleaseAnswer, ReleaseContext,
    ReleaseRequest,
};
#[cfg(feature = "releases")]
pub use scan::TimeRange;

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

mod accountant;
mod bounding;
mod budget;
mod error;
mod noise;
mod plan;
mod release;
pub mod sample;
mod scan;

pub use accountant::{Accountant, BudgetStatus, JournalLine, BUDGET_JOURNAL};
pub use bounding::{bound_rows, Row, Scaling};
pub use budget::{Budget, Cost};
pub use error::{Error, Result};
pub use noise::{Noise, NoiseInfo};
pub use plan::{GroupValue, Groups, Plan};
pub use release::{
    authorize, run_release, Bounds, BudgetSummary, NoiseSummary, ReleaseAnswer, ReleaseContext,
    ReleaseRequest,
};
pub use scan::TimeRange;

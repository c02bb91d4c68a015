//! Local differential privacy: reports a device randomises before they leave it.
//!
//! This crate implements Apple's Count-Mean-Sketch (CMS) and Hadamard
//! Count-Mean-Sketch (HCMS) ("Learning with Privacy at Scale", Apple, 2017):
//!
//! - the **device** side, [`Randomiser`]: a value in, one privatised [`Report`]
//!   out (CMS: m randomised ±1 bits and a row index; HCMS: one bit, a row and a
//!   Hadamard coefficient), with a fresh OS-seeded CSPRNG ([`os_rng`]) in
//!   production; and the device's own budget, [`CapLedger`] against an
//!   [`EpsilonCap`];
//! - the **wire** format, [`wire`]: a compact binary batch (a CMS report is m bits
//!   and 2 bytes);
//! - the **server** side: the [`Sketch`] that accumulates reports (integer counts:
//!   mergeable, exact, serialisable; [`SketchFile`] persists it crash-safely) and
//!   the unbiased [`Estimator`] with the closed-form [`variance`];
//! - the **simulator**, [`Simulation`], which runs the same randomiser and sketch
//!   over a synthetic population.
//!
//! It depends only on `sha2` (the hash family), `rand_core`/`rand_chacha` (the
//! randomness) and `thiserror`, so it runs on devices.
//!
//! ```
//! use tessera_ldp::*;
//!
//! let params = LdpParams::new(Mechanism::Cms, 4.0, 16, 256)?;
//! let device = Randomiser::new(params, b"genre_plays");
//! let mut sketch = Sketch::new(params);
//! let mut rng = seeded_rng(7, 0); // a device uses os_rng()?
//! for i in 0..20_000 {
//!     let genre: &[u8] = if i % 4 == 0 { b"jazz" } else { b"rock" };
//!     sketch.add(&device.randomise(genre, &mut rng))?;
//! }
//! let estimator = Estimator::new(&sketch, b"genre_plays");
//! let jazz = estimator.frequency(b"jazz"); // about 5 000
//! assert!((jazz - 5_000.0).abs() < 1_500.0);
//! # Ok::<(), tessera_ldp::Error>(())
//! ```
//!
//! The derivation of the estimator and its variance, and how to choose ε, k and m,
//! are in `docs/LOCAL_DP.md`.

mod epsilon_cap;
mod error;
mod estimator;
mod hash_family;
mod params;
mod randomiser;
mod report;
mod simulate;
mod sketch;
mod sketch_file;
pub mod wire;

pub use epsilon_cap::{CapLedger, EpsilonCap};
pub use error::{Error, Result};
pub use estimator::{variance, Estimate, Estimator};
pub use hash_family::HashFamily;
pub use params::{FlipProbability, LdpParams, Mechanism, MAX_DIMENSION, MAX_EPSILON};
pub use randomiser::{os_rng, seeded_rng, Randomiser};
pub use report::{CmsReport, HcmsReport, Report};
pub use simulate::{zipf_weights, SimulatedValue, Simulation, SimulationOutcome};
pub use sketch::Sketch;
pub use sketch_file::SketchFile;

/// Re-exported so callers can name the generator traits without a dependency of their own.
pub use rand_core::{CryptoRng, RngCore};

//! Exact samplers from integer arithmetic (Canonne, Kamath & Steinke 2020, "The Discrete
//! Gaussian for Differential Privacy"): no floating point between the uniform integers a
//! [`UniformSource`] gives and the noise a release adds.

mod bernoulli;
mod gaussian;
mod laplace;
mod rational;
mod uniform;

pub use bernoulli::{bernoulli, bernoulli_exp};
pub use gaussian::{DiscreteGaussian, MAX_SIGMA2_NUM};
pub use laplace::{DiscreteLaplace, MAX_LAPLACE_PART};
pub use rational::Rational;
pub use uniform::{ChaChaSource, UniformSource};

//! descent: a small, fast, teachable reverse-mode autodiff engine with a
//! linear-regression front end. This crate re-exports the engine ([`tape`]) and the
//! model layer ([`model`]).

pub use model;
pub use tape;

pub mod cli;

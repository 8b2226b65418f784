//! Hyperparameter optimisation for Anneal — not implemented yet.
//!
//! This crate will own search spaces (float, int, categorical, conditional),
//! samplers (grid, random, Sobol, TPE, Gaussian-process Bayesian optimisation),
//! early stopping of bad trials (median pruner, successive halving, Hyperband,
//! ASHA) and trial storage (in-memory, SQLite, PostgreSQL) that never loses a
//! finished trial. It depends on `anneal-train` through traits, not on concrete
//! models. It has no public API yet.

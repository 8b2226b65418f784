//! Distributed training for Anneal — not implemented yet.
//!
//! This crate will own data-parallel training (gradient all-reduce through the
//! training loop's gradient hook) and model-parallel training, across threads,
//! processes and machines. burn 0.22.1's own collectives run only on CUDA, so the
//! cross-process engine will be ours. It has no public API yet.

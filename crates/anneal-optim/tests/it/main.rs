//! Integration tests of anneal-optim's public API.

mod common;
mod config;
mod fused;
mod golden;
mod grads;
mod hypergradient;
mod schedule;
mod state;

//! Integration tests of anneal-hpo's public API.

mod pruning;
mod samplers;
mod spaces;
mod storage;
mod study;

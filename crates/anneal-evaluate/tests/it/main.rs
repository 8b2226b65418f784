//! Integration tests of the public API: values against scikit-learn's (produced by
//! `tests/golden.py`, committed as `tests/it/golden.json`), typed errors, streaming
//! against one-shot, and properties (proptest).

mod classification;
mod errors;
mod golden;
mod properties;
mod ranking;
mod regression;
mod streaming;

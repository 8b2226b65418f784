//! Integration tests of the public API: values against scikit-learn's (produced by
//! `tests/golden.py`, committed as `tests/it/golden.json`), typed errors, streaming
//! against one-shot, and properties (proptest); cross-validation, learning curves,
//! the bias/variance verdict and figures.

mod classification;
mod curve;
mod cv;
mod errors;
mod golden;
mod plot;
mod properties;
mod ranking;
mod regression;
mod streaming;

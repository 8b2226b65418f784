//! Integration tests of anneal-hpo.

//! Integration tests of anneal-rl: environments against Gymnasium, losses
//! against PyTorch, agents against the optimum, runs against themselves.

mod agents;
mod envs;
mod golden;
mod rlhf;

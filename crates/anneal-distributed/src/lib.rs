//! Data-parallel and pipeline model-parallel training for Anneal.
//!
//! Data parallelism divides each global batch across replicas of the model;
//! each replica runs forward and backward on its part, the gradients are
//! averaged across replicas (an all-reduce), and every replica takes the same
//! optimiser step, so the replicas stay identical and together equal one
//! model trained on the global batch.
//!
//! The pieces are those of Anneal's one training loop
//! ([`Trainer`](anneal_train::Trainer)):
//!
//! - a [`Collective`] (all-reduce, broadcast, barrier) between replicas;
//!   [`ThreadCollective`] for replicas on threads of one process;
//! - [`Sharded`](anneal_data::Sharded), the sampler that gives each replica its
//!   part of every global batch;
//! - [`GradientSync`], the [`TrainHook`](anneal_train::TrainHook) that
//!   all-reduces gradients before every update and agrees on each epoch's record;
//! - [`ThreadReplicas`], which runs one replica per thread, each with its own
//!   compute pool, and reports the failure that caused the others;
//! - with the `mpi` feature, `MpiCollective`: replicas in separate processes on
//!   one machine or many, through MPI (`mpirun`).
//!
//! Pipeline model parallelism ([`pipeline`]) cuts the model itself into
//! stages of consecutive layers ([`anneal_models::pipeline`]), one per rank of
//! a collective, and runs each batch through them as micro-batches (GPipe);
//! [`scaling`] models how both kinds scale on a cluster from measured
//! message costs.
//!
//! ```
//! use anneal_data::dataset::ShuffledBatches;
//! use anneal_data::{ClassificationData, LastBatch, Sharded};
//! use anneal_distributed::{GradientSync, ThreadReplicas};
//! use anneal_models::{ActivationKind, MlpConfig};
//! use anneal_optim::OptimizerConfig;
//! use anneal_train::{Progress, TrainConfig, Trainer};
//! use burn::prelude::Device;
//!
//! // Two replicas at 16 rows each: one model trained on global batches of 32.
//! let features: Vec<f32> = (0..128).map(|i| ((i * 7) % 11) as f32 / 11.0).collect();
//! let classes: Vec<usize> = (0..64).map(|i| i % 2).collect();
//! let data = ClassificationData::new(features, 2, classes)?;
//! let config = TrainConfig::new(2, 32);
//! let fitted = ThreadReplicas::new(2).run(|collective| {
//!     let (rank, world) = (anneal_distributed::Collective::rank(&collective), 2);
//!     let sampler = Sharded::new(ShuffledBatches { batch_size: 32, seed: 0, last: LastBatch::Keep }, rank, world)?;
//!     let model = MlpConfig { input: 2, hidden: vec![8], output: 2, activation: ActivationKind::Relu, dropout: 0.0, layer_dropout: vec![] }
//!         .init(0, &Device::flex().autodiff())?;
//!     let mut optimizer = OptimizerConfig::adam(0.01).init()?;
//!     let mut sync = GradientSync::new(collective);
//!     let fitted = Trainer::new(config.clone(), Device::flex())
//!         .with_progress(Progress::Silent)
//!         .with_sampler(sampler)
//!         .with_hook(&mut sync)
//!         .fit(model, &mut optimizer, &data, None)?;
//!     sync.into_collective().finish();
//!     Ok(fitted.history.iter().map(|e| e.train_loss).collect::<Vec<_>>())
//! })?;
//! // Both replicas recorded the same epochs: training loss over all 64 rows.
//! assert_eq!(fitted[0], fitted[1]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod collective;
pub mod error;
#[cfg(feature = "mpi")]
pub mod mpi_collective;
pub mod pipeline;
pub mod replicas;
pub mod scaling;
pub mod sync;

pub use collective::{Collective, ThreadCollective, ThreadGroup};
pub use error::{DistError, Result};
#[cfg(feature = "mpi")]
pub use mpi_collective::MpiCollective;
pub use pipeline::{GPipe, PipelineConfig, StageStats, fit_stage};
pub use replicas::ThreadReplicas;
pub use sync::{DEFAULT_BUCKET_VALUES, GradientSync, SyncStats, all_gather_f64};

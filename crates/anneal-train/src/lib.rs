//! The training loop that ties Anneal's crates together.
//!
//! [`Trainer::fit`] trains any [`Model`](anneal_models::Model) on any
//! [`Dataset`](anneal_data::Dataset) whose batches it reads, towards an
//! [`Objective`] of named loss terms ([`Loss`]: cross-entropy, MSE, MAE, Huber,
//! Poisson), recording [`Metric`]s by name every epoch. It runs epochs of
//! batches chosen by a [`BatchSampler`](anneal_data::BatchSampler) (seeded
//! shuffles by default) through one explicit step ([`Stepper`]): forward → loss → backward → gradients →
//! accumulation → L1/L2 penalties → [`TrainHook::after_backward`] → clipping →
//! optimiser step. A learning-rate schedule steps per epoch or per update; the
//! loop validates every epoch, stops early on a monitored metric, keeps a
//! per-epoch history ([`history`]: JSON lines, CSV, PNG/SVG curves), writes
//! [checkpoints](checkpoint) that resume bit for bit, stops with
//! [`TrainError::Diverged`] on a non-finite loss and estimates the run's energy
//! ([`energy`]). [`lr_find()`] is the learning-rate range test. The [`Backend`] is
//! chosen at run time; models never name one.
//!
//! See [`Trainer`] for a runnable example.

pub mod augment;
pub mod backend;
pub mod checkpoint;
pub mod energy;
pub mod error;
pub mod history;
pub mod lr_find;
pub mod metric;
pub mod multitask;
pub mod objective;
pub mod params;
/// Line charts (training curves, the LR range test): `anneal-evaluate`'s chart
/// module, the workspace's one plot module.
pub use anneal_evaluate::chart as plot;
pub mod step;
pub mod surgery;
pub mod trainer;

pub use augment::{AudioRowsAugment, ImageRowsAugment, RowsAugment, TextRowsAugment};
pub use backend::Backend;
pub use checkpoint::Checkpoint;
pub use energy::{EnergyMeter, EnergyModel, EnergyReport, EnergySource};
pub use error::TrainError;
pub use history::HistoryWriter;
pub use lr_find::{LrFindConfig, LrFindResult, lr_find};
pub use metric::{BuiltinMetric, Metric, TaskMetric};
pub use multitask::{MultiTask, TaskSpec, TaskWeighting};
pub use objective::{Distillation, Loss, LossTerm, Objective, TeacherTargets, WeightedCrossEntropy};
pub use params::{LayerNorms, ParamGroupConfig, ParamGroups, ParamInfo, ParamLayout, Penalties};
pub use step::{StepOutput, Stepper, train_step};
pub use surgery::{GradientSurgery, GradientSurgeryConfig, SurgeryMethod, SurgeryReport};
pub use trainer::{
    Accounting, EpochRecord, Evaluation, Fitted, Progress, ScheduleSettings, StepInfo, TrainConfig, TrainHook, Trainer,
    check_monitor, default_objective, evaluate, has_checkpoint, row_losses,
};

/// One `use` for the common types.
pub mod prelude {
    pub use crate::backend::Backend;
    pub use crate::error::TrainError;
    pub use crate::metric::{BuiltinMetric, Metric};
    pub use crate::objective::{Loss, Objective};
    pub use crate::trainer::{Progress, TrainConfig, TrainHook, Trainer};
}

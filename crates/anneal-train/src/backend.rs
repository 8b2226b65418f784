//! Run-time choice of the compute backend: `ndarray`, `flex` (CPU) or `wgpu` (GPU).

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;
// Named only for its `x86-v4` feature (AVX-512 matrix kernels in the flex backend).
use burn_flex as _;

use crate::error::TrainError;

/// A compute backend, chosen at run time. Models and the training loop never name
/// one: they run on whatever [`Device`] this gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// burn's ndarray CPU backend (deprecated by burn in favour of flex).
    Ndarray,
    /// burn's flex CPU backend: the default, measured fastest on CPU (ARCHITECTURE.md).
    Flex,
    /// burn's wgpu GPU backend (Vulkan, Metal, DX12; Mesa lavapipe without a GPU).
    /// Needs the `wgpu` cargo feature.
    Wgpu,
    /// burn's CUDA backend (NVIDIA GPUs). Needs the `cuda` cargo feature; not part
    /// of the default or CI builds.
    Cuda,
}

impl Backend {
    /// The default CPU backend.
    pub const DEFAULT: Backend = Backend::Flex;

    /// The backends compiled into this build.
    pub fn compiled() -> Vec<Backend> {
        let mut all = vec![Backend::Ndarray, Backend::Flex];
        if cfg!(feature = "wgpu") {
            all.push(Backend::Wgpu);
        }
        if cfg!(feature = "cuda") {
            all.push(Backend::Cuda);
        }
        all
    }

    /// Whether the backend computes on the CPU (its tensors' data is in main memory).
    pub fn is_cpu(self) -> bool {
        matches!(self, Backend::Ndarray | Backend::Flex)
    }

    /// The backend's name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Ndarray => "ndarray",
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// Resolves the backend: an explicit choice wins, then the `BURN_DEVICE`
    /// environment variable, then [`Backend::DEFAULT`].
    pub fn resolve(explicit: Option<&str>) -> Result<Backend, TrainError> {
        match explicit {
            Some(name) => name.parse(),
            None => match std::env::var("BURN_DEVICE") {
                Ok(name) if !name.trim().is_empty() => name.parse(),
                _ => Ok(Backend::DEFAULT),
            },
        }
    }

    /// A device of this backend, without autodiff (for inference).
    ///
    /// Fails if the backend is not compiled in, or (wgpu) no adapter can be started.
    pub fn device(self) -> Result<Device, TrainError> {
        match self {
            #[allow(deprecated)] // ndarray is deprecated in burn 0.22 but still supported here.
            Backend::Ndarray => Ok(Device::ndarray()),
            Backend::Flex => Ok(Device::flex()),
            Backend::Wgpu => wgpu_device(),
            Backend::Cuda => cuda_device(),
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device, TrainError> {
    use burn::tensor::DeviceKind;
    let device = Device::wgpu(DeviceKind::DefaultDevice);
    // burn starts the adapter lazily and panics if there is none: probe it once,
    // here, so a missing GPU or Vulkan driver is an error and not a crash later.
    let probe = device.clone();
    let started = std::panic::catch_unwind(move || {
        Tensor::<1>::zeros([1], &probe).into_data().try_to_vec::<f32>().map(|v| v.len())
    });
    match started {
        Ok(Ok(1)) => Ok(device),
        Ok(other) => {
            Err(TrainError::BackendUnavailable { name: "wgpu", reason: format!("test read failed: {other:?}") })
        }
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the adapter failed to start".into());
            Err(TrainError::BackendUnavailable {
                name: "wgpu",
                reason: format!(
                    "{reason} (without a GPU, install Mesa's software Vulkan driver: apt-get install mesa-vulkan-drivers)"
                ),
            })
        }
    }
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device, TrainError> {
    Err(TrainError::BackendNotCompiled { name: "wgpu", feature: "wgpu" })
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device, TrainError> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device, TrainError> {
    Err(TrainError::BackendNotCompiled { name: "cuda", feature: "cuda" })
}

impl FromStr for Backend {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ndarray" => Ok(Backend::Ndarray),
            "flex" => Ok(Backend::Flex),
            "wgpu" => Ok(Backend::Wgpu),
            "cuda" => Ok(Backend::Cuda),
            _ => Err(TrainError::UnknownBackend { name: s.to_string() }),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

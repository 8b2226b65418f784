//! Floats in checkpoints as their bit patterns: JSON text parsed back by
//! `serde_json` (without its `float_roundtrip` feature) can land one ulp off,
//! and a resumed run must continue bit for bit.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One `f64`.
pub(crate) mod f64_one {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        v.to_bits().serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        u64::deserialize(d).map(f64::from_bits)
    }
}

/// A vector of `f64`.
pub(crate) mod f64_vec {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>().serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Vec::<u64>::deserialize(d).map(|v| v.into_iter().map(f64::from_bits).collect())
    }
}

/// A vector of `f32`.
pub(crate) mod f32_vec {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
        v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>().serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        Vec::<u32>::deserialize(d).map(|v| v.into_iter().map(f32::from_bits).collect())
    }
}

/// An optional state of four `f64`.
pub(crate) mod f64x4_opt {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &Option<[f64; 4]>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|a| a.map(f64::to_bits)).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[f64; 4]>, D::Error> {
        Option::<[u64; 4]>::deserialize(d).map(|v| v.map(|a| a.map(f64::from_bits)))
    }
}

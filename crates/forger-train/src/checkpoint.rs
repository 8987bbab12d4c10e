//! forger's one checkpoint format: a single safetensors file holding named
//! groups of tensors (`model.*`, `optim.*`, or `g.*`, `d.*`, ... for a GAN)
//! and a JSON document in the header metadata (step, history, config).
//! Written atomically, so a crash leaves the previous checkpoint intact;
//! the header carries a checksum of every tensor and of the metadata,
//! verified when it is read.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::atomic::write_atomic;
use crate::checksum::{add_checksums, verify_checksums};
use crate::optim::Optimizer;
use crate::{Result, TrainError};

const META_KEY: &str = "forger";

/// A checkpoint being assembled for writing.
#[derive(Default)]
pub struct CheckpointWriter {
    tensors: HashMap<String, Tensor>,
}

impl CheckpointWriter {
    /// An empty checkpoint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the variables of `varmap` under `group.`.
    pub fn vars(mut self, group: &str, varmap: &VarMap) -> Self {
        let data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        for (name, var) in data.iter() {
            self.tensors
                .insert(format!("{group}.{name}"), var.as_tensor().clone());
        }
        self
    }

    /// Adds named tensors under `group.`.
    pub fn tensors(mut self, group: &str, tensors: &HashMap<String, Tensor>) -> Self {
        for (name, t) in tensors {
            self.tensors.insert(format!("{group}.{name}"), t.clone());
        }
        self
    }

    /// Adds an optimizer's state under `group.`; its step count goes into the
    /// metadata under `group`.
    pub fn optimizer(mut self, group: &str, optimizer: &Optimizer) -> Self {
        let (state, steps) = optimizer.state();
        for (name, t) in state {
            self.tensors.insert(format!("{group}.{name}"), t);
        }
        let steps = Tensor::new(&[steps as f64], &Device::Cpu).expect("a one-element CPU tensor");
        self.tensors.insert(format!("{group}.__steps"), steps);
        self
    }

    /// Writes the tensors and `meta` (as JSON) to `path`, atomically.
    pub fn write<M: Serialize>(self, path: &Path, meta: &M) -> Result<()> {
        let json =
            serde_json::to_string(meta).map_err(|e| TrainError::file(path, e.to_string()))?;
        let mut names: Vec<&String> = self.tensors.keys().collect();
        names.sort();
        let cpu: Vec<(String, Tensor)> = names
            .into_iter()
            .map(|n| Ok((n.clone(), self.tensors[n].to_device(&Device::Cpu)?)))
            .collect::<candle_core::Result<_>>()?;
        let mut info = HashMap::from([(META_KEY.to_string(), json)]);
        add_checksums(&cpu, &mut info);
        let bytes = safetensors::serialize(cpu, Some(info))
            .map_err(|e| TrainError::file(path, format!("cannot serialise checkpoint: {e}")))?;
        Ok(write_atomic(path, &bytes)?)
    }
}

/// A checkpoint read back from disk.
pub struct Checkpoint {
    path: std::path::PathBuf,
    tensors: HashMap<String, Tensor>,
    meta: String,
}

impl Checkpoint {
    /// Reads a checkpoint written by [`CheckpointWriter::write`].
    pub fn read(path: &Path, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
        let corrupt = |e: String| TrainError::file(path, format!("not a forger checkpoint: {e}"));
        let (_, header) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let meta = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .cloned()
            .ok_or_else(|| corrupt("no forger metadata".into()))?;
        verify_checksums(path, &bytes)?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, device)
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            meta,
        })
    }

    /// The metadata document.
    pub fn meta<M: DeserializeOwned>(&self) -> Result<M> {
        serde_json::from_str(&self.meta)
            .map_err(|e| TrainError::file(&self.path, format!("checkpoint metadata: {e}")))
    }

    /// The tensors of `group`, with the group prefix removed.
    pub fn group(&self, group: &str) -> HashMap<String, Tensor> {
        let prefix = format!("{group}.");
        self.tensors
            .iter()
            .filter_map(|(k, t)| k.strip_prefix(&prefix).map(|n| (n.to_string(), t.clone())))
            .collect()
    }

    /// Sets every variable of `varmap` from `group`; all must be present with
    /// the right shapes.
    pub fn restore_vars(&self, group: &str, varmap: &VarMap) -> Result<()> {
        let saved = self.group(group);
        let data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        for (name, var) in data.iter() {
            let t = saved.get(name).ok_or_else(|| {
                TrainError::file(&self.path, format!("no weight `{group}.{name}`"))
            })?;
            if t.shape() != var.shape() {
                return Err(TrainError::file(
                    &self.path,
                    format!(
                        "weight `{group}.{name}` has shape {:?}, the model {:?}",
                        t.shape(),
                        var.shape()
                    ),
                ));
            }
            var.set(t)?;
        }
        Ok(())
    }

    /// Restores an optimizer saved with [`CheckpointWriter::optimizer`].
    pub fn restore_optimizer(&self, group: &str, optimizer: &mut Optimizer) -> Result<()> {
        let state = self.group(group);
        let missing = || TrainError::file(&self.path, format!("no optimizer state `{group}`"));
        let steps = *state
            .get("__steps")
            .ok_or_else(missing)?
            .to_vec1::<f64>()?
            .first()
            .ok_or_else(missing)? as u64;
        optimizer
            .load_state(&state, steps)
            .map_err(|e| TrainError::file(&self.path, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{named_vars, OptimizerConfig};
    use candle_core::DType;

    #[test]
    fn round_trip_of_vars_optimizer_and_meta() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.safetensors");
        let vm = VarMap::new();
        let w = vm
            .get(
                (2, 2),
                "w",
                candle_nn::Init::Const(0.5),
                DType::F32,
                &Device::Cpu,
            )
            .unwrap();
        let mut opt = OptimizerConfig::adam(0.1).build(named_vars(&vm)).unwrap();
        opt.backward_step(&w.sqr().unwrap().sum_all().unwrap())
            .unwrap();
        CheckpointWriter::new()
            .vars("model", &vm)
            .optimizer("optim", &opt)
            .write(&path, &serde_json::json!({"step": 7}))
            .unwrap();

        let vm2 = VarMap::new();
        vm2.get(
            (2, 2),
            "w",
            candle_nn::Init::Const(0.0),
            DType::F32,
            &Device::Cpu,
        )
        .unwrap();
        let mut opt2 = OptimizerConfig::adam(0.1).build(named_vars(&vm2)).unwrap();
        let ck = Checkpoint::read(&path, &Device::Cpu).unwrap();
        ck.restore_vars("model", &vm2).unwrap();
        ck.restore_optimizer("optim", &mut opt2).unwrap();
        assert_eq!(opt2.steps(), 1);
        assert_eq!(ck.meta::<serde_json::Value>().unwrap()["step"], 7);
        let a = named_vars(&vm)[0]
            .1
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let b = named_vars(&vm2)[0]
            .1
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn garbage_and_mismatched_models_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.safetensors");
        std::fs::write(&path, b"not a checkpoint").unwrap();
        let err = Checkpoint::read(&path, &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("bad.safetensors") && err.contains("not a forger checkpoint"),
            "{err}"
        );

        let vm = VarMap::new();
        vm.get(
            3,
            "w",
            candle_nn::Init::Const(0.0),
            DType::F32,
            &Device::Cpu,
        )
        .unwrap();
        CheckpointWriter::new()
            .vars("model", &vm)
            .write(&path, &0)
            .unwrap();
        let other = VarMap::new();
        other
            .get(
                4,
                "w",
                candle_nn::Init::Const(0.0),
                DType::F32,
                &Device::Cpu,
            )
            .unwrap();
        let err = Checkpoint::read(&path, &Device::Cpu)
            .unwrap()
            .restore_vars("model", &other)
            .unwrap_err();
        assert!(err.to_string().contains("shape"), "{err}");
    }

    /// Issue 22, item 8: a flipped tensor byte (which resumed with a loss
    /// of 7.5e9) and an edited step (10^12) are refused, naming what broke.
    #[test]
    fn corrupt_tensors_and_edited_metadata_fail_their_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.safetensors");
        let vm = VarMap::new();
        vm.get(
            64,
            "w",
            candle_nn::Init::Const(0.25),
            DType::F32,
            &Device::Cpu,
        )
        .unwrap();
        CheckpointWriter::new()
            .vars("model", &vm)
            .write(&path, &serde_json::json!({"step": 700}))
            .unwrap();
        let good = std::fs::read(&path).unwrap();
        Checkpoint::read(&path, &Device::Cpu).unwrap();

        let mut flipped = good.clone();
        let at = flipped.len() - 10;
        flipped[at] ^= 0x7F;
        std::fs::write(&path, &flipped).unwrap();
        let err = Checkpoint::read(&path, &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("ck.safetensors")
                && err.contains("tensor `model.w` does not match its checksum"),
            "{err}"
        );

        let (from, to) = (br#"\"step\":700"#, br#"\"step\":999"#);
        let at = good.windows(from.len()).position(|w| w == from).unwrap();
        let mut edited = good.clone();
        edited[at..at + to.len()].copy_from_slice(to);
        std::fs::write(&path, &edited).unwrap();
        let err = Checkpoint::read(&path, &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("metadata `forger` does not match its checksum"),
            "{err}"
        );
    }
}

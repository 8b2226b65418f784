#!/usr/bin/env python3
"""Golden files for the weights interchange with PyTorch (crates/anneal/tests/it/weights.rs).

Two networks, each a plain `nn.Sequential` as PyTorch users write them:
  mnist: the reference CNN of examples/reference/cnn_train.py, Conv(1,32,3)-ReLU-MaxPool2-Conv(32,64,3)-ReLU-
         MaxPool2-Flatten-Linear(1600,128)-ReLU-Dropout(0.25)-Linear(128,10), on 1x28x28 inputs;
  bn:    Conv(1,4,3,padding=1,bias=False)-BatchNorm2d(4)-ReLU-AvgPool2-Flatten-Linear(64,3), on 1x8x8 inputs,
         its running statistics moved away from 0 / 1 by a few training-mode passes.

Step 1 (PyTorch -> Anneal), run once:
    python make_weights.py
  writes <name>.safetensors (and bn.pt) with the state dict, and <name>_io.json: 4 seeded inputs (flattened,
  channel-major) and PyTorch's logits in eval mode.  The Rust test loads the weights through `[model] init_from`
  with a remapping table and checks Anneal's logits against these within 1e-4.

Step 2 (Anneal -> PyTorch), after `ANNEAL_WRITE_GOLDEN=1 cargo test -p anneal --test it weights` wrote
<name>_anneal.safetensors (an Anneal model of seed 7 exported by `anneal_models::export_safetensors`):
    python make_weights.py --from-anneal
  loads each export into the PyTorch network (Anneal's keys mapped to the Sequential's indices) and writes
  PyTorch's logits on the same inputs to <name>_torch_from_anneal.json.  The Rust test exports the same seeded
  model again and checks its logits against these within 1e-4.

Made with torch 2.15.0 (CPU) and safetensors 0.8.0 on 2026-12-03.
"""
import argparse
import json
import os

import torch
from torch import nn
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))


def mnist():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1600, 128), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(128, 10),
    )


def bn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(64, 3),
    )


NETS = {"mnist": (mnist, [1, 28, 28]), "bn": (bn, [1, 8, 8])}
# Anneal's module paths -> the Sequential's indices.
FROM_ANNEAL = {
    "mnist": {"blocks.0.conv.": "0.", "blocks.1.conv.": "3.", "head.0.": "7.", "head.1.": "10."},
    "bn": {"blocks.0.conv.": "0.", "blocks.0.norm.": "1.", "head.0.": "5."},
}


def inputs(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand([4] + shape, generator=g)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)
    print("wrote", path)


def step1():
    for i, (name, (make, shape)) in enumerate(NETS.items()):
        torch.manual_seed(100 + i)
        model = make()
        if name == "bn":
            model.train()
            with torch.no_grad():
                for k in range(5):
                    model(inputs(shape, 50 + k) * 3.0 + 0.5)
        model.eval()
        x = inputs(shape, 200 + i)
        with torch.no_grad():
            logits = model(x)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, os.path.join(HERE, f"{name}.safetensors"))
        if name == "bn":  # the .pt reader is checked on the small network (the mnist one is 0.9 MB)
            torch.save(state, os.path.join(HERE, f"{name}.pt"))
        write_json(os.path.join(HERE, f"{name}_io.json"), {
            "shape": shape,
            "inputs": x.reshape(4, -1).tolist(),
            "logits": logits.tolist(),
        })


def step2():
    for name, (make, shape) in NETS.items():
        exported = load_file(os.path.join(HERE, f"{name}_anneal.safetensors"))
        state = {}
        for key, value in exported.items():
            for prefix, index in FROM_ANNEAL[name].items():
                if key.startswith(prefix):
                    state[index + key[len(prefix):]] = value
        model = make()
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        assert not missing and not unexpected, (missing, unexpected)
        model.eval()
        io = json.load(open(os.path.join(HERE, f"{name}_io.json")))
        x = torch.tensor(io["inputs"]).reshape([4] + shape)
        with torch.no_grad():
            logits = model(x)
        write_json(os.path.join(HERE, f"{name}_torch_from_anneal.json"), {"logits": logits.tolist()})


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--from-anneal", action="store_true")
    a = ap.parse_args()
    step2() if a.from_anneal else step1()

#!/usr/bin/env python3
"""The source network of examples/transfer_effect, trained in PyTorch.

Reads the CSV the example writes (label, 784 pixels 0..255, part = train/test),
trains the CNN of examples/configs/mnist_cnn.toml on its `train` rows (Adam 1e-3,
batch 64, 10 epochs, torch.manual_seed(0)) and saves its weights as
safetensors, named as Anneal names its CNN's parameters (blocks.0.conv.weight,
head.1.bias, ...) in PyTorch's layout ([out, in] linear weights): Anneal's
`[transfer] from = "<file>.safetensors"` reads them with no remapping.

    python pretrain_torch.py --data target/transfer_effect/source_0to4.csv --out torch_source.safetensors
"""
import argparse

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from torch import nn


class Block(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3)

    def forward(self, x):
        return nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)


class Cnn(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.blocks = nn.ModuleList([Block(1, 32), Block(32, 64)])
        self.head = nn.ModuleList([nn.Linear(1600, 128), nn.Linear(128, classes)])
        self.dropout = nn.Dropout(0.25)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        x = torch.flatten(x, 1)
        return self.head[1](self.dropout(torch.relu(self.head[0](x))))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=10)
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    df = pd.read_csv(a.data)
    train = df[df["part"] == "train"]
    test = df[df["part"] == "test"]

    def tensors(d):
        x = torch.tensor(d.drop(columns=["label", "part"]).to_numpy(np.float32) / 255.0).reshape(-1, 1, 28, 28)
        return x, torch.tensor(d["label"].to_numpy(np.int64))

    (x, y), (xt, yt) = tensors(train), tensors(test)
    classes = int(y.max()) + 1
    model = Cnn(classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(a.epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
    print(f"PyTorch source network: test accuracy {acc:.4f} on {len(xt)} images")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, a.out, metadata={"producer": "pytorch"})


if __name__ == "__main__":
    main()

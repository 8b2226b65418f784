"""Golden values of the distillation loss, made with PyTorch.

    python crates/anneal-train/tests/golden/make_distill_golden.py

writes distill_golden.json beside this script: random student and teacher
logits (seeded), class labels, and for each (temperature, alpha) the soft term
`kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") * T**2`, the
hard cross-entropy and the combined `alpha * soft + (1 - alpha) * hard`, as
PyTorch computes them (float64, then compared in float32 by the Rust test).
"""

import json
from pathlib import Path

import torch
import torch.nn.functional as F

torch.manual_seed(2015)
rows, classes = 7, 5
student = torch.randn(rows, classes, dtype=torch.float64) * 3
teacher = torch.randn(rows, classes, dtype=torch.float64) * 4
labels = torch.randint(0, classes, (rows,))

cases = []
for temperature in [1.0, 2.0, 4.0, 20.0]:
    for alpha in [0.0, 0.5, 0.9, 1.0]:
        soft = F.kl_div(
            F.log_softmax(student / temperature, dim=1),
            F.softmax(teacher / temperature, dim=1),
            reduction="batchmean",
        ) * temperature**2
        hard = F.cross_entropy(student, labels)
        cases.append(
            {
                "temperature": temperature,
                "alpha": alpha,
                "soft": soft.item(),
                "hard": hard.item(),
                "total": (alpha * soft + (1 - alpha) * hard).item(),
            }
        )

out = {
    "torch": torch.__version__,
    "student": student.tolist(),
    "teacher": teacher.tolist(),
    "labels": labels.tolist(),
    "cases": cases,
}
Path(__file__).with_name("distill_golden.json").write_text(json.dumps(out, indent=1) + "\n")

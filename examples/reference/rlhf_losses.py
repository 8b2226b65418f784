"""Golden values for anneal-rl's preference losses (crates/anneal-rl/src/rlhf/objectives.rs).

Bradley-Terry reward-model loss (InstructGPT, Ouyang et al. 2022, eq. 1):
    -mean(logsigmoid(r_chosen - r_rejected))
DPO loss (Rafailov et al. 2023, eq. 7), as TRL's DPOTrainer with loss_type "sigmoid":
    -mean(logsigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))))
with pi_* and ref_* the summed log-probabilities of each completion under the
policy and the frozen reference model. Also the gradients of both with respect to
their inputs. Run: python examples/reference/rlhf_losses.py (torch 2.x).
"""
import torch
import torch.nn.functional as F

torch.set_printoptions(precision=10)
r_c = torch.tensor([1.5, -0.25, 0.0, 3.0, -2.0], dtype=torch.float64, requires_grad=True)
r_r = torch.tensor([0.5, 0.75, 0.0, -1.0, -2.5], dtype=torch.float64, requires_grad=True)
bt = -F.logsigmoid(r_c - r_r).mean()
bt.backward()
print("bradley_terry", f"{bt.item():.10f}")
print("bradley_terry_grad_chosen", [f"{g:.10f}" for g in r_c.grad.tolist()])

pi_c = torch.tensor([-12.0, -30.5, -8.25, -20.0], dtype=torch.float64, requires_grad=True)
pi_r = torch.tensor([-14.0, -28.0, -9.0, -15.5], dtype=torch.float64, requires_grad=True)
ref_c = torch.tensor([-13.0, -29.0, -8.0, -22.0], dtype=torch.float64)
ref_r = torch.tensor([-13.5, -29.5, -8.5, -16.0], dtype=torch.float64)
for beta in [0.1, 0.5]:
    pi_c.grad = None
    logits = beta * ((pi_c - ref_c) - (pi_r - ref_r))
    dpo = -F.logsigmoid(logits).mean()
    dpo.backward()
    print(f"dpo_beta_{beta}", f"{dpo.item():.10f}")
    print(f"dpo_beta_{beta}_grad_chosen", [f"{g:.10f}" for g in pi_c.grad.tolist()])

"""Golden values for RL losses / estimators, mirroring stable-baselines3, in float64.

Inputs are drawn with numpy (np.random.default_rng, fixed seeds below) and are
stored in the JSON next to every output, so a test never has to reproduce
numpy's RNG. Everything is computed with float64 torch tensors (SB3 itself
runs float32; see the "note" fields).

  ppo    SB3 PPO.train() (stable_baselines3/ppo/ppo.py) on one minibatch of N=16:
           log_ratio = new_log_prob - old_log_prob;  ratio = exp(log_ratio)
           adv_n = (adv - adv.mean()) / (adv.std() + 1e-8)   (torch std: unbiased, N-1)
           policy_loss = -mean(min(adv_n*ratio, adv_n*clamp(ratio, 1-c, 1+c)))
           clip_fraction = mean(|ratio - 1| > c)
           value_loss = F.mse_loss(returns, values)          (clip_range_vf=None)
           entropy = Categorical(logits).entropy();  entropy_loss = -mean(entropy)
           loss = policy_loss + ent_coef*entropy_loss + vf_coef*value_loss
           approx_kl = mean((exp(log_ratio) - 1) - log_ratio)
         new_log_prob = log_softmax(logits)[action] (the policy's log-prob of the
         taken action); old_log_prob is an independent input. Gradients of
         `loss` w.r.t. logits and values are included.
         case "normalized_clip0.2": normalize_advantage=True,  c=0.2, ent_coef=0.0, vf_coef=0.5
         case "raw_clip0.1":        normalize_advantage=False, c=0.1, ent_coef=0.01, vf_coef=0.5
  gae    SB3 RolloutBuffer.compute_returns_and_advantage (common/buffers.py),
         n_steps=6, n_envs=2, gamma=0.98, gae_lambda=0.8, written out in numpy
         float64 and cross-checked against SB3's own RolloutBuffer (float32).
  dqn    SB3 DQN.train() (dqn/dqn.py) target and loss, N=8, 3 actions,
         gamma=0.99, plus the double-DQN target (van Hasselt et al. 2016; not in SB3).
  bandit UCB1 regret upper bound (Auer, Cesa-Bianchi & Fischer 2002, Thm 1)
         and the Lai-Robbins constant for Bernoulli arms.

Regenerate from the repository root (recorded with torch 2.15.0,
numpy 2.4.6, stable-baselines3 2.9.2, gymnasium 1.4.0, Python 3.11.7):

    /work/refvenv/bin/python examples/reference/rl_losses.py

Writes crates/anneal-rl/tests/golden/rl_losses.json.
"""
import json
import math
import platform
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "crates" / "anneal-rl" / "tests" / "golden" / "rl_losses.json"
DT = torch.float64


def L(t):
    """Tensor / array / scalar -> nested Python floats (or ints / bools)."""
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    if isinstance(t, np.ndarray):
        if t.dtype == np.bool_:
            return t.tolist()
        if np.issubdtype(t.dtype, np.integer):
            return t.astype(int).tolist()
        return t.astype(np.float64).tolist()
    return t


# ----------------------------------------------------------------------------- PPO
def ppo_case(name, seed, normalize_advantage, clip_range, ent_coef, vf_coef, n=16):
    rng = np.random.default_rng(seed)
    logits_np = rng.normal(0.0, 1.0, size=(n, 2))
    actions_np = rng.integers(0, 2, size=n)
    advantages_np = rng.normal(0.5, 2.0, size=n)
    values_np = rng.normal(0.0, 1.0, size=n)
    returns_np = values_np + rng.normal(0.0, 1.0, size=n)

    logits = torch.tensor(logits_np, dtype=DT, requires_grad=True)
    values = torch.tensor(values_np, dtype=DT, requires_grad=True)
    actions = torch.tensor(actions_np, dtype=torch.long)
    dist = torch.distributions.Categorical(logits=logits)
    new_log_prob = dist.log_prob(actions)
    # old policy: the new log-prob perturbed, so some ratios fall outside [1-c, 1+c]
    old_log_prob_np = new_log_prob.detach().numpy() + rng.normal(0.0, 0.25, size=n)
    old_log_prob = torch.tensor(old_log_prob_np, dtype=DT)
    entropy = dist.entropy()

    # --- exactly PPO.train()
    advantages = torch.tensor(advantages_np, dtype=DT)
    if normalize_advantage and len(advantages) > 1:
        adv_used = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    else:
        adv_used = advantages
    ratio = torch.exp(new_log_prob - old_log_prob)
    policy_loss_1 = adv_used * ratio
    policy_loss_2 = adv_used * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)
    policy_loss = -torch.min(policy_loss_1, policy_loss_2).mean()
    clip_fraction = torch.mean((torch.abs(ratio - 1) > clip_range).to(DT))
    returns = torch.tensor(returns_np, dtype=DT)
    value_loss = F.mse_loss(returns, values)
    entropy_loss = -torch.mean(entropy)
    loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
    with torch.no_grad():
        log_ratio = new_log_prob - old_log_prob
        approx_kl = torch.mean((torch.exp(log_ratio) - 1) - log_ratio)
    loss.backward()

    # independent numpy check
    lp = logits_np - np.logaddexp(logits_np[:, 0], logits_np[:, 1])[:, None]
    nlp = lp[np.arange(n), actions_np]
    r = np.exp(nlp - old_log_prob_np)
    a = (advantages_np - advantages_np.mean()) / (advantages_np.std(ddof=1) + 1e-8) \
        if normalize_advantage else advantages_np
    pl = -np.mean(np.minimum(a * r, a * np.clip(r, 1 - clip_range, 1 + clip_range)))
    assert abs(pl - policy_loss.item()) < 1e-12

    return {
        "name": name,
        "inputs": {
            "seed": seed, "n": n,
            "clip_range": clip_range, "normalize_advantage": normalize_advantage,
            "ent_coef": ent_coef, "vf_coef": vf_coef,
            "logits": L(logits_np), "actions": L(actions_np),
            "old_log_prob": L(old_log_prob_np), "advantages": L(advantages_np),
            "values": L(values_np), "returns": L(returns_np),
        },
        "outputs": {
            "new_log_prob": L(new_log_prob),
            "log_ratio": L(log_ratio),
            "ratio": L(ratio),
            "advantages_mean": advantages.mean().item(),
            "advantages_std_unbiased": advantages.std().item(),
            "advantages_used": L(adv_used),
            "policy_loss_1": L(policy_loss_1),
            "policy_loss_2": L(policy_loss_2),
            "policy_loss": policy_loss.item(),
            "clip_fraction": clip_fraction.item(),
            "n_clipped": int((torch.abs(ratio - 1) > clip_range).sum()),
            "value_loss": value_loss.item(),
            "entropy": L(entropy),
            "entropy_loss": entropy_loss.item(),
            "loss": loss.item(),
            "approx_kl": approx_kl.item(),
            "grad_loss_wrt_logits": L(logits.grad),
            "grad_loss_wrt_values": L(values.grad),
        },
    }


# ----------------------------------------------------------------------------- GAE
def gae_reference(rewards, values, episode_starts, last_values, dones, gamma, gae_lambda):
    """numpy transcription of RolloutBuffer.compute_returns_and_advantage (float64)."""
    buffer_size = rewards.shape[0]
    advantages = np.zeros_like(rewards)
    last_gae_lam = 0
    for step in reversed(range(buffer_size)):
        if step == buffer_size - 1:
            next_non_terminal = 1.0 - dones.astype(np.float64)
            next_values = last_values
        else:
            next_non_terminal = 1.0 - episode_starts[step + 1]
            next_values = values[step + 1]
        delta = rewards[step] + gamma * next_values * next_non_terminal - values[step]
        last_gae_lam = delta + gamma * gae_lambda * next_non_terminal * last_gae_lam
        advantages[step] = last_gae_lam
    returns = advantages + values
    return advantages, returns


def gae_case():
    n_steps, n_envs, gamma, gae_lambda = 6, 2, 0.98, 0.8
    rng = np.random.default_rng(7)
    rewards = rng.uniform(0.0, 1.0, size=(n_steps, n_envs)).round(3)
    values = rng.normal(1.0, 0.5, size=(n_steps, n_envs)).round(3)
    last_values = rng.normal(1.0, 0.5, size=n_envs).round(3)
    # episode_starts[t, e] = 1: obs t of env e is the first of a new episode
    # (the previous step t-1 ended it). env 0: starts at t=0 and t=3; env 1: t=0 and t=5.
    episode_starts = np.array([[1, 1], [0, 0], [0, 0], [1, 0], [0, 0], [0, 1]], dtype=np.float64)
    dones = np.array([False, True])  # env 1's last step (t=5) ends its episode
    adv, ret = gae_reference(rewards, values, episode_starts, last_values, dones, gamma, gae_lambda)

    # cross-check with SB3's own RolloutBuffer (stores float32)
    sb3 = None
    try:
        from gymnasium import spaces
        from stable_baselines3.common.buffers import RolloutBuffer
        buf = RolloutBuffer(n_steps, spaces.Box(-1, 1, (1,)), spaces.Discrete(2), device="cpu",
                            gae_lambda=gae_lambda, gamma=gamma, n_envs=n_envs)
        for t in range(n_steps):
            buf.add(np.zeros((n_envs, 1), np.float32), np.zeros((n_envs, 1)), rewards[t],
                    episode_starts[t], torch.tensor(values[t], dtype=torch.float32),
                    torch.zeros(n_envs))
        buf.compute_returns_and_advantage(torch.tensor(last_values, dtype=torch.float32), dones)
        assert np.allclose(buf.advantages, adv, atol=1e-5, rtol=0), (buf.advantages, adv)
        assert np.allclose(buf.returns, ret, atol=1e-5, rtol=0)
        sb3 = {"advantages_float32": L(buf.advantages), "returns_float32": L(buf.returns),
               "max_abs_diff_vs_float64": float(np.max(np.abs(buf.advantages - adv)))}
    except ImportError:
        pass

    return {
        "note": ("arrays are [n_steps][n_envs]; SB3 handles truncation (TimeLimit) outside GAE: "
                 "in OnPolicyAlgorithm.collect_rollouts, when an env is done and "
                 "infos['TimeLimit.truncated'] is set, reward += gamma * V(terminal_observation) "
                 "before buffer.add, and the episode then counts as ended (episode_starts=1 next step) "
                 "like a termination. No truncation bootstrap is applied in these inputs."),
        "inputs": {
            "n_steps": n_steps, "n_envs": n_envs, "gamma": gamma, "gae_lambda": gae_lambda,
            "rewards": L(rewards), "values": L(values), "episode_starts": L(episode_starts),
            "last_values": L(last_values), "dones": L(dones),
        },
        "outputs": {"advantages": L(adv), "returns": L(ret)},
        "sb3_rollout_buffer": sb3,
    }


# ----------------------------------------------------------------------------- DQN
def dqn_case():
    n, n_actions, gamma = 8, 3, 0.99
    rng = np.random.default_rng(11)
    rewards = rng.normal(0.5, 1.0, size=n)
    dones = np.array([0, 0, 1, 0, 0, 1, 0, 0], dtype=np.float64)
    next_q_target = rng.normal(2.0, 1.5, size=(n, n_actions))
    next_q_online = rng.normal(2.0, 1.5, size=(n, n_actions))
    q_online_current = rng.normal(3.5, 1.0, size=(n, n_actions))
    actions = rng.integers(0, n_actions, size=n)

    r = torch.tensor(rewards, dtype=DT).reshape(-1, 1)
    d = torch.tensor(dones, dtype=DT).reshape(-1, 1)
    # --- exactly DQN.train()
    with torch.no_grad():
        nq = torch.tensor(next_q_target, dtype=DT)
        nq_max, _ = nq.max(dim=1)
        nq_max = nq_max.reshape(-1, 1)
        target = r + (1 - d) * gamma * nq_max
    q_all = torch.tensor(q_online_current, dtype=DT, requires_grad=True)
    current_q = torch.gather(q_all, dim=1, index=torch.tensor(actions).reshape(-1, 1).long())
    loss = F.smooth_l1_loss(current_q, target)
    loss.backward()
    grad_q_all = q_all.grad.clone()

    # double DQN: action from the online net, value from the target net
    with torch.no_grad():
        a_star = torch.tensor(next_q_online, dtype=DT).argmax(dim=1)
        nq_double = torch.gather(nq, 1, a_star.reshape(-1, 1))
        target_double = r + (1 - d) * gamma * nq_double
    q_all2 = torch.tensor(q_online_current, dtype=DT, requires_grad=True)
    current_q2 = torch.gather(q_all2, 1, torch.tensor(actions).reshape(-1, 1).long())
    loss_double = F.smooth_l1_loss(current_q2, target_double)
    loss_double.backward()

    diff = (current_q - target).detach().numpy().ravel()
    return {
        "note": ("SB3 DQN: target = r + (1 - done) * gamma * max_a Q_target(s', a); "
                 "loss = F.smooth_l1_loss(current_q, target) (beta=1, mean over N). "
                 "SB3's ReplayBuffer (handle_timeout_termination=True) stores done * (1 - timeout), "
                 "so TimeLimit truncations are not terminal for the target. Double DQN is not part of SB3."),
        "inputs": {
            "n": n, "n_actions": n_actions, "gamma": gamma, "huber_beta": 1.0,
            "rewards": L(rewards), "dones": L(dones),
            "next_q_target": L(next_q_target), "next_q_online": L(next_q_online),
            "q_online_current": L(q_online_current), "actions": L(actions),
        },
        "outputs": {
            "next_q_max": L(nq_max.ravel()),
            "target": L(target.ravel()),
            "current_q": L(current_q.ravel()),
            "n_abs_diff_below_beta": int((np.abs(diff) < 1.0).sum()),
            "loss": loss.item(),
            "grad_loss_wrt_q_online_current": L(grad_q_all),
            "double_argmax_online": L(a_star),
            "double_next_q": L(nq_double.ravel()),
            "double_target": L(target_double.ravel()),
            "double_loss": loss_double.item(),
            "double_grad_loss_wrt_q_online_current": L(q_all2.grad),
        },
    }


# ----------------------------------------------------------------------------- bandit
def bernoulli_kl(p, q):
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def bandit_case():
    means = [0.9, 0.8, 0.7, 0.5, 0.2]
    n = 10000
    best = max(means)
    gaps = [best - m for m in means]
    ln_n = math.log(n)
    c = 1.0 + math.pi ** 2 / 3.0
    sub = [(i, g) for i, g in enumerate(gaps) if g > 0]
    sum_log_term = sum(ln_n / g for _, g in sub)
    sum_gaps = sum(gaps)
    ucb1_bound = 8.0 * sum_log_term + c * sum_gaps
    kls = [bernoulli_kl(means[i], best) for i, _ in sub]
    lr_terms = [g / kl for (_, g), kl in zip(sub, kls)]
    lr_const = sum(lr_terms)
    return {
        "note": ("gaps[i] = max(means) - means[i], computed in float64 (0.9-0.8 is 0.09999999999999998). "
                 "UCB1 (Auer et al. 2002, Thm 1): E[regret(n)] <= 8*sum_{i:gap>0} ln(n)/gap_i "
                 "+ (1 + pi^2/3)*sum_j gap_j. Lai-Robbins: liminf regret(n)/ln(n) >= "
                 "sum_{i:gap>0} gap_i / KL(mu_i, mu*), KL(p,q) = p ln(p/q) + (1-p) ln((1-p)/(1-q)). "
                 "Sums are left to right over arms in the order given."),
        "inputs": {"means": means, "n": n},
        "outputs": {
            "gaps": gaps,
            "ln_n": ln_n,
            "one_plus_pi2_over_3": c,
            "ucb1_sum_ln_n_over_gap": sum_log_term,
            "sum_gaps": sum_gaps,
            "ucb1_regret_bound": ucb1_bound,
            "kl_to_best": kls,
            "lai_robbins_terms": lr_terms,
            "lai_robbins_constant": lr_const,
            "lai_robbins_constant_times_ln_n": lr_const * ln_n,
        },
    }


def main():
    import gymnasium
    import stable_baselines3
    out = {
        "description": "RL loss / estimator golden values (see examples/reference/rl_losses.py)",
        "versions": {"torch": torch.__version__, "numpy": np.__version__,
                     "stable_baselines3": stable_baselines3.__version__,
                     "gymnasium": gymnasium.__version__, "python": platform.python_version()},
        "dtype": "float64",
        "ppo": [
            ppo_case("normalized_clip0.2", 0, True, 0.2, 0.0, 0.5),
            ppo_case("raw_clip0.1", 1, False, 0.1, 0.01, 0.5),
        ],
        "gae": gae_case(),
        "dqn": dqn_case(),
        "bandit": bandit_case(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    for c in out["ppo"]:
        o = c["outputs"]
        print(f'ppo {c["name"]}: policy_loss={o["policy_loss"]:.6f} clip_fraction={o["clip_fraction"]}'
              f' value_loss={o["value_loss"]:.6f} loss={o["loss"]:.6f} approx_kl={o["approx_kl"]:.6f}')
    print("gae advantages", np.round(out["gae"]["outputs"]["advantages"], 4).tolist())
    d = out["dqn"]["outputs"]
    print(f'dqn loss={d["loss"]:.6f} double_loss={d["double_loss"]:.6f}'
          f' |diff|<1: {d["n_abs_diff_below_beta"]}/8')
    b = out["bandit"]["outputs"]
    print(f'bandit ucb1_bound={b["ucb1_regret_bound"]:.4f} lai_robbins_constant={b["lai_robbins_constant"]:.6f}')
    print("wrote", OUT.relative_to(REPO), OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()

"""Golden CartPole-v1 trajectories from gymnasium, for bit-exact tests of a Rust port.

For six cases (reset seeds 0..5, each with its own action source) this script
resets `gym.make("CartPole-v1")` (so the TimeLimit wrapper with
max_episode_steps = 500 applies), then steps until the first `terminated` or
`truncated`, recording:

  * the internal state right after reset (`env.unwrapped.state`, a float64
    ndarray) and the float32 observation reset returned;
  * the actions taken (so a port replays them; it never needs numpy's PCG64);
  * per step: the float32 observation, the float64 internal state after the
    step, reward, terminated, truncated.

Every float64 state is written twice: as a JSON number (Python's shortest
round-trip repr) and as the IEEE-754 bit pattern in hex ("0x...", for
`f64::from_bits`), because serde_json without its `float_roundtrip` feature
may parse a number 1 ulp off. Observations are float32 values widened to
float64 (exact), so `v as f32` recovers them.

Cases:
  0 seed 0  all actions 0                       -> terminated (angle)
  1 seed 1  all actions 1                       -> terminated (angle)
  2 seed 2  alternating 0,1,0,1,...             -> terminated (angle)
  3 seed 3  np.random.default_rng(12345).integers(0, 2, 500) -> terminated (angle)
  4 seed 4  controller a = [theta + 0.5 theta_dot + 0.05 x + 0.1 x_dot > 0]
                                                -> truncated at step 500
  5 seed 5  controller a = [theta + 0.5 theta_dot + 0.1 (x_dot - 2.0) > 0]
                                                -> terminated (cart position x > 2.4)
(the controllers read the float64 `env.unwrapped.state`; the actions they
produced are what is recorded).

As a self-check the script re-implements CartPoleEnv.step in plain Python
floats (math.sin/math.cos, same order of operations) and asserts it
reproduces every recorded state bit for bit.

Regenerate from the repository root (recorded with gymnasium 1.4.0,
numpy 2.4.6, Python 3.11.7):

    /work/refvenv/bin/python examples/reference/cartpole_golden.py

Writes crates/anneal-rl/tests/golden/cartpole_trajectories.json.
"""
import json
import math
import platform
import struct
from pathlib import Path

import gymnasium as gym
import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "crates" / "anneal-rl" / "tests" / "golden" / "cartpole_trajectories.json"


def bits64(v):
    return "0x%016x" % struct.unpack("<Q", struct.pack("<d", float(v)))[0]


def f64_list(arr):
    assert arr.dtype == np.float64, arr.dtype
    return [float(v) for v in arr]


def f32_list(arr):
    assert arr.dtype == np.float32, arr.dtype
    return [float(v) for v in arr]  # float32 -> Python float is exact


def ref_step(state, action, c):
    """Plain-Python replica of gymnasium's CartPoleEnv.step (euler branch)."""
    x, x_dot, theta, theta_dot = state
    force = c["force_mag"] if action == 1 else -c["force_mag"]
    costheta = math.cos(theta)
    sintheta = math.sin(theta)
    temp = (force + c["polemass_length"] * (theta_dot * theta_dot) * sintheta) / c["total_mass"]
    thetaacc = (c["gravity"] * sintheta - costheta * temp) / (
        c["length"] * (4.0 / 3.0 - c["masspole"] * (costheta * costheta) / c["total_mass"])
    )
    xacc = temp - c["polemass_length"] * thetaacc * costheta / c["total_mass"]
    x = x + c["tau"] * x_dot
    x_dot = x_dot + c["tau"] * xacc
    theta = theta + c["tau"] * theta_dot
    theta_dot = theta_dot + c["tau"] * thetaacc
    terminated = (
        x < -c["x_threshold"] or x > c["x_threshold"]
        or theta < -c["theta_threshold_radians"] or theta > c["theta_threshold_radians"]
    )
    return [x, x_dot, theta, theta_dot], terminated


def action_source(kind):
    if kind == "all_zeros":
        return lambda s, t: 0
    if kind == "all_ones":
        return lambda s, t: 1
    if kind == "alternating":
        return lambda s, t: t % 2
    if kind == "random":
        seq = np.random.default_rng(12345).integers(0, 2, size=500)
        return lambda s, t: int(seq[t])
    if kind == "balance_controller":
        return lambda s, t: int(s[2] + 0.5 * s[3] + 0.05 * s[0] + 0.1 * s[1] > 0)
    if kind == "drift_controller":
        return lambda s, t: int(s[2] + 0.5 * s[3] + 0.1 * (s[1] - 2.0) > 0)
    raise ValueError(kind)


CASES = [
    ("all_zeros", 0, "action 0 every step"),
    ("all_ones", 1, "action 1 every step"),
    ("alternating", 2, "action t % 2 at step t (0-based): 0,1,0,1,..."),
    ("random", 3, "np.random.default_rng(12345).integers(0, 2, size=500)[t]"),
    ("balance_controller", 4, "int(theta + 0.5*theta_dot + 0.05*x + 0.1*x_dot > 0) on the float64 state"),
    ("drift_controller", 5, "int(theta + 0.5*theta_dot + 0.1*(x_dot - 2.0) > 0) on the float64 state"),
]


def run_case(env, name, seed, desc, consts):
    policy = action_source(name)
    obs, _ = env.reset(seed=seed)
    u = env.unwrapped
    assert isinstance(u.state, np.ndarray) and u.state.dtype == np.float64
    init_state = u.state.copy()
    case = {
        "name": name,
        "seed": seed,
        "policy": desc,
        "initial_state": f64_list(init_state),
        "initial_state_bits": [bits64(v) for v in init_state],
        "initial_observation": f32_list(obs),
    }
    actions, steps = [], []
    ref_state = [float(v) for v in init_state]
    t = 0
    while True:
        a = policy(u.state, t)
        obs, reward, terminated, truncated, _ = env.step(a)
        t += 1
        state = u.state
        assert state.dtype == np.float64 and obs.dtype == np.float32
        # self-check: the plain-Python replica is bit-exact
        ref_state, ref_term = ref_step(ref_state, a, consts)
        assert [bits64(v) for v in ref_state] == [bits64(v) for v in state], (name, t)
        assert ref_term == terminated, (name, t)
        assert np.array_equal(np.array(ref_state, dtype=np.float32), obs), (name, t)
        actions.append(a)
        steps.append({
            "t": t,
            "action": a,
            "observation": f32_list(obs),
            "state": f64_list(state),
            "state_bits": [bits64(v) for v in state],
            "reward": float(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
        })
        if terminated or truncated:
            break
    case["n_steps"] = t
    case["end"] = "terminated" if steps[-1]["terminated"] else "truncated"
    if case["end"] == "terminated":
        x, _, theta, _ = steps[-1]["state"]
        case["termination_cause"] = "x" if abs(x) > consts["x_threshold"] else "theta"
    case["actions"] = actions
    case["steps"] = steps
    return case


def dumps(obj, indent=0):
    """JSON with one line per step / per list of scalars, to keep the file diffable."""
    pad = " " * indent
    if isinstance(obj, dict):
        if "t" in obj and "state_bits" in obj:  # a step record: one line
            return json.dumps(obj)
        items = [f'{pad} {json.dumps(k)}: {dumps(v, indent + 1)}' for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and isinstance(obj[0], (dict, list)):
        items = [pad + " " + dumps(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj)


def main():
    env = gym.make("CartPole-v1")
    u = env.unwrapped
    names = ["gravity", "masscart", "masspole", "total_mass", "length", "polemass_length",
             "force_mag", "tau", "theta_threshold_radians", "x_threshold"]
    consts = {k: float(getattr(u, k)) for k in names}
    obs, _ = env.reset(seed=0)
    state_dtype, obs_dtype = u.state.dtype, obs.dtype
    out = {
        "description": "gymnasium CartPole-v1 trajectories (see examples/reference/cartpole_golden.py)",
        "versions": {"gymnasium": gym.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "env_id": "CartPole-v1",
        "max_episode_steps": env.spec.max_episode_steps,
        "state_dtype": str(state_dtype),
        "observation_dtype": str(obs_dtype),
        "constants": dict(consts, kinematics_integrator=u.kinematics_integrator,
                          reset_low=-0.05, reset_high=0.05),
        "constants_bits": {k: bits64(v) for k, v in consts.items()},
        "cases": [run_case(env, n, s, d, consts) for n, s, d in CASES],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(dumps(out) + "\n")
    json.loads(OUT.read_text())  # well-formed
    for c in out["cases"]:
        print(f'{c["name"]:20s} seed={c["seed"]} steps={c["n_steps"]:3d} end={c["end"]}'
              f' {c.get("termination_cause", "")}')
    print("wrote", OUT.relative_to(REPO), OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()

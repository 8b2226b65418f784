//! The mathematics against golden values from committed reference scripts:
//! CartPole trajectories recorded from gymnasium (`examples/reference/cartpole_golden.py`)
//! and PPO / GAE / DQN / bandit-bound values from PyTorch and Stable-Baselines3's
//! own formulas (`examples/reference/rl_losses.py`).

use anneal_data::Target;
use anneal_rl::bandit::{lai_robbins, ucb1_bound};
use anneal_rl::dqn::{DqnObjective, td_targets};
use anneal_rl::ppo::{PpoObjective, gae};
use anneal_rl::{CartPole, Env};
use anneal_train::Objective;
use burn::prelude::*;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn flat(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|row| match row {
            Value::Array(_) => f64s(row),
            x => vec![x.as_f64().unwrap()],
        })
        .collect()
}

/// Flags given as booleans or as 0/1 numbers, flat or one level nested.
fn bools(v: &Value) -> Vec<bool> {
    let one = |x: &Value| x.as_bool().unwrap_or_else(|| x.as_f64().unwrap() != 0.0);
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|x| match x {
            Value::Array(row) => row.iter().map(one).collect(),
            x => vec![one(x)],
        })
        .collect()
}

fn bits(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| f64::from_bits(u64::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()))
        .collect()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol * (1.0 + want.abs()), "{what}: {got} vs {want}");
}

/// Every recorded gymnasium step: the same f64 state bit for bit, the same
/// f32 observation, reward and flags, and the episode ends where gymnasium's did.
#[test]
fn cartpole_matches_gymnasium_trajectories() {
    let golden = load("cartpole_trajectories.json");
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    let mut truncated = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let init = bits(&case["initial_state_bits"]);
        let mut env = CartPole::new();
        let obs = env.reset_to([init[0], init[1], init[2], init[3]]);
        let want: Vec<f32> = f64s(&case["initial_observation"]).iter().map(|&x| x as f32).collect();
        assert_eq!(obs, want, "{name}: first observation");
        let steps = case["steps"].as_array().unwrap();
        for (k, s) in steps.iter().enumerate() {
            let action = s["action"].as_u64().unwrap() as usize;
            let step = env.step(action).unwrap();
            let state = env.state().unwrap();
            assert_eq!(state.to_vec(), bits(&s["state_bits"]), "{name}: state after step {}", k + 1);
            let want: Vec<f32> = f64s(&s["observation"]).iter().map(|&x| x as f32).collect();
            assert_eq!(step.observation, want, "{name}: observation after step {}", k + 1);
            assert_eq!(step.reward, s["reward"].as_f64().unwrap());
            assert_eq!(step.terminated, s["terminated"].as_bool().unwrap(), "{name}: terminated at {}", k + 1);
            assert_eq!(step.truncated, s["truncated"].as_bool().unwrap(), "{name}: truncated at {}", k + 1);
        }
        assert_eq!(steps.len(), case["n_steps"].as_u64().unwrap() as usize);
        truncated += usize::from(case["end"] == "truncated");
        // The episode is over: another step is refused, not silently played.
        assert!(matches!(env.step(0), Err(anneal_rl::RlError::EpisodeOver)), "{name}");
    }
    assert!(truncated >= 1, "a case runs into the 500-step limit");
}

fn ppo_output_and_target(inputs: &Value, device: &Device) -> (Tensor<2>, Target) {
    let n = inputs["n"].as_u64().unwrap() as usize;
    let logits = flat(&inputs["logits"]);
    let values = f64s(&inputs["values"]);
    let mut out = Vec::with_capacity(n * 3);
    for i in 0..n {
        out.extend([logits[2 * i] as f32, logits[2 * i + 1] as f32, values[i] as f32]);
    }
    let actions = f64s(&inputs["actions"]);
    let (old, adv, ret) = (f64s(&inputs["old_log_prob"]), f64s(&inputs["advantages"]), f64s(&inputs["returns"]));
    let rows: Vec<[f32; 4]> =
        (0..n).map(|i| [actions[i] as f32, old[i] as f32, adv[i] as f32, ret[i] as f32]).collect();
    let output = Tensor::from_data(TensorData::new(out, [n, 3]), device).require_grad();
    (output, PpoObjective::target(&rows, device))
}

/// PPO's three terms and their gradients with respect to the logits and the
/// values, against PyTorch on the same inputs (with and without advantage
/// normalisation, two clip ranges, with an entropy bonus).
#[test]
fn ppo_loss_and_gradients_match_pytorch() {
    let golden = load("rl_losses.json");
    let device = Device::flex().autodiff();
    for case in golden["ppo"].as_array().unwrap() {
        let (inputs, outputs) = (&case["inputs"], &case["outputs"]);
        let name = case["name"].as_str().unwrap();
        let objective = PpoObjective {
            n_actions: 2,
            clip_range: inputs["clip_range"].as_f64().unwrap(),
            vf_coef: inputs["vf_coef"].as_f64().unwrap(),
            ent_coef: inputs["ent_coef"].as_f64().unwrap(),
            normalize_advantage: inputs["normalize_advantage"].as_bool().unwrap(),
        };
        let (output, target) = ppo_output_and_target(inputs, &device);
        let terms = objective.terms(output.clone(), &target).unwrap();
        let value = |i: usize| f64::from(terms[i].value.clone().into_scalar::<f32>());
        close(value(0), outputs["policy_loss"].as_f64().unwrap(), 1e-5, &format!("{name}: policy loss"));
        close(
            value(1),
            objective.vf_coef * outputs["value_loss"].as_f64().unwrap(),
            1e-5,
            &format!("{name}: value term"),
        );
        close(
            value(2),
            objective.ent_coef * outputs["entropy_loss"].as_f64().unwrap(),
            1e-5,
            &format!("{name}: entropy term"),
        );
        let total = terms.iter().map(|t| t.value.clone()).reduce(|a, b| a + b).unwrap();
        close(
            f64::from(total.clone().into_scalar::<f32>()),
            outputs["loss"].as_f64().unwrap(),
            1e-5,
            &format!("{name}: loss"),
        );
        let grads = total.backward();
        let g: Vec<f32> = output.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        let (g_logits, g_values) = (flat(&outputs["grad_loss_wrt_logits"]), f64s(&outputs["grad_loss_wrt_values"]));
        for i in 0..g_values.len() {
            close(f64::from(g[3 * i]), g_logits[2 * i], 1e-4, &format!("{name}: d loss / d logit[{i}][0]"));
            close(f64::from(g[3 * i + 1]), g_logits[2 * i + 1], 1e-4, &format!("{name}: d loss / d logit[{i}][1]"));
            close(f64::from(g[3 * i + 2]), g_values[i], 1e-4, &format!("{name}: d loss / d value[{i}]"));
        }
    }
}

/// GAE over a 6-step, 2-environment rollout with episode boundaries inside it
/// and a finished episode at its end, against Stable-Baselines3's recursion.
#[test]
fn gae_matches_stable_baselines3() {
    let golden = load("rl_losses.json");
    let (inputs, outputs) = (&golden["gae"]["inputs"], &golden["gae"]["outputs"]);
    let n_envs = inputs["n_envs"].as_u64().unwrap() as usize;
    let to32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
    let starts = bools(&inputs["episode_starts"]);
    let dones = bools(&inputs["dones"]);
    let (adv, ret) = gae(
        &to32(flat(&inputs["rewards"])),
        &to32(flat(&inputs["values"])),
        &starts,
        &to32(f64s(&inputs["last_values"])),
        &dones,
        n_envs,
        inputs["gamma"].as_f64().unwrap(),
        inputs["gae_lambda"].as_f64().unwrap(),
    );
    for (i, (a, want)) in adv.iter().zip(flat(&outputs["advantages"])).enumerate() {
        close(f64::from(*a), want, 1e-6, &format!("advantage {i}"));
    }
    for (i, (r, want)) in ret.iter().zip(flat(&outputs["returns"])).enumerate() {
        close(f64::from(*r), want, 1e-6, &format!("return {i}"));
    }
}

/// GAE by hand on one environment: rewards 1, 0, 2, values 0.5, 0.2, 0.1,
/// bootstrap value 0.4, γ = 0.9, λ = 0.8, no episode end.
#[test]
fn gae_by_hand() {
    let (g, l) = (0.9f64, 0.8f64);
    let d2 = 2.0 + g * 0.4 - 0.1;
    let d1 = 0.0 + g * 0.1 - 0.2;
    let d0 = 1.0 + g * 0.2 - 0.5;
    let a2 = d2;
    let a1 = d1 + g * l * a2;
    let a0 = d0 + g * l * a1;
    let (adv, ret) = gae(&[1.0, 0.0, 2.0], &[0.5, 0.2, 0.1], &[true, false, false], &[0.4], &[false], 1, g, l);
    for (got, want) in adv.iter().zip([a0, a1, a2]) {
        close(f64::from(*got), want, 1e-6, "advantage");
    }
    close(f64::from(ret[0]), a0 + 0.5, 1e-6, "return");
    // An episode that ends after the second step stops the recursion there.
    let (adv, _) = gae(&[1.0, 0.0, 2.0], &[0.5, 0.2, 0.1], &[true, false, true], &[0.4], &[false], 1, g, l);
    close(f64::from(adv[1]), 0.0 - 0.2, 1e-6, "advantage before the episode boundary");
}

/// DQN's and Double DQN's TD targets and the Huber loss with its gradient.
#[test]
fn dqn_targets_and_loss_match_pytorch() {
    let golden = load("rl_losses.json");
    let (inputs, outputs) = (&golden["dqn"]["inputs"], &golden["dqn"]["outputs"]);
    let n = inputs["n"].as_u64().unwrap() as usize;
    let a = inputs["n_actions"].as_u64().unwrap() as usize;
    let gamma = inputs["gamma"].as_f64().unwrap();
    let to32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
    let rewards = to32(f64s(&inputs["rewards"]));
    let dones = bools(&inputs["dones"]);
    let next_target = to32(flat(&inputs["next_q_target"]));
    let next_online = to32(flat(&inputs["next_q_online"]));
    let device = Device::flex().autodiff();
    for (double, key, loss_key, grad_key) in [
        (false, "target", "loss", "grad_loss_wrt_q_online_current"),
        (true, "double_target", "double_loss", "double_grad_loss_wrt_q_online_current"),
    ] {
        let targets = td_targets(&rewards, &dones, &next_target, double.then_some(&next_online[..]), a, gamma);
        for (i, (got, want)) in targets.iter().zip(f64s(&outputs[key])).enumerate() {
            close(f64::from(*got), want, 1e-6, &format!("{key} {i}"));
        }
        let q = Tensor::<2>::from_data(TensorData::new(to32(flat(&inputs["q_online_current"])), [n, a]), &device)
            .require_grad();
        let actions = f64s(&inputs["actions"]);
        let rows: Vec<f32> = actions.iter().zip(&targets).flat_map(|(&act, &t)| [act as f32, t]).collect();
        let target = Target::Values(Tensor::from_data(TensorData::new(rows, [n, 2]), &device));
        let terms = DqnObjective { n_actions: a }.terms(q.clone(), &target).unwrap();
        close(
            f64::from(terms[0].value.clone().into_scalar::<f32>()),
            outputs[loss_key].as_f64().unwrap(),
            1e-5,
            loss_key,
        );
        let grads = terms[0].value.backward();
        let g: Vec<f32> = q.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        for (i, (got, want)) in g.iter().zip(flat(&outputs[grad_key])).enumerate() {
            close(f64::from(*got), want, 1e-5, &format!("{grad_key} {i}"));
        }
    }
}

#[test]
fn bandit_bounds_match_the_formulas() {
    let golden = load("rl_losses.json");
    let (inputs, outputs) = (&golden["bandit"]["inputs"], &golden["bandit"]["outputs"]);
    let means = f64s(&inputs["means"]);
    let n = inputs["n"].as_u64().unwrap() as usize;
    close(ucb1_bound(&means, n), outputs["ucb1_regret_bound"].as_f64().unwrap(), 1e-12, "UCB1 bound");
    close(lai_robbins(&means), outputs["lai_robbins_constant"].as_f64().unwrap(), 1e-12, "Lai-Robbins constant");
}

proptest::proptest! {
    /// GAE's two limits: λ = 1 gives Monte-Carlo returns (the discounted sum of
    /// the rewards to the end of the rollout plus the discounted bootstrap), λ = 0
    /// the one-step TD error, for any rewards, values and discount.
    #[test]
    fn gae_limits(
        rewards in proptest::collection::vec(-5.0f32..5.0, 1..20),
        seed_values in proptest::collection::vec(-5.0f32..5.0, 20),
        last in -5.0f32..5.0,
        gamma in 0.5f64..1.0,
    ) {
        let n = rewards.len();
        let values = &seed_values[..n];
        let starts = vec![false; n];
        let (_, mc) = gae(&rewards, values, &starts, &[last], &[false], 1, gamma, 1.0);
        let mut g = f64::from(last);
        for t in (0..n).rev() {
            g = f64::from(rewards[t]) + gamma * g;
            proptest::prop_assert!((f64::from(mc[t]) - g).abs() < 1e-3 * (1.0 + g.abs()), "t {}: {} vs {}", t, mc[t], g);
        }
        let (td, _) = gae(&rewards, values, &starts, &[last], &[false], 1, gamma, 0.0);
        for t in 0..n {
            let next = if t + 1 < n { f64::from(values[t + 1]) } else { f64::from(last) };
            let delta = f64::from(rewards[t]) + gamma * next - f64::from(values[t]);
            proptest::prop_assert!((f64::from(td[t]) - delta).abs() < 1e-4 * (1.0 + delta.abs()));
        }
    }
}

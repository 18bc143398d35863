"""The formulas inside DQN and PPO against numbers worked out by hand."""

import numpy as np
import pytest
import torch

from dllab.rl.buffer import ReplayBuffer
from dllab.rl.dqn import dqn_target
from dllab.rl.ppo import clipped_policy_loss, gae


def test_dqn_target_vanilla_and_double_by_hand():
    rewards = torch.tensor([1.0, 0.5])
    terminated = torch.tensor([0.0, 1.0])
    q_target = torch.tensor([[2.0, 4.0], [7.0, 1.0]])  # target net on s'
    q_online = torch.tensor([[3.0, 1.0], [0.0, 9.0]])  # online net on s'
    vanilla = dqn_target(rewards, terminated, q_target, None, gamma=0.5)
    torch.testing.assert_close(vanilla, torch.tensor([1 + 0.5 * 4.0, 0.5]))
    # Double DQN: the online net picks a' = 0 in row 0, the target net values it (2, not 4).
    double = dqn_target(rewards, terminated, q_target, q_online, gamma=0.5)
    torch.testing.assert_close(double, torch.tensor([1 + 0.5 * 2.0, 0.5]))


def test_gae_with_an_episode_ending_in_the_middle():
    # One copy, three steps; the episode ends with step 1, step 2 starts a new one.
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    values = torch.tensor([[0.5], [1.0], [2.0]])
    dones = torch.tensor([[0.0], [1.0], [0.0]])
    next_value = torch.tensor([4.0])
    g, lam = 0.9, 0.5
    d2 = 3 + g * 4.0 - 2.0  # 4.6, bootstraps from next_value
    d1 = 2 - 1.0  # 1.0, terminal: no bootstrap
    d0 = 1 + g * 1.0 - 0.5  # 1.4
    expected = torch.tensor([[d0 + g * lam * d1], [d1], [d2]])  # A1 does not see A2
    torch.testing.assert_close(gae(rewards, values, dones, next_value, g, lam), expected)


def test_gae_with_lambda_one_is_the_discounted_return_minus_value():
    rewards = torch.tensor([[1.0], [1.0], [1.0]])
    values = torch.zeros(3, 1)
    adv = gae(rewards, values, torch.zeros(3, 1), torch.tensor([0.0]), 0.5, 1.0)
    torch.testing.assert_close(adv.squeeze(1), torch.tensor([1.75, 1.5, 1.0]))


def test_ppo_clipped_loss_by_hand():
    old = torch.zeros(3)
    new = torch.log(torch.tensor([1.5, 0.5, 1.1]))  # ratios 1.5, 0.5, 1.1
    adv = torch.tensor([2.0, -1.0, 1.0])
    # ratio 1.5, A>0: clipped to 1.2 -> 2.4; ratio 0.5, A<0: min(-0.5, -0.8) = -0.8;
    # ratio 1.1 inside the range -> 1.1
    expected = -(2.4 - 0.8 + 1.1) / 3
    assert clipped_policy_loss(new, old, adv, clip=0.2).item() == pytest.approx(expected)


def test_replay_buffer_keeps_the_newest_transitions_and_round_trips():
    buf = ReplayBuffer(3, obs_shape=(2,))
    for i in range(5):
        buf.add(np.full(2, i), i % 2, float(i), np.full(2, i + 1), i == 4)
    assert len(buf) == 3 and sorted(buf.rewards.tolist()) == [2.0, 3.0, 4.0]
    copy = ReplayBuffer(3, obs_shape=(2,))
    copy.load_state_dict(buf.state_dict())
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    a, b = buf.sample(4, rng_a), copy.sample(4, rng_b)
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_reinforce_returns_by_hand():
    from dllab.rl.reinforce import discounted_returns

    got = discounted_returns(torch.tensor([1.0, 0.0, 2.0]), gamma=0.5)
    torch.testing.assert_close(got, torch.tensor([1 + 0.25 * 2, 0.5 * 2, 2.0]))


def test_sac_squashed_log_prob_matches_torchs_transformed_distribution():
    from torch.distributions import Normal, TransformedDistribution
    from torch.distributions.transforms import AffineTransform, TanhTransform

    from dllab.rl.sac import LOG_STD_MAX, LOG_STD_MIN, Actor

    torch.manual_seed(0)
    actor = Actor(3, 1, (8,), low=[-2.0], high=[2.0])  # Pendulum's torque bounds
    obs = torch.randn(5, 3)
    torch.manual_seed(1)
    action, log_prob, _ = actor(obs)
    h = actor.trunk(obs)
    log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(actor.log_std(h)) + 1)
    reference = TransformedDistribution(
        Normal(actor.mean(h), log_std.exp()),
        [TanhTransform(), AffineTransform(actor.bias, actor.scale)],
    )
    assert action.abs().max() <= 2.0
    torch.testing.assert_close(log_prob, reference.log_prob(action).sum(-1), atol=1e-3, rtol=1e-3)

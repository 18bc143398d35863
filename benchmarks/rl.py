"""Our RL agents against stable-baselines3's, same algorithm, environment, budget and seeds.

Each pair (`--pairs`, e.g. `dqn-cartpole`) names one of our recipes. Its resolved options
(after the `key=value` overrides) are the single source of hyper-parameters: the SB3 twin is
built from them (`twin_kwargs`), so both learners see the same step budget, learning rate,
batch, buffer, schedules and network widths. What does not map is written in the MD file's
notes (double DQN is on in our DQN recipes and absent from SB3's DQN; SB3's PPO Adam uses
eps 1e-5, ours torch's 1e-8; SB3's SAC has no delayed actor).

Both are trained one after the other in this process, on `--threads` torch threads, with the
same seed (`train.seed` / SB3's `seed`). Every `--eval-every` steps both are probed with
`--probe-episodes` greedy episodes; the first probe whose mean reaches the environment's
solved threshold is "steps to solve" (empty if none did). The final score is the mean ± sd
over `--eval-episodes` greedy episodes reset with seeds 1,000,000 + i, computed by OUR
evaluation code (`dllab.rl.evaluate.evaluate`) for both: the SB3 model is wrapped in an
object whose `act(obs)` is `model.predict(obs, deterministic=True)`. Training time (wall
clock and this process's CPU time) excludes the probes and the final evaluation.
A recipe with `task.val_every` (MountainCar's, Acrobot's) has both libraries validated alike,
as rl-zoo's EvalCallback does: every `val_every` steps the greedy policy plays `val_episodes`
on the recipe's validation seeds, the best one's weights are kept, and that policy is the one
scored (column `judged`); validation time is not training time either.

The whole run is held to `--budget-minutes` (60 by default): each training run gets an equal
share of it as its clock (checked between iterations for ours, by a callback for SB3's) and
stops early if it spends it, which its row says (`stop_reason` = max_time, with the steps it
reached). The step budgets are the recipes' (the zoo's: 50k for DQN CartPole, 100k for PPO
CartPole; 30-90 s of CPU per run at 1 thread, so the default pairs take minutes of CPU, and
the hour is for a loaded machine or more seeds); `--steps N` sets them all (the tests use it).
Probes every `--eval-every` steps (default: a tenth of the budget).
Written to --out: rl.csv (one row per library, pair and seed, with the load average when it
finished) and rl.md (conditions, the table, a per-pair summary and the notes).

    python benchmarks/rl.py [--pairs dqn-cartpole ppo-cartpole] [--seeds 0 1] [--threads 1]
        [--budget-minutes 60] [--steps N] [--eval-episodes 100] [--eval-every N]
        [--probe-episodes 10] [--out /tmp/rlbench] [[ALGO:]key=value…]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import os
import platform
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _cli import run_main  # benchmarks/_cli.py: user errors as one line

from dllab.config import load_recipe
from dllab.errors import ConfigError
from dllab.rl.evaluate import evaluate, solved_threshold
from dllab.rl.loop import build_agent
from dllab.train import rng

# pair -> our recipe (its algorithm and environment are the recipe's)
PAIRS = {
    "dqn-cartpole": "rl-cartpole-dqn",
    "ppo-cartpole": "rl-cartpole-ppo",
    "dqn-acrobot": "rl-acrobot-dqn",
    "ppo-acrobot": "rl-acrobot-ppo",
    "dqn-mountaincar": "rl-mountaincar-dqn",
    "ppo-lunarlander": "rl-lunarlander-ppo",
    "sac-pendulum": "rl-pendulum-sac",
}
# PPO on Acrobot has no recipe of its own: the CartPole one, pointed at Acrobot with the
# zoo's Acrobot values that our PPO has (16 envs x 256 steps, 4 epochs of 64-sample batches,
# GAE 0.94, no annealing; the zoo also normalises observations, which we do not).
DERIVED = {
    "rl-acrobot-ppo": (
        "rl-cartpole-ppo",
        [
            "data.name=Acrobot-v1",
            "task.total_steps=200000",
            "task.num_envs=16",
            "task.num_steps=256",
            "task.num_minibatches=64",
            "task.update_epochs=4",
            "task.gamma=0.99",
            "task.gae_lambda=0.94",
            "task.anneal=false",
            "optim.lr=0.0003",
        ],
    )
}
DEFAULT_PAIRS = ["dqn-cartpole", "ppo-cartpole"]
EVAL_SEED = 1_000_000
FIELDS = [
    "pair",
    "library",
    "env",
    "seed",
    "steps",
    "budget_steps",
    "mean_return",
    "std_return",
    "eval_episodes",
    "threshold",
    "solved",
    "steps_to_solve",
    "train_wall_s",
    "train_cpu_s",
    "us_per_step",
    "cpu_us_per_step",
    "eval_wall_s",
    "stop_reason",
    "judged",
    "load_1m",
]
NOTES = {
    "dqn": "our recipes use double DQN (SB3's DQN has none); both: Huber loss, Adam, "
    "gradient norm clipped, hard target copies every target_update_interval env steps.",
    "ppo": "SB3's Adam uses eps=1e-5 (ours 1e-8); both: separate 64x64 tanh policy and value "
    "MLPs with orthogonal init, per-minibatch advantage normalisation, time-limit bootstrap.",
    "sac": "SB3's SAC updates the actor every step (our policy_frequency maps to nothing); "
    "both: twin critics, automatic entropy tuning, target −dim(A).",
}


def sb3() -> Any:
    """The stable_baselines3 module, or one line naming what to install."""
    try:
        import stable_baselines3
    except ImportError as exc:
        raise ConfigError(
            "benchmarks/rl.py compares against stable-baselines3: pip install stable-baselines3"
        ) from exc
    return stable_baselines3


def pair_recipe(pair: str, args: argparse.Namespace, seed: int) -> Any:
    """Our recipe for `pair`, with this benchmark's seed, threads, clock and steps."""
    if pair not in PAIRS:
        raise ConfigError(f"unknown pair {pair!r}; valid: {', '.join(PAIRS)}")
    name = PAIRS[pair]
    base, derived = DERIVED.get(name, (name, []))
    overrides = [*derived, f"train.seed={seed}", f"train.threads={args.threads}"]
    overrides += [f"task.eval_episodes={args.eval_episodes}", "task.gif_frames=0"]
    if args.steps:
        overrides.append(f"task.total_steps={args.steps}")
    algorithm = load_recipe(base).task.name
    return load_recipe(base, overrides + scoped(args.overrides, algorithm))


def scoped(overrides: list[str], algorithm: str) -> list[str]:
    """The overrides for `algorithm`: plain `key=value` ones, and `ALGO:key=value` ones whose
    ALGO is it (`dqn:task.batch_size=16` changes the DQN recipes only)."""
    mine = []
    for item in overrides:
        key = item.split("=", 1)[0]
        if ":" not in key:
            mine.append(item)
        elif key.split(":", 1)[0] == algorithm:
            mine.append(item.split(":", 1)[1])
    return mine


# ---------------------------------------------------------------- the SB3 twin
def twin_kwargs(algorithm: str, o: Any, lr: float, hidden: list[int]) -> dict[str, Any]:
    """SB3 constructor arguments equal to our resolved options `o` (see the module notes)."""
    if algorithm == "dqn":
        return {
            "learning_rate": lr,
            "buffer_size": o.buffer_size,
            "learning_starts": o.learning_starts,
            "batch_size": o.batch_size,
            "tau": o.tau,
            "gamma": o.gamma,
            "train_freq": o.train_frequency,
            "gradient_steps": o.gradient_steps,
            "target_update_interval": o.target_update_interval,
            "exploration_fraction": o.exploration_fraction,
            "exploration_initial_eps": o.start_epsilon,
            "exploration_final_eps": o.end_epsilon,
            "max_grad_norm": o.max_grad_norm,
            "policy_kwargs": {"net_arch": hidden},
        }
    if algorithm == "ppo":

        def linear(start: float) -> Any:
            return (lambda left: left * start) if o.anneal else start  # left: 1 -> 0

        return {
            "learning_rate": linear(lr),
            "n_steps": o.num_steps,
            "batch_size": max(1, o.num_steps * o.num_envs // o.num_minibatches),
            "n_epochs": o.update_epochs,
            "gamma": o.gamma,
            "gae_lambda": o.gae_lambda,
            "clip_range": linear(o.clip_coef),
            "clip_range_vf": linear(o.clip_coef) if o.clip_vloss else None,
            "normalize_advantage": o.norm_adv,
            "ent_coef": o.ent_coef,
            "vf_coef": o.vf_coef,
            "max_grad_norm": o.max_grad_norm,
            "policy_kwargs": {
                "net_arch": {"pi": hidden, "vf": hidden},
                "activation_fn": torch.nn.Tanh,
            },
        }
    if algorithm == "sac":
        return {
            "learning_rate": lr,
            "buffer_size": o.buffer_size,
            "learning_starts": o.learning_starts,
            "batch_size": o.batch_size,
            "tau": o.tau,
            "gamma": o.gamma,
            "ent_coef": "auto" if o.autotune else o.alpha,
            "policy_kwargs": {"net_arch": hidden},
        }
    raise ConfigError(f"no stable-baselines3 twin for {algorithm}; pairs: {', '.join(PAIRS)}")


class Greedy:
    """An SB3 model behind our agents' `act(obs)`, so our `evaluate` scores both alike."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def act(self, obs: Any) -> Any:
        action, _ = self.model.predict(obs, deterministic=True)
        return int(action) if np.ndim(action) == 0 else action


# ---------------------------------------------------------------- one training run
class Clock:
    """Training time (wall and CPU) with the probes taken out, and the probe results."""

    def __init__(self, env_id: str, every: int, episodes: int, limit_s: float) -> None:
        self.env_id, self.every, self.episodes, self.limit_s = env_id, every, episodes, limit_s
        self.threshold = solved_threshold(env_id)
        self.next_probe = every if every else None
        self.solved_at: int | None = None
        self.wall0, self.cpu0, self.paused_wall, self.paused_cpu = 0.0, 0.0, 0.0, 0.0

    def start(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def train_wall(self) -> float:
        return time.perf_counter() - self.wall0 - self.paused_wall

    def train_cpu(self) -> float:
        return time.process_time() - self.cpu0 - self.paused_cpu

    def out_of_time(self) -> bool:
        return self.train_wall() >= self.limit_s

    def keep_best(self, options: Any, snapshot: Any, restore: Any) -> None:
        """Validate every `options.val_every` steps (if set); `snapshot()` copies the
        weights, `restore(copy)` puts them back at the end (`finish`)."""
        self.val = options if options.val_every else None
        self.next_val = options.val_every if options.val_every else None
        self.snapshot, self.restore = snapshot, restore
        self.best: tuple[float, int, Any] | None = None

    def maybe_validate(self, actor: Any, steps: int, last: bool = False) -> None:
        """At each `val_every` steps (and the last): validate, keep the best weights."""
        if self.next_val is None or (steps < self.next_val and not last):
            return
        while self.next_val <= steps:
            self.next_val += self.val.val_every
        o = self.val
        with self.paused():
            mean = evaluate(actor, self.env_id, o.val_episodes, o.val_seed)["eval/mean_return"]
            if self.best is None or mean > self.best[0]:
                self.best = (mean, steps, self.snapshot())

    def finish(self, actor: Any, steps: int) -> str:
        """Which policy is judged: the best validated one (restored) or the last."""
        self.maybe_validate(actor, steps, last=True)
        if self.best is None:
            return "last"
        self.restore(self.best[2])
        return f"best val, step {self.best[1]}"

    def maybe_probe(self, actor: Any, steps: int) -> None:
        """At each `every` steps: a short greedy evaluation (not counted as training time)."""
        if self.next_probe is None or steps < self.next_probe:
            return
        while self.next_probe <= steps:
            self.next_probe += self.every
        with self.paused():
            mean = evaluate(actor, self.env_id, self.episodes, EVAL_SEED)["eval/mean_return"]
        if self.solved_at is None and self.threshold is not None and mean >= self.threshold:
            self.solved_at = steps

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside is neither training wall time nor training CPU time."""
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.paused_wall += time.perf_counter() - wall
        self.paused_cpu += time.process_time() - cpu


def train_ours(recipe: Any, clock: Clock) -> tuple[Any, int, str]:
    """Our agent through the same `iterate` the run loop calls (no run folder, no
    checkpoints: those are seconds of disk, not learning); returns it, its steps, why it
    stopped."""
    agent, recipe = build_agent(recipe)
    rng.seed_everything(recipe.train.seed)  # as loop.run_rl does before setup
    agent.setup()
    total = agent.options.total_steps

    def snapshot() -> dict[str, Any]:
        return {k: copy.deepcopy(m.state_dict()) for k, m in agent.networks().items()}

    clock.keep_best(agent.options, snapshot, agent.load_weights)
    clock.start()
    while agent.steps_ < total and not agent.done_:
        if clock.out_of_time():
            return agent, agent.steps_, "max_time"
        agent.iterate()
        clock.maybe_probe(agent, agent.steps_)
        clock.maybe_validate(agent, agent.steps_)
    return agent, agent.steps_, "total_steps"


def train_sb3(recipe: Any, algorithm: str, clock: Clock) -> tuple[Any, int, str]:
    """SB3's twin of `recipe`, trained on the same budget; returns a `Greedy` wrapper."""
    lib = sb3()
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import Logger

    seed = recipe.train.seed
    options = agent_options(recipe)
    hidden = list(recipe.model.kwargs.get("hidden", (64, 64)))
    kwargs = twin_kwargs(algorithm, options, recipe.optim.lr, hidden)
    n_envs = options.num_envs if algorithm == "ppo" else 1
    env = make_vec_env(recipe.data.name, n_envs=n_envs, seed=seed)
    cls = {"dqn": lib.DQN, "ppo": lib.PPO, "sac": lib.SAC}[algorithm]
    model = cls("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    # Without a logger of its own, SB3 makes an empty /tmp/SB3-<date> folder at every learn().
    model.set_logger(Logger(folder=None, output_formats=[]))
    torch.set_num_threads(recipe.train.threads)
    actor, stop = Greedy(model), ["total_steps"]

    clock.keep_best(
        options,
        lambda: copy.deepcopy(model.policy.state_dict()),
        model.policy.load_state_dict,
    )

    class Probe(BaseCallback):
        def _on_step(self) -> bool:
            clock.maybe_probe(actor, self.num_timesteps)
            clock.maybe_validate(actor, self.num_timesteps)
            if clock.out_of_time():
                stop[0] = "max_time"
                return False
            return True

    clock.start()
    model.learn(total_timesteps=options.total_steps, callback=Probe(), progress_bar=False)
    env.close()
    return actor, int(model.num_timesteps), stop[0]


def agent_options(recipe: Any) -> Any:
    """The recipe's resolved algorithm options (every default written out)."""
    agent, _ = build_agent(recipe)
    return agent.options


def run_one(pair: str, library: str, seed: int, args: argparse.Namespace, share_s: float) -> dict:
    """Train one library on one pair and seed; its row of the table."""
    recipe = pair_recipe(pair, args, seed)
    algorithm, env_id = recipe.task.name, recipe.data.name
    torch.set_num_threads(args.threads)
    options = agent_options(recipe)
    every = args.eval_every if args.eval_every is not None else options.total_steps // 10
    clock = Clock(env_id, every, args.probe_episodes, share_s)
    if library == "dllab":
        actor, steps, stop = train_ours(recipe, clock)
    else:
        actor, steps, stop = train_sb3(recipe, algorithm, clock)
    wall, cpu = clock.train_wall(), clock.train_cpu()
    judged = clock.finish(actor, steps)
    t = time.perf_counter()
    test = evaluate(actor, env_id, args.eval_episodes, EVAL_SEED)
    threshold = clock.threshold
    mean = test["eval/mean_return"]
    return {
        "pair": pair,
        "library": library,
        "env": env_id,
        "seed": seed,
        "steps": steps,
        "budget_steps": options.total_steps,
        "mean_return": round(mean, 2),
        "std_return": round(test["eval/std_return"], 2),
        "eval_episodes": args.eval_episodes,
        "threshold": "" if threshold is None else threshold,
        "solved": "" if threshold is None else mean >= threshold,
        "steps_to_solve": "" if clock.solved_at is None else clock.solved_at,
        "train_wall_s": round(wall, 1),
        "train_cpu_s": round(cpu, 1),
        "us_per_step": round(1e6 * wall / max(steps, 1), 1),
        "cpu_us_per_step": round(1e6 * cpu / max(steps, 1), 1),
        "eval_wall_s": round(time.perf_counter() - t, 1),
        "stop_reason": stop,
        "judged": judged,
        "load_1m": round(os.getloadavg()[0], 2),
    }


# ---------------------------------------------------------------- the report
def summary_lines(rows: list[dict]) -> list[str]:
    """Per pair: both libraries' mean return over seeds and CPU time per step, ours / SB3.

    CPU time, not wall clock: on a shared machine the wall clock mostly measures the others.
    """
    lines = [
        "| pair | dllab return | SB3 return | dllab steps to solve | SB3 steps to solve "
        "| dllab CPU µs/step | SB3 CPU µs/step | CPU per step, dllab / SB3 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for pair in dict.fromkeys(r["pair"] for r in rows):
        got = {}
        for lib in ("dllab", "sb3"):
            mine = [r for r in rows if r["pair"] == pair and r["library"] == lib]
            if mine:
                solve = [str(r["steps_to_solve"] or "-") for r in mine]
                got[lib] = (
                    statistics.mean(r["mean_return"] for r in mine),
                    "/".join(solve),
                    statistics.mean(r["cpu_us_per_step"] for r in mine),
                )
        if len(got) < 2:
            continue
        (ra, sa, ta), (rb, sb, tb) = got["dllab"], got["sb3"]
        lines.append(
            f"| {pair} | {ra:.1f} | {rb:.1f} | {sa} | {sb} | {ta:.0f} | {tb:.0f} | {ta / tb:.2f} |"
        )
    return lines


def write_outputs(out: Path, rows: list[dict], args: argparse.Namespace, load0: tuple) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "rl.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    lib = sb3()
    import gymnasium

    algorithms = sorted({PAIRS[r["pair"]] for r in rows})
    lines = [
        "# dllab RL against stable-baselines3",
        "",
        f"- pairs {' '.join(args.pairs)}, seeds {' '.join(map(str, args.seeds))}, "
        f"{args.threads} torch thread(s), clock {args.budget_minutes:g} min for the whole run",
        f"- torch {torch.__version__}, stable-baselines3 {lib.__version__}, gymnasium "
        f"{gymnasium.__version__}, python {platform.python_version()}, {os.cpu_count()} CPUs",
        f"- load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, at end "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()),
        f"- recipes: {', '.join(algorithms)}; overrides: {' '.join(args.overrides) or 'none'}",
        f"- score: mean ± sd over {args.eval_episodes} greedy episodes, reset seeds "
        f"{EVAL_SEED}…{EVAL_SEED + args.eval_episodes - 1}, by dllab's `evaluate` for both "
        "(SB3: `predict(obs, deterministic=True)`); steps to solve: first probe of "
        f"{args.probe_episodes} episodes at or above the threshold",
        "- times: training only (probes and evaluation excluded); CPU = this process",
        "",
        "| pair | library | seed | steps | return | solved | steps to solve | wall s | CPU s "
        "| µs/step | CPU µs/step | stop | judged |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['pair']} | {r['library']} | {r['seed']} | {r['steps']} | "
            f"{r['mean_return']} ± {r['std_return']} | {r['solved']} | {r['steps_to_solve']} | "
            f"{r['train_wall_s']} | {r['train_cpu_s']} | {r['us_per_step']} | "
            f"{r['cpu_us_per_step']} | {r['stop_reason']} | {r['judged']} |"
        )
    lines += ["", "## Summary (mean over seeds)", "", *summary_lines(rows), "", "## Notes", ""]
    for algorithm in sorted({r["pair"].split("-")[0] for r in rows}):
        lines.append(f"- {algorithm}: {NOTES[algorithm]}")
    (out / "rl.md").write_text("\n".join(lines) + "\n")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", nargs="+", default=DEFAULT_PAIRS, help=", ".join(PAIRS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--budget-minutes", type=float, default=60.0, help="the whole run's clock")
    p.add_argument("--steps", type=int, default=None, help="every pair's step budget")
    p.add_argument("--eval-episodes", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=None, help="probe period (0: none)")
    p.add_argument("--probe-episodes", type=int, default=10)
    p.add_argument("--libraries", nargs="+", default=["dllab", "sb3"], choices=["dllab", "sb3"])
    p.add_argument("--out", type=Path, default=Path("/tmp/rlbench"))
    p.add_argument(
        "overrides", nargs="*", help="key=value (every recipe) or ALGO:key=value (one algorithm)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    for pair in args.pairs:
        if pair not in PAIRS:
            raise ConfigError(f"unknown pair {pair!r}; valid: {', '.join(PAIRS)}")
    if args.threads < 1 or args.eval_episodes < 1 or args.budget_minutes <= 0:
        raise ConfigError("--threads, --eval-episodes and --budget-minutes must be positive")
    if "sb3" in args.libraries:
        sb3()  # before any training: a missing reference is one line, not a lost hour
    load0 = os.getloadavg()
    jobs = [(p, lib, s) for p in args.pairs for s in args.seeds for lib in args.libraries]
    share = args.budget_minutes * 60 / len(jobs)
    rows = []
    for pair, lib, seed in jobs:
        print(f"{pair} {lib} seed {seed}: training (clock {share:.0f} s)", flush=True)
        rows.append(run_one(pair, lib, seed, args, share))
        r = rows[-1]
        print(
            f"  {r['steps']} steps, return {r['mean_return']} ± {r['std_return']}, "
            f"{r['train_wall_s']} s wall, {r['train_cpu_s']} s CPU, load {r['load_1m']}",
            flush=True,
        )
        write_outputs(args.out, rows, args, load0)  # what is done survives an interruption
    print(f"wrote {args.out / 'rl.csv'} and {args.out / 'rl.md'}")
    return 0


if __name__ == "__main__":
    run_main(main)

"""The one agent–environment loop: from an RL recipe to a finished run folder.

The algorithm does the work (`Agent.iterate`); this loop does what every run shares with
supervised training, with the same pieces: the run folder and its lock (`train/run_dir.py`,
`train/run_lock.py`), config.yaml and env.json, metrics.jsonl (`JsonlLogger`), checkpoints in
safetensors + JSON (`train/checkpoint.py`), exact resume, and report.md (`train/report.py`)
with the reward curves and a GIF of the trained agent.

Checkpoints fall between iterations. For the algorithms that iterate by episode (DQN, SAC,
REINFORCE, Q-learning, SARSA) no episode is then under way, so a resumed run continues
exactly: weights, optimiser, replay buffer, generators and the episode count that seeds the
next reset (`envs.episode_seed`). PPO and A2C checkpoint between rollouts, with episodes under
way in their copies: where those can be saved as plain numbers (classic control, see
`envs.copy_state`) the checkpoint holds them and a resumed run also continues exactly; where
they cannot (Box2D, MuJoCo) it starts fresh (seeded) episodes and says so in one line, going
on from the same weights, optimiser and generators but not bit for bit.

With `task.val_every` the loop also validates, as rl-zoo's EvalCallback does: the greedy policy
plays `task.val_episodes` on seeds of their own, the best policy so far is kept in
`checkpoints/best.safetensors`, and the final evaluation judges it (and, for the record, the
last one). A value-based agent's greedy policy swings from one update to the next; on
MountainCar the last policy of a run is rarely its best.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from dllab.config import ModelConfig, Recipe, TaskConfig, load_resolved, recipe_to_yaml
from dllab.envinfo import environment
from dllab.errors import CheckpointError, ConfigError, Interrupted
from dllab.experiment import check_same_config, config_record, record_environment
from dllab.rl import agent_class
from dllab.rl.envs import (
    TRAIN_SEED_BASE,
    check_env_id,
    episode_seed,
    make_env,
    space_signature,
)
from dllab.rl.evaluate import evaluate, record_gif, solved_threshold
from dllab.rl.report import plot_rewards, summary_of, write_agent_page
from dllab.tasks.base import parse_options
from dllab.train import rng
from dllab.train.callbacks import JsonlLogger, TensorBoardLogger
from dllab.train.checkpoint import (
    atomic_write_text,
    load_checkpoint,
    save_checkpoint,
    state_dict_mismatch,
)
from dllab.train.report import write_report
from dllab.train.run_dir import ClaimedRunDir, check_run_dir, claim_run_dir
from dllab.train.run_lock import RunLock


def build_agent(recipe: Recipe) -> tuple[Any, Recipe]:
    """The recipe's agent (not set up yet) and the recipe with every option written out."""
    cls = agent_class(recipe.task.name)
    options = parse_options(cls.Options, recipe.task.options, cls.name)
    check_env_id(recipe.data.name)
    tabular = cls.__module__.endswith("tabular")
    want = "table" if tabular else "mlp"
    if recipe.model.name != want:
        raise ConfigError(
            f"model.name={recipe.model.name!r}: {cls.name} learns a {want}; set model.name={want}"
            + ("" if tabular else " (widths in model.kwargs.hidden, e.g. [64, 64])")
        )
    extra = sorted(set(recipe.model.kwargs) - ({"hidden"} if not tabular else set()))
    if extra:
        raise ConfigError(f"model.kwargs.{extra[0]} is not used by {cls.name}; valid: hidden")
    if recipe.train.max_steps is not None:
        raise ConfigError(
            "train.max_steps counts optimiser steps; an RL run counts environment steps in "
            "task.total_steps: set that instead"
        )
    _check_seeds(options, recipe.train.seed)
    _check_validation(options, tabular, cls.name)
    hidden = tuple(recipe.model.kwargs.get("hidden", (64, 64)))
    agent = cls(
        options,
        recipe.data.name,
        seed=recipe.train.seed,
        hidden=hidden,
        optim=recipe.optim,
        device=_device(recipe),
    )
    resolved = recipe.model_copy(deep=True)
    resolved.task = TaskConfig(name=cls.name, **options.model_dump(mode="json"))
    kwargs = {} if tabular else {"hidden": list(hidden)}
    resolved.model = ModelConfig(name=want, kwargs=kwargs)
    return agent, resolved


def _check_seeds(o: Any, seed: int) -> None:
    """Training resets with seeds from `TRAIN_SEED_BASE` up; the judged episodes stay below it."""
    episode_seed(seed, 0)  # refuses a negative seed now, before the run folder is written
    for key, start, count in (
        ("eval_seed", o.eval_seed, o.eval_episodes),
        ("val_seed", o.val_seed, o.val_episodes),
    ):
        if not 0 <= start <= TRAIN_SEED_BASE - count:
            raise ConfigError(
                f"task.{key}: reset seeds {start}…{start + count - 1} must lie in "
                f"0…{TRAIN_SEED_BASE - 1}; training resets from {TRAIN_SEED_BASE} up"
            )


def _check_validation(o: Any, tabular: bool, algorithm: str) -> None:
    """`task.val_every` needs weights to keep, and validation seeds apart from the test's."""
    if not o.val_every:
        return
    if tabular:
        raise ConfigError(
            f"task.val_every: {algorithm} learns a table, which validation does not keep; "
            "remove task.val_every"
        )
    val = range(o.val_seed, o.val_seed + o.val_episodes)
    test = range(o.eval_seed, o.eval_seed + o.eval_episodes)
    if val.start < test.stop and test.start < val.stop:
        raise ConfigError(
            f"task.val_seed: validation seeds {val.start}…{val.stop - 1} overlap the "
            f"evaluation's {test.start}…{test.stop - 1}; choose task.val_seed apart"
        )


def _device(recipe: Recipe) -> torch.device:
    # Small MLPs and one environment: a GPU waits on the CPU-side simulator, so "auto" is CPU.
    return torch.device("cpu" if recipe.train.device == "auto" else recipe.train.device)


def check_compatible(saved: dict[str, Any], now: dict[str, str], where: Path) -> None:
    """Refuse weights made for another environment, observation or action space."""
    for key in ("env", "observation_space", "action_space"):
        if saved.get(key) != now[key]:
            raise CheckpointError(
                f"{where} was trained on {saved.get('env')} ({key.replace('_', ' ')} "
                f"{saved.get(key)}), not {now['env']} ({now[key]}); use a run of {now['env']}"
            )


def run_rl(
    recipe: Recipe,
    *,
    run_dir: Path | None = None,
    resume: Path | None = None,
    echo: Callable[[str], None] = print,
    progress: bool = True,
) -> Path:
    """Train an RL recipe into a run folder (or continue the one at `resume`); returns it.

    The same contract as `experiment.run_recipe`: the folder is locked while the run lives,
    and a new run that fails before its first checkpoint removes what it wrote.
    """
    owner: list[ClaimedRunDir | RunLock] = []
    try:
        return _run(recipe, run_dir, resume, echo, progress, owner)
    except Exception:
        for claim in (c for c in owner if isinstance(c, ClaimedRunDir)):
            with contextlib.suppress(OSError):  # the error that got us here comes first
                claim.discard_if_unstarted()
        raise
    finally:
        for held in owner:
            held.release()


def _resume_state(run_dir: Path, recipe_name: str) -> dict[str, Any]:
    last = run_dir / "checkpoints" / "last.safetensors"
    if not last.exists():
        raise CheckpointError(
            f"{run_dir} has no checkpoint yet: start it again with "
            f"`dllab run {recipe_name} --run-dir {run_dir}`"
        )
    if (run_dir / "summary.json").exists():
        raise CheckpointError(
            f"run {run_dir} already finished (it has summary.json); nothing to resume: "
            "start a new run"
        )
    state = load_checkpoint(last)
    if "agent" not in state:
        raise CheckpointError(f"{last} holds no RL agent state to resume from")
    return state


def _run(
    recipe: Recipe,
    run_dir: Path | None,
    resume: Path | None,
    echo: Callable[[str], None],
    progress: bool,
    owner: list[ClaimedRunDir | RunLock],
) -> Path:
    state = None
    if resume is not None:
        run_dir = check_run_dir(resume)
        recipe = load_resolved(run_dir / "config.yaml")
        owner.append(RunLock(run_dir).acquire(recipe.name))
        state = _resume_state(run_dir, recipe.name)
    agent, recipe = build_agent(recipe)  # every option checked before any work
    config = config_record(recipe)
    if state is not None:
        check_same_config(state.get("config"), config, run_dir)  # type: ignore[arg-type]
    if recipe.train.threads:
        torch.set_num_threads(recipe.train.threads)
    probe = make_env(recipe.data.name)
    signature = space_signature(probe)
    probe.close()
    init = None
    if state is None and agent.options.init_from:
        init = _init_weights(Path(agent.options.init_from), signature)
    if resume is None:
        owner.append(claim_run_dir(recipe.name, run_dir))
        run_dir = owner[0].path
    assert run_dir is not None
    rng.seed_everything(recipe.train.seed)  # network initialisation, torch sampling
    agent.setup()
    loop: dict[str, Any] = {"iterations": 0, "train_seconds": 0.0, "last_checkpoint": 0}
    loop |= {"last_val": 0, "best_val": None, "best_step": None}
    loop |= {"stop_reason": "", "pending": {}}  # pending: sums and counts since the last log
    if state is not None:
        check_compatible(state.get("meta") or {}, signature, run_dir / "checkpoints")
        agent.load_state_dict(state["agent"])
        rng.set_rng_state(state["rng"])
        loop.update(state["loop"])
    elif init is not None:
        try:
            agent.load_weights(init)
        except (RuntimeError, KeyError) as exc:
            what = state_dict_mismatch(exc) if isinstance(exc, RuntimeError) else None
            raise CheckpointError(
                f"task.init_from={agent.options.init_from} does not fit this {agent.name} "
                f"agent ({what or exc}); start from a run with the same algorithm and "
                "model.kwargs.hidden"
            ) from exc
    for held in owner:  # resuming, and every check passed: only now is the folder changed
        if isinstance(held, RunLock):
            held.record_owner()
    atomic_write_text(run_dir / "config.yaml", recipe_to_yaml(recipe))
    env = environment(seed=recipe.train.seed, checksums={})
    env["device"], env["precision"] = str(agent.device), "fp32"
    record_environment(run_dir, env, agent.steps_ if state else None)
    echo(
        f"{'resuming' if state else 'training'} {recipe.name} ({agent.name} on "
        f"{recipe.data.name}) -> {run_dir}"
    )
    if getattr(agent, "resume_note_", None):  # e.g. Box2D episodes under way cannot be saved
        echo(agent.resume_note_)
    # The Trainer's loggers, fed by a stand-in for the Trainer's clock: its step is the
    # environment step, its "epoch" the share of the step budget spent.
    clock = SimpleNamespace(
        state=SimpleNamespace(step=agent.steps_, epoch=0, batch=agent.steps_, train_seconds=0.0),
        train_data=range(agent.options.total_steps),
    )
    logger = JsonlLogger(run_dir / "metrics.jsonl", every=1)
    board = TensorBoardLogger(run_dir / "tensorboard")
    for each in (logger, board):
        each.on_fit_start(clock)  # type: ignore[arg-type]
    if state is not None:
        logger.load_state_dict(state["loop"]["logger"])
        board.load_state_dict({})  # drops events logged after the checkpoint
    meta = {"algorithm": agent.name, **signature, "model": agent.network_name()}

    # The best validated weights also travel in last.safetensors: a resumed run rewrites
    # best.safetensors from them, so a best saved after the last checkpoint (by a run that was
    # then killed) never outlives the timeline that made it.
    kept: dict[str, Any] = {}

    def save() -> None:
        loop["last_checkpoint"] = agent.steps_
        state = {
            "agent": agent.state_dict(),
            "rng": rng.rng_state(),
            "loop": {**loop, "logger": logger.state_dict()},
            "meta": meta,
            "config": config,
        }
        if kept:
            state["best"] = kept["networks"]
        save_checkpoint(run_dir / "checkpoints" / "last.safetensors", state)

    def write_best() -> None:
        best = {"networks": kept["networks"], "meta": meta, "step": loop["best_step"]}
        best["val_return"] = loop["best_val"]
        save_checkpoint(run_dir / "checkpoints" / "best.safetensors", best)

    def save_best() -> None:
        kept["networks"] = {
            k: {n: t.detach().clone() for n, t in m.state_dict().items()}
            for k, m in agent.networks().items()
        }
        write_best()

    if state is not None and state.get("best") is not None:
        kept["networks"] = state["best"]
        write_best()

    try:
        train(
            agent,
            recipe,
            loop,
            (logger, board),
            clock,
            (save, save_best),
            echo if progress else None,
        )
    except KeyboardInterrupt as exc:
        raise Interrupted(agent.steps_, run_dir) from exc
    finally:
        board.on_fit_end(clock)  # type: ignore[arg-type]
    save()
    return finish(agent, recipe, run_dir, loop, echo)


def _init_weights(source: Path, signature: dict[str, str]) -> dict[str, Any]:
    """The learned weights of another run (its last checkpoint), if they fit this environment."""
    path = source if source.suffix == ".safetensors" else source / "checkpoints/last.safetensors"
    state = load_checkpoint(path)
    if "agent" not in state:
        raise CheckpointError(f"{path} is not an RL checkpoint (no agent state); pass an RL run")
    check_compatible(state.get("meta") or {}, signature, path)
    return state["agent"]["networks"]


def train(
    agent: Any,
    recipe: Recipe,
    loop: dict[str, Any],
    loggers: tuple[JsonlLogger, TensorBoardLogger],
    clock: Any,
    savers: tuple[Callable[[], None], Callable[[], None]],
    echo: Callable[[str], None] | None,
) -> None:
    """Iterate until the step budget, the time budget or convergence; log, validate and
    checkpoint. `savers`: the checkpoint to resume from, and the best policy's weights."""
    t, o = recipe.train, agent.options
    save, save_best = savers
    total = o.total_steps
    started = time.perf_counter() - loop["train_seconds"]
    pending = loop["pending"]  # {name: [sum, count]} since the last log point

    def write(record: dict[str, float]) -> None:
        clock.state.step = clock.state.batch = agent.steps_
        clock.state.train_seconds = loop["train_seconds"]
        loggers[0].write(clock, record)
        loggers[1].on_validation_end(clock, record)

    def validate() -> None:
        loop["last_val"] = agent.steps_
        val = evaluate(agent, recipe.data.name, o.val_episodes, o.val_seed)
        write({"val/mean_return": val["eval/mean_return"]})
        if loop["best_val"] is None or val["eval/mean_return"] > loop["best_val"]:
            loop["best_val"], loop["best_step"] = val["eval/mean_return"], agent.steps_
            save_best()

    while True:
        if agent.done_:
            loop["stop_reason"] = "converged"
        elif agent.steps_ >= total:
            loop["stop_reason"] = "total_steps"
        elif t.max_time and time.perf_counter() - started >= t.max_time:
            loop["stop_reason"] = "max_time"
        if loop["stop_reason"]:
            if o.val_every and agent.steps_ > loop["last_val"]:  # stopped by the clock
                validate()
            break
        logs = agent.iterate()
        loop["iterations"] += 1
        loop["train_seconds"] = time.perf_counter() - started
        for k, v in logs.items():
            total_n = pending.setdefault(k, [0.0, 0])
            total_n[0], total_n[1] = total_n[0] + v, total_n[1] + 1
        last = agent.done_ or agent.steps_ >= total
        if o.val_every and (agent.steps_ - loop["last_val"] >= o.val_every or last):
            validate()
        if loop["iterations"] % t.log_every == 0 or last:
            record = {f"train/{k}": s / n for k, (s, n) in pending.items()}
            write(record)
            pending.clear()
            if echo is not None and "train/episode_return" in record:
                echo(
                    f"step {agent.steps_}/{total} ({agent.steps_ / total:.0%}) "
                    f"return {record['train/episode_return']:.4g} "
                    f"elapsed {loop['train_seconds']:.0f}s"
                )
        every = t.checkpoint_every
        if every and agent.steps_ - loop["last_checkpoint"] >= every and not last:
            save()


def finish(agent: Any, recipe: Recipe, run_dir: Path, loop: dict[str, Any], echo: Callable) -> Path:
    """Evaluate on the fixed seeds, record the GIF, write summary.json and report.md."""
    o = agent.options
    env_id = recipe.data.name
    last_policy = None
    if loop.get("best_step") is not None:  # judged: the policy validation chose
        last_policy = evaluate(agent, env_id, o.eval_episodes, o.eval_seed)
        load_best(agent, run_dir, loop["best_step"])
    test = evaluate(agent, env_id, o.eval_episodes, o.eval_seed)
    gif = (
        record_gif(agent, env_id, run_dir / "agent.gif", o.eval_seed, o.gif_frames)
        if o.gif_frames
        else None
    )
    threshold = solved_threshold(env_id)
    plot_rewards(
        run_dir, f"{recipe.name}: {agent.name} on {env_id}", threshold, test["eval/mean_return"]
    )
    seeds = f"reset seeds {o.eval_seed}…{o.eval_seed + o.eval_episodes - 1}"
    chosen = None
    if last_policy is not None:
        chosen = (
            f"The policy judged is the one of step {loop['best_step']:,}, the best of the "
            f"validations (every {o.val_every:,} steps, {o.val_episodes} episodes on reset seeds "
            f"from {o.val_seed}: {loop['best_val']:.4g}). The last policy scores "
            f"{last_policy['eval/mean_return']:.4g} ± {last_policy['eval/std_return']:.3g} "
            "on the same evaluation episodes."
        )
    page = write_agent_page(run_dir, test, gif, seeds, threshold, chosen)
    summary = summary_of(agent, recipe, loop, test)
    if last_policy is not None:
        summary["best"] = {"step": loop["best_step"], "val/mean_return": loop["best_val"]}
        summary["last_policy"] = last_policy
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    write_report(run_dir, recipe, summary, [page])  # agent.md shows the curves and the GIF
    echo(
        f"evaluation over {o.eval_episodes} episodes: mean return "
        f"{test['eval/mean_return']:.4g} ± {test['eval/std_return']:.3g}"
        + (
            f" (solved at {threshold:g}: {'yes' if test['eval/mean_return'] >= threshold else 'no'})"
            if threshold is not None
            else ""
        )
    )
    if last_policy is not None:
        echo(
            f"(the policy of step {loop['best_step']}, best of the validations; the last "
            f"policy scores {last_policy['eval/mean_return']:.4g} on the same episodes)"
        )
    echo(f"run folder: {run_dir}")
    return run_dir


def load_best(agent: Any, run_dir: Path, step: int) -> None:
    """Put the weights validation chose at `step` (checkpoints/best.safetensors) into `agent`;
    CheckpointError if that file is missing or holds another step's or another agent's."""
    path = run_dir / "checkpoints" / "best.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the run validated, but its best policy is gone")
    best = load_checkpoint(path)
    if best.get("step") != step or "networks" not in best:
        raise CheckpointError(
            f"{path} holds the policy of step {best.get('step')}, but the run chose step {step}; "
            "it was replaced or belongs to another run"
        )
    try:
        agent.load_weights(best["networks"])
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{path} does not fit this {agent.name} agent ({exc})") from exc

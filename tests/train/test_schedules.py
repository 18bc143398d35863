"""Every schedule the recipes offer builds and moves the learning rate as documented."""

import pytest
import torch

from dllab.config import ScheduleConfig
from dllab.train.schedules import build_scheduler


def _lrs(name, steps=100, **kw):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = build_scheduler(
        ScheduleConfig(name=name, **kw), opt, total_steps=steps, steps_per_epoch=10, peak_lr=0.1
    )
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                sched.step(0.5)
            else:
                sched.step()
    return out


def test_onecycle_rises_then_falls_to_near_zero():
    lrs = _lrs("onecycle", pct_start=0.25)
    peak = max(range(100), key=lambda i: lrs[i])
    assert 20 <= peak <= 30 and lrs[peak] == pytest.approx(0.1, rel=1e-3)
    assert lrs[0] == pytest.approx(0.1 / 25) and lrs[-1] < 1e-3


def test_warmup_cosine_warms_then_decays():
    lrs = _lrs("warmup-cosine", warmup_fraction=0.1)
    assert lrs[0] < 1e-3 and max(lrs) == pytest.approx(0.1, rel=1e-2) and lrs[-1] < 0.01


def test_step_and_multistep_use_epochs():
    assert _lrs("step", step_size=2)[25] == pytest.approx(0.01)
    lrs = _lrs("multistep", milestones=[3, 6])
    assert lrs[29] == pytest.approx(0.1) and lrs[31] == pytest.approx(0.01)
    assert lrs[61] == pytest.approx(0.001)


def test_cosine_none_and_plateau():
    assert _lrs("cosine")[-1] < 0.001
    assert set(_lrs("none")) == {0.1}
    assert min(_lrs("plateau", patience=1)) < 0.1


def test_inverse_sqrt_warms_linearly_then_decays_as_one_over_sqrt_step():
    lrs = _lrs("inverse-sqrt", steps=400, warmup_steps=100)
    assert lrs[0] == pytest.approx(0.1 / 100) and lrs[49] == pytest.approx(0.1 * 50 / 100)
    assert max(lrs) == pytest.approx(0.1) and lrs.index(max(lrs)) == 99
    assert lrs[399] == pytest.approx(0.1 * (100 / 400) ** 0.5)  # 4x the warmup: half the peak


class _Clock:
    """What LRSchedule reads of a Trainer: the step, the total and the seconds spent."""

    def __init__(self, total_steps: int) -> None:
        self.total_steps, self.seconds = total_steps, 0.0
        self.state = type("State", (), {"step": 0})()

    def elapsed(self) -> float:
        return self.seconds


def _timed_lrs(
    name: str, seconds_per_step: float, max_time: float | None, steps: int
) -> list[float]:
    from dllab.train.callbacks import LRSchedule

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    cfg = ScheduleConfig(name=name, warmup_fraction=0.1)
    sched = build_scheduler(cfg, opt, total_steps=100, steps_per_epoch=10, peak_lr=1.0)
    callback, clock, lrs = LRSchedule(sched, max_time=max_time), _Clock(100), []
    for _ in range(steps):
        clock.state.step += 1
        clock.seconds += seconds_per_step
        opt.step()
        callback.on_train_batch_end(clock, None)  # type: ignore[arg-type]
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


@pytest.mark.parametrize("name", ["cosine", "warmup-cosine", "onecycle"])
def test_follow_time_ends_the_schedule_when_the_time_budget_ends(name):
    # 100 planned steps, but each takes 4 s of a 100 s budget: only 25 fit.
    by_steps = _timed_lrs(name, 4.0, None, 25)
    by_time = _timed_lrs(name, 4.0, 100.0, 25)
    assert by_steps[-1] > 0.5  # cut mid-way, the rate still high
    assert by_time[-1] < 0.01 * max(by_time)  # decayed by the end of the budget
    # Where time is no constraint (0.1 s a step), following it changes nothing.
    assert _timed_lrs(name, 0.1, 100.0, 100) == pytest.approx(_timed_lrs(name, 0.1, None, 100))


def test_follow_time_needs_a_time_budget_and_a_schedule_with_an_end():
    from dllab.config import load_recipe
    from dllab.errors import ConfigError

    with pytest.raises(ConfigError, match="follow_time needs train.max_time"):
        load_recipe("quickstart", ["schedule.follow_time=true"])
    with pytest.raises(ConfigError, match="schedule.name='inverse-sqrt'"):
        load_recipe("translate-en-zh", ["schedule.follow_time=true"])
    assert load_recipe("mlm-zh", ["schedule.follow_time=true"]).schedule.follow_time


def test_linear_decay_holds_the_peak_then_falls_in_a_straight_line_to_zero():
    lrs = _lrs("linear-decay", steps=100, decay_fraction=0.4)
    assert set(lrs[:61]) == {0.1}  # held for the first 60 % (step 60 is the line's start)
    assert lrs[80] == pytest.approx(0.1 * 20 / 40) and lrs[99] == pytest.approx(0.1 / 40)
    assert all(a > b for a, b in zip(lrs[60:], lrs[61:], strict=False))


def test_a_scheduler_group_steps_every_optimiser_and_round_trips_its_state():
    from dllab.train.schedules import SchedulerGroup

    opts = {
        k: torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
        for k, lr in (("generator", 2e-4), ("critic", 1e-3))
    }
    cfg = ScheduleConfig(name="linear-decay", decay_fraction=1.0)

    def group():
        return SchedulerGroup(
            {
                k: build_scheduler(cfg, o, total_steps=10, steps_per_epoch=5, peak_lr=1e-3)
                for k, o in opts.items()
            }
        )

    g = group()
    for _ in range(4):
        for o in opts.values():
            o.step()
        g.step()
    assert g.last_epoch == 4
    assert opts["generator"].param_groups[0]["lr"] == pytest.approx(2e-4 * 6 / 10)
    assert opts["critic"].param_groups[0]["lr"] == pytest.approx(1e-3 * 6 / 10)
    again = group()  # a resumed run: fresh schedulers, then the checkpoint's state
    again.load_state_dict(g.state_dict())
    assert again.last_epoch == 4 and again.state_dict() == g.state_dict()

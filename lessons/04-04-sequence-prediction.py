# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04-04 · Sequence prediction: forecasting sunspots, teacher forcing and free running
#
# The yearly mean number of sunspots, 1700–2008, rises and falls with the ~11-year solar
# cycle, each cycle with its own height and shape: a classic of non-linear time series
# (Yule 1927 invented autoregressive models for it). A recurrent network reads the series
# and predicts the next value; trained at every step at once, it learns $p(x_{t+1} \mid
# x_1, \dots, x_t)$.
#
# Two ways of feeding a network that predicts a sequence:
#
# - **Teacher forcing**: the input at step $t+1$ is the *true* $x_{t+1}$, whatever the network
#   predicted. This is how it is trained: every step gets a correct history, all steps run in
#   one pass, and the errors do not compound.
# - **Free running** (autoregressive): the input at step $t+1$ is the network's own
#   prediction $\hat x_{t+1}$. This is the only option when forecasting several steps into
#   the future — and the network never saw its own errors during training (*exposure bias*,
#   Bengio et al. 2015), so errors compound with the horizon.
#
# We train an LSTM with teacher forcing, then forecast the test years both ways, against the
# simple baselines that any forecast must beat.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from dllab.data.series import load_series
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("04-04-sequence-prediction")
torch.set_num_threads(1)  # a small model: one thread is fastest on a busy machine

# %% [markdown]
# ## 1. The series, split in time
#
# A forecast is judged on the future, so the split follows time: the first 80 % of the
# years train, the last 20 % (1947–2008) test. The scaling (mean and standard deviation)
# is fitted on the training years only — fitting it on all years would leak the test
# period's level into training.

# %%
series = load_series("sunspots")  # 309 yearly values, statsmodels' copy of SILSO's data
values, years = series.values, series.times
n_train = int(0.8 * len(values))
mean, std = values[:n_train].mean(), values[:n_train].std()
z = torch.tensor((values - mean) / std, dtype=torch.float32)  # (309,) standardised
print(f"{len(values)} years {years[0]:.0f}-{years[-1]:.0f}; train up to {years[n_train - 1]:.0f}")

# %% [markdown]
# ## 2. Training with teacher forcing
#
# The model is an LSTM with 32 units and a linear read-out, applied to windows of 40
# consecutive training years: the input is $x_1..x_{40}$, the target $x_2..x_{41}$, and
# the loss is the mean squared error over all 40 positions. Every position sees the true
# history: that is teacher forcing.


# %%
class Forecaster(torch.nn.Module):
    """(B, T) values -> (B, T) predictions of the next value; `state` carries the LSTM's."""

    def __init__(self, hidden=32):
        super().__init__()
        self.lstm = torch.nn.LSTM(1, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x, state=None):
        out, state = self.lstm(x[..., None], state)  # (B, T, H)
        return self.head(out).squeeze(-1), state


WINDOW = 40
train = z[:n_train]
starts = torch.arange(0, n_train - WINDOW)  # every window whose target is in the training part
inputs = torch.stack([train[s : s + WINDOW] for s in starts])  # (207, 40)
targets = torch.stack([train[s + 1 : s + WINDOW + 1] for s in starts])

torch.manual_seed(0)
model = Forecaster()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for _ in range(100):  # full batch: all 207 windows
    loss = torch.nn.functional.mse_loss(model(inputs)[0], targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"training MSE (standardised units) after 100 steps: {loss.item():.3f}")

# %% [markdown]
# ## 3. One step ahead and many steps ahead
#
# From every test year $t$ (the *origin*), the model first reads the whole history up to
# $t$ with teacher forcing, then forecasts $h = 1..11$ years ahead in free running: its
# prediction becomes its next input. A horizon-1 forecast is the teacher-forced one-step
# prediction; longer horizons feed on the model's own outputs. Two baselines:
#
# - **persistence**: next year equals this year, $\hat x_{t+h} = x_t$;
# - **seasonal naive**: the value one solar cycle earlier, $\hat x_{t+h} = x_{t+h-11}$.


# %%
HORIZON, PERIOD = 11, series.period


@torch.no_grad()
def forecast(model, history, horizon):
    """Read `history` (T,) with teacher forcing, then predict `horizon` values free-running."""
    prediction, state = model(history[None])
    nxt = prediction[:, -1:]  # (1, 1): the forecast of the first year after the history
    out = [nxt]
    for _ in range(horizon - 1):
        nxt, state = model(nxt, state)  # its own output is its next input
        out.append(nxt)
    return torch.cat(out, dim=1)[0]  # (horizon,)


model.eval()
origins = range(n_train, len(values) - HORIZON + 1)  # forecasts whose targets are test years
errors = {"LSTM": [], "persistence": [], "seasonal naive": []}
for t in origins:
    truth = values[t : t + HORIZON]
    lstm = forecast(model, z[:t], HORIZON).numpy() * std + mean
    errors["LSTM"].append(np.abs(lstm - truth))
    errors["persistence"].append(np.abs(values[t - 1] - truth))
    errors["seasonal naive"].append(np.abs(values[t - PERIOD : t - PERIOD + HORIZON] - truth))
mae = {name: np.mean(e, axis=0) for name, e in errors.items()}  # (HORIZON,) each
for name, m in mae.items():
    print(f"{name:15s} MAE at h=1 {m[0]:5.1f}, h=5 {m[4]:5.1f}, h=11 {m[-1]:5.1f}")
assert mae["LSTM"][0] < 0.8 * mae["persistence"][0]  # one step ahead: far better than naive
assert mae["LSTM"][5] > 1.5 * mae["LSTM"][0]  # free running: the error grows with the horizon
assert np.all(mae["LSTM"] < mae["seasonal naive"])  # the baseline to beat, at every horizon

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
h = np.arange(1, HORIZON + 1)
for name, m in mae.items():
    ax1.plot(h, m, "o-", ms=4, label=name)
ax1.set(xlabel="horizon h (years ahead)", ylabel="mean absolute error (sunspot number)")
ax1.set_title("Test error by horizon: teacher-forced h=1, free running beyond")
ax1.legend(fontsize=8)
origin = n_train + 5
path = forecast(model, z[:origin], HORIZON).numpy() * std + mean
one_step = model(z[None, : len(values) - 1])[0][0].detach().numpy() * std + mean
ax2.plot(years, values, color="black", lw=1, label="observed")
ax2.plot(years[1:], one_step, color="tab:blue", lw=1, label="one step ahead (teacher forcing)")
ax2.plot(years[origin : origin + HORIZON], path, "o-", color="tab:red", ms=3,
         label=f"free running from {years[origin]:.0f}")  # fmt: skip
ax2.axvline(years[n_train], color="grey", ls=":", label="train | test")
ax2.set(xlabel="year", ylabel=series.unit, xlim=(1900, 2009))
ax2.set_title("Sunspots: forecasts against the truth")
ax2.legend(fontsize=7)
lesson.save(fig, "forecasts.png")

# %% [markdown]
# One step ahead, the LSTM is about twice as accurate as persistence: it knows where in the
# cycle it is. Free running, its error grows over the first years it predicts from its own
# output (from about 15 to about 25 sunspots here), then levels off; on this split it stays
# below the seasonal-naive forecast — the last cycle, copied — at every horizon, which is
# what a forecaster must show first. Persistence is worst half a cycle ahead, when the sun has
# turned from maximum to minimum. (dllab's `sunspots-lstm` recipe also fits an ARIMA on the
# same split.)
#
# Remedies for exposure bias, not used here: train on the model's own multi-step outputs
# (backpropagating through the free-running loop), mix them in gradually (*scheduled
# sampling*, Bengio et al. 2015), or predict all horizons at once with a direct multi-output
# head.
#
# ## Summary
#
# - Split time series in time order and fit the scaling on the training part only.
# - Teacher forcing trains every step of a sequence in one pass on true histories; free
#   running feeds predictions back, which multi-step forecasting requires.
# - Errors compound in free running: compare every horizon with persistence and the
#   seasonal-naive forecast.
#
# ## Exercises
#
# - `dllab lab start window_dataset` — the sliding-window `Dataset` behind such training.
# - `dllab lab start lstm_forecaster` — an LSTM forecaster with a free-running multi-step
#   forecast.
# - `dllab lab start lstm_cell` — the cell inside `nn.LSTM`, by hand.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Replace the LSTM by a GRU (`torch.nn.GRU`). Does the one-step error change?
# 2. Train on the 11-step free-running loss instead of teacher forcing (call `forecast`
#    without `no_grad` inside the training loop). Which horizons improve?

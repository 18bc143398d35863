"""Child side of window_dataset: build the learner's Dataset and loaders, report what they yield."""

import torch


def _describe(value):
    if isinstance(value, torch.Tensor):
        return str(value.dtype).replace("torch.", "")
    return type(value).__name__


def inspect(learner, series, window, indices):
    """The dataset (a handle), its len and some of its items."""
    ds = learner.call("WindowDataset", series, window)
    size = learner.invoke("len(dataset)", len, ds)
    items = {}
    for i in indices:
        item = learner.invoke(f"dataset[{i}]", ds.__getitem__, i)
        if not isinstance(item, tuple | list) or len(item) != 2:
            items[i] = {"pair": False}
            continue
        kinds = [_describe(v) for v in item]
        values = [v.detach() if isinstance(v, torch.Tensor) else None for v in item]
        items[i] = {"pair": True, "kinds": kinds, "values": values}
    return {"dataset": ds, "len": size, "items": items}


def loaders(learner, ds, batch_size, seeds):
    """Every batch of a plain loader and of shuffled ones, one per seed."""
    loaders = []
    for shuffle, seed in [(False, seeds[0])] + [(True, s) for s in seeds]:
        loader = learner.call("make_loader", ds, batch_size, shuffle, seed)
        batches = learner.invoke("iterating the DataLoader", list, loader)
        loaders.append([(xb.detach(), yb.detach()) for xb, yb in batches])
    return loaders

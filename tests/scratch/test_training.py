"""With scratch alone, real models learn real data (slow: run by `make test-slow`)."""

import time

import numpy as np
import pytest

import dllab.scratch as scratch
import dllab.scratch.nn as nn
import dllab.scratch.nn.functional as F
from dllab.errors import DataError


def _fit(model, optimizer, images, labels, epochs, batch_size, scheduler=None):
    """The textbook loop: shuffle, forward, loss, backward, step."""
    model.train()
    for _ in range(epochs):
        order = scratch.generator().permutation(len(labels))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(
                model(scratch.tensor(images[batch])), scratch.tensor(labels[batch])
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()


@scratch.no_grad()
def _accuracy(model, images, labels, batch_size=1000):
    model.eval()
    predictions = [
        model(scratch.tensor(images[i : i + batch_size])).argmax(1).numpy()
        for i in range(0, len(labels), batch_size)
    ]
    return float((np.concatenate(predictions) == labels).mean())


@pytest.mark.slow
def test_mlp_reaches_97_percent_on_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        images / 16.0, labels, test_size=0.2, random_state=0, stratify=labels
    )
    scratch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10))
    optimizer = scratch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    start = time.perf_counter()
    _fit(model, optimizer, x_train, y_train, epochs=60, batch_size=32)
    accuracy = _accuracy(model, x_test, y_test)
    print(f"digits MLP: test accuracy {accuracy:.4f} in {time.perf_counter() - start:.1f} s")
    assert accuracy >= 0.97


@pytest.mark.slow
def test_small_cnn_reaches_85_percent_on_10k_fashion_mnist():
    from dllab.data import load_image_dataset

    try:
        data = load_image_dataset("fashion-mnist")
    except DataError as error:
        pytest.skip(f"Fashion-MNIST is not on this machine: {error}")
    rng = np.random.default_rng(0)
    subset = rng.choice(len(data.train), 10_000, replace=False)

    def prepare(images):  # uint8 (N, 1, 28, 28) -> standardised float32
        return ((images.numpy() / 255.0 - data.mean[0]) / data.std[0]).astype(np.float32)

    x_train, y_train = prepare(data.train.images[subset]), data.train.labels[subset].numpy()
    x_test, y_test = prepare(data.test.images), data.test.labels.numpy()
    scratch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),  # 14x14
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(32 * 7 * 7, 10),
    ).float()  # fmt: skip
    epochs, batch_size = 4, 64
    optimizer = scratch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * -(-len(y_train) // batch_size)
    scheduler = scratch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    start = time.perf_counter()
    _fit(model, optimizer, x_train, y_train, epochs, batch_size, scheduler)
    accuracy = _accuracy(model, x_test, y_test)
    print(f"Fashion-MNIST CNN: test accuracy {accuracy:.4f} in {time.perf_counter() - start:.1f} s")
    assert accuracy >= 0.85

"""Tests of the shared experiment helpers: ``reference_impl.problems`` and ``reference_impl.data``.

Expected values come from closed forms (the quadratic's Hessian and the gradient-descent recursion
w_t - w* = (I - eta H)^t (w_0 - w*)), autograd, or counting, never from stored numbers.
"""

from __future__ import annotations

import itertools
import math

import matplotlib
import numpy as np
import pytest
import torch

from reference_impl.data import Split, iterate_minibatches, load_classification, make_mlp, train
from reference_impl.optim import SGD, SGDScheduleFree
from reference_impl.problems import ROSENBROCK_MINIMUM, Quadratic, plot_trajectories, rosenbrock, run_trajectory

matplotlib.use("Agg")


# ---------------------------------------------------------------- problems


@pytest.mark.parametrize("curvatures, minimum, angle", [((1.0, 10.0), (0.0, 0.0), 0.0), ((0.5, 30.0), (1.0, -2.0), 0.7)])
def test_quadratic_hessian_minimum_condition_number_match_autograd(curvatures, minimum, angle):
    f = Quadratic(curvatures=curvatures, minimum=minimum, angle=angle)
    w_star = torch.tensor(minimum, dtype=torch.float64)
    hessian = torch.autograd.functional.hessian(f, torch.tensor([0.3, -0.4], dtype=torch.float64))
    torch.testing.assert_close(hessian, f.hessian)
    torch.testing.assert_close(f.hessian, f.hessian.T)
    eigenvalues = torch.linalg.eigvalsh(hessian)
    torch.testing.assert_close(eigenvalues, torch.tensor(sorted(curvatures), dtype=torch.float64))
    assert f.condition_number == pytest.approx(max(curvatures) / min(curvatures))
    assert f.minimum == tuple(minimum)
    # the minimum: value 0 and zero gradient there, positive elsewhere
    w = w_star.clone().requires_grad_(True)
    value = f(w)
    (grad,) = torch.autograd.grad(value, w)
    assert value.item() == pytest.approx(0.0, abs=1e-15)
    torch.testing.assert_close(grad, torch.zeros(2, dtype=torch.float64))
    assert f(w_star + torch.tensor([1e-3, -2e-3], dtype=torch.float64)).item() > 0
    # the closed-form gradient equals autograd's at a random point
    p = torch.tensor([1.7, -0.2], dtype=torch.float64, requires_grad=True)
    (auto,) = torch.autograd.grad(f(p), p)
    torch.testing.assert_close(f.gradient(p.detach()), auto)


def test_quadratic_batched_evaluation_matches_pointwise():
    f = Quadratic(curvatures=(2.0, 5.0), minimum=(0.5, 0.5), angle=0.3)
    grid = torch.randn(4, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    values = f(grid)
    assert values.shape == (4, 3)
    expected = torch.stack([f(point) for point in grid.reshape(-1, 2)]).reshape(4, 3)
    torch.testing.assert_close(values, expected)


def test_rosenbrock_minimum_and_gradient():
    w = torch.tensor(ROSENBROCK_MINIMUM, dtype=torch.float64, requires_grad=True)
    value = rosenbrock(w)
    (grad,) = torch.autograd.grad(value, w)
    assert value.item() == 0.0
    torch.testing.assert_close(grad, torch.zeros(2, dtype=torch.float64))
    # gradient elsewhere: d/dx = -2(a - x) - 4 b x (y - x^2), d/dy = 2 b (y - x^2)
    a, b = 2.0, 7.0
    x, y = -0.7, 1.3
    p = torch.tensor([x, y], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(rosenbrock(p, a=a, b=b), p)
    expected = torch.tensor([-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2)], dtype=torch.float64)
    torch.testing.assert_close(grad, expected)
    assert rosenbrock(torch.tensor([a, a**2], dtype=torch.float64), a=a, b=b).item() == 0.0


@pytest.mark.parametrize("lr", [0.01, 0.09])
def test_run_trajectory_with_sgd_equals_gradient_descent_closed_form(lr):
    f = Quadratic(curvatures=(1.0, 20.0), minimum=(1.0, -1.0), angle=0.4)
    start = (-1.5, 1.0)
    steps = 40
    path = run_trajectory(lambda p: SGD(p, lr=lr), f, start, steps)
    assert path.shape == (steps + 1, 2)
    w_star = np.array(f.minimum)
    step_matrix = np.eye(2) - lr * f.hessian.numpy()
    expected = [np.array(start)]
    for t in range(1, steps + 1):
        expected.append(w_star + np.linalg.matrix_power(step_matrix, t) @ (np.array(start) - w_star))
    np.testing.assert_allclose(path, np.array(expected), rtol=1e-10, atol=1e-12)


def test_run_trajectory_schedule_sets_lr_each_step():
    f = Quadratic(curvatures=(1.0, 1.0))
    lrs = [0.1 * (t + 1) for t in range(5)]
    path = run_trajectory(lambda p: SGD(p, lr=123.0), f, (1.0, 2.0), 5, schedule=lambda t: lrs[t])
    # on an isotropic quadratic with curvature 1: w_t = (1 - lr_t) w_{t-1}
    expected = np.array([1.0, 2.0]) * np.cumprod([1.0] + [1 - lr for lr in lrs])[:, None]
    np.testing.assert_allclose(path, expected, rtol=1e-12)


def test_run_trajectory_marks_divergence_with_nan():
    f = Quadratic(curvatures=(1.0, 10.0))
    path = run_trajectory(lambda p: SGD(p, lr=0.5), f, (1.0, 1.0), 2000)  # lr > 2/L = 0.2
    assert np.isnan(path[-1]).all()
    assert np.isfinite(path[:10]).all()


def test_run_trajectory_escape_keeps_the_first_point_outside_the_box():
    """GD at lr 0.25 on curvatures (1, 10): w_t = (0.75^t, (-1.5)^t) (closed form); |w_2| first exceeds 10 at t = 6."""
    f = Quadratic(curvatures=(1.0, 10.0))
    path = run_trajectory(lambda p: SGD(p, lr=0.25), f, (1.0, 1.0), 20, escape=10.0)
    t = np.arange(7)
    np.testing.assert_allclose(path[:7], np.stack([0.75**t, (-1.5) ** t], axis=1), rtol=1e-12)
    assert np.isnan(path[7:]).all() and path.shape == (21, 2)
    free = run_trajectory(lambda p: SGD(p, lr=0.25), f, (1.0, 1.0), 20)  # no box: runs on
    assert np.isfinite(free).all() and abs(free[-1, 1]) > 1e3


def test_run_trajectory_records_schedule_free_at_its_average():
    """For a schedule-free optimizer the recorded point is x (read here from the optimizer's own state), not y."""
    f = Quadratic(curvatures=(1.0, 10.0), minimum=(0.5, -0.5))
    path = run_trajectory(lambda p: SGDScheduleFree(p, lr=0.05, momentum=0.9), f, (1.0, 1.0), 30)
    w = torch.nn.Parameter(torch.tensor([1.0, 1.0], dtype=torch.float64))
    opt = SGDScheduleFree([w], lr=0.05, momentum=0.9)
    xs, ys = [[1.0, 1.0]], [[1.0, 1.0]]
    for _ in range(30):
        opt.zero_grad()
        f(w).backward()
        opt.step()
        xs.append(opt.state[w]["x"].tolist())
        ys.append(w.detach().tolist())
    np.testing.assert_allclose(path, np.array(xs), rtol=1e-12, atol=1e-14)
    assert not np.allclose(path, np.array(ys)), "y and x differ: the recorder must pick x"


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: run_trajectory(lambda p: SGD(p, lr=0.1), rosenbrock, (0.0, 0.0), 3, escape=0.0), "escape"),
        (lambda: Quadratic(curvatures=(1.0, 0.0)), "curvatures"),
        (lambda: Quadratic(curvatures=(1.0,)), "curvatures"),
        (lambda: Quadratic(minimum=(0.0, math.inf)), "minimum"),
        (lambda: Quadratic(angle=math.nan), "angle"),
        (lambda: Quadratic()(torch.zeros(3)), "w"),
        (lambda: rosenbrock(torch.zeros(2), a=math.inf), "a"),
        (lambda: run_trajectory(lambda p: SGD(p, lr=0.1), rosenbrock, (0.0, 0.0), -1), "steps"),
        (lambda: run_trajectory(lambda p: SGD(p, lr=0.1), rosenbrock, (0.0,), 3), "start"),
        (lambda: run_trajectory(None, rosenbrock, (0.0, 0.0), 3), "make_optimizer"),
        (lambda: run_trajectory(lambda p: SGD(p, lr=0.1), rosenbrock, (0.0, 0.0), 3, schedule=0.1), "schedule"),
        (lambda: plot_trajectories(rosenbrock, {}, levels=1), "levels"),
        (lambda: plot_trajectories(rosenbrock, {"x": np.zeros((3, 3))}), "trajectories"),
    ],
)
def test_problems_reject_bad_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_plot_trajectories_draws_each_path_and_the_minimum():
    import matplotlib.pyplot as plt

    f = Quadratic(curvatures=(1.0, 10.0))
    paths = {
        "a": run_trajectory(lambda p: SGD(p, lr=0.05), f, (-1.5, 1.0), 20),
        "b": run_trajectory(lambda p: SGD(p, lr=0.05, momentum=0.9), f, (-1.5, 1.0), 20),
    }
    ax = plot_trajectories(f, paths, title="test")
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["a", "b", "minimum"]
    assert ax.get_title() == "test"
    plt.close(ax.figure)


# ---------------------------------------------------------------- data


@pytest.mark.parametrize("name, features, classes", [("digits", 64, 10), ("breast_cancer", 30, 2), ("wine", 13, 3)])
def test_load_classification_shapes_standardised_and_stratified(name, features, classes):
    split = load_classification(name, test_fraction=0.25, seed=0)
    assert isinstance(split, Split)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.long
    assert split.x_train.shape[1] == split.x_test.shape[1] == features
    n = len(split.x_train) + len(split.x_test)
    assert len(split.x_test) == math.ceil(0.25 * n)
    assert set(split.y_train.tolist()) == set(range(classes))
    mean = split.x_train.double().mean(0)
    std = split.x_train.double().std(0, unbiased=False)
    torch.testing.assert_close(mean, torch.zeros(features, dtype=torch.float64), atol=1e-5, rtol=0)
    varying = std > 0
    torch.testing.assert_close(std[varying], torch.ones(int(varying.sum()), dtype=torch.float64), atol=1e-5, rtol=0)
    again = load_classification(name, seed=0, dtype=torch.float64)
    torch.testing.assert_close(again.x_train.float(), split.x_train)
    other = load_classification(name, seed=1)
    assert not torch.equal(other.y_train, split.y_train)


@pytest.mark.parametrize("batch_size", [1, 7, 32, 100, 1000])
@pytest.mark.parametrize("shuffle", [True, False])
def test_iterate_minibatches_covers_every_sample_once(batch_size, shuffle):
    n = 100
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1) * 10
    y = torch.arange(n)
    batches = list(iterate_minibatches(x, y, batch_size, shuffle=shuffle, seed=3))
    assert len(batches) == math.ceil(n / batch_size)
    seen = torch.cat([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(n))
    for xb, yb in batches:
        assert len(xb) <= batch_size
        torch.testing.assert_close(xb[:, 0], yb.float() * 10)  # x and y stay paired
    if not shuffle:
        assert seen.tolist() == list(range(n))
    elif batch_size < n:
        assert seen.tolist() != list(range(n))
        again = torch.cat([yb for _, yb in iterate_minibatches(x, y, batch_size, shuffle=True, seed=3)])
        assert torch.equal(again, seen)


def test_make_mlp_layers_and_seed():
    model = make_mlp(64, hidden=(32, 16), out_features=10, seed=4)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 32), (32, 16), (16, 10)]
    assert sum(isinstance(m, torch.nn.Tanh) for m in model) == 2
    same = make_mlp(64, hidden=(32, 16), out_features=10, seed=4)
    for a, b in zip(model.parameters(), same.parameters(), strict=True):
        assert torch.equal(a, b)
    relu = make_mlp(5, hidden=(), out_features=2, activation="relu")
    assert len(relu) == 1


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: load_classification("mnist"), "name"),
        (lambda: load_classification("wine", test_fraction=1.0), "test_fraction"),
        (lambda: load_classification("wine", seed=-1), "seed"),
        (lambda: load_classification("wine", dtype=torch.long), "dtype"),
        (lambda: list(iterate_minibatches(torch.zeros(4, 2), torch.zeros(4), 0)), "batch_size"),
        (lambda: list(iterate_minibatches(torch.zeros(4, 2), torch.zeros(3), 2)), "y"),
        (lambda: make_mlp(0), "in_features"),
        (lambda: make_mlp(3, hidden=(0,)), "hidden"),
        (lambda: make_mlp(3, activation="gelu"), "activation"),
    ],
)
def test_data_rejects_bad_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_train_reduces_loss_and_records_history():
    split = load_classification("wine", seed=0)
    model = make_mlp(13, hidden=(16,), out_features=3, seed=0)
    initial = torch.nn.functional.cross_entropy(model(split.x_test), split.y_test).item()
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = train(model, optimizer, split, epochs=5, batch_size=16, schedule=lambda t: 0.1 / (1 + 0.01 * t))
    steps_per_epoch = math.ceil(len(split.x_train) / 16)
    assert len(history.train_loss) == len(history.lr) == 5 * steps_per_epoch
    assert history.lr[0] == pytest.approx(0.1) and history.lr[10] == pytest.approx(0.1 / 1.1)
    assert len(history.test_loss) == len(history.test_accuracy) == len(history.wall_time) == 5
    assert history.test_loss[-1] < 0.5 * initial
    assert history.epoch_train_loss[-1] < history.epoch_train_loss[0]
    assert history.test_accuracy[-1] > 0.8
    assert all(b >= a for a, b in itertools.pairwise(history.wall_time))


def test_train_rejects_bad_arguments():
    split = load_classification("wine")
    model = make_mlp(13, out_features=3)
    optimizer = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="epochs"):
        train(model, optimizer, split, epochs=-1, batch_size=8)
    with pytest.raises(ValueError, match="batch_size"):
        train(model, optimizer, split, epochs=1, batch_size=0)
    with pytest.raises(ValueError, match="split"):
        train(model, optimizer, tuple(split), epochs=1, batch_size=8)

"""The demo's learner: a cross-entropy search over linear policies.

A :class:`CrossEntropyAgent` searches the weights of a :class:`LinearPolicy`
(one score per action, ``argmax`` picks the action) with the cross-entropy
method: sample a population of weight vectors, play one episode with each,
refit a Gaussian to the best ones, repeat. It needs nothing but NumPy and
learns CartPole in a few hundred episodes.

>>> import numpy as np
>>> agent = CrossEntropyAgent(obs_dim=4, n_actions=2, rng=0, population=10)
>>> candidates = agent.ask()
>>> candidates.shape
(10, 10)
>>> returns = [float(c[-1] - c[-2]) for c in candidates]  # prefer action 1
>>> agent.tell(candidates, returns)
>>> agent.iterations, agent.policy()(np.zeros(4))
(1, 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from gymscope._checks import check_int, check_number
from gymscope.errors import InvalidArgumentError

__all__ = ["CrossEntropyAgent", "FloatArray", "LinearPolicy"]

FloatArray = npt.NDArray[np.float64]


class LinearPolicy:
    """Deterministic linear policy: ``start + argmax(obs @ weights + bias)``.

    Args:
        weights: ``(obs_dim, n_actions)`` array.
        bias: ``(n_actions,)`` array.
        start: First action of the ``Discrete`` space (usually 0).

    >>> policy = LinearPolicy(np.array([[1.0, -1.0]]), np.zeros(2))
    >>> policy(np.array([0.5])), policy(np.array([-0.5]))
    (0, 1)
    """

    __slots__ = ("bias", "start", "weights")

    def __init__(self, weights: FloatArray, bias: FloatArray, start: int = 0) -> None:
        self.weights = weights
        self.bias = bias
        self.start = start

    def __call__(self, obs: Any) -> int:
        scores = np.ravel(obs) @ self.weights + self.bias
        return self.start + int(np.argmax(scores))


class CrossEntropyAgent:
    """Cross-entropy method over the weights of a :class:`LinearPolicy`.

    Each iteration :meth:`ask` samples ``population`` parameter vectors from a
    diagonal Gaussian; the caller scores each (one episode's return) and hands
    the scores to :meth:`tell`, which refits the Gaussian's mean and standard
    deviation to the best ``elite_frac`` of them. ``noise_floor`` is added to
    the refitted spread (in quadrature) so the search never collapses onto a
    lucky candidate and keeps exploring.

    Args:
        obs_dim: Size of the flattened observation.
        n_actions: Number of discrete actions.
        rng: A NumPy ``Generator`` or a seed for one; the only randomness used.
        population: Candidates per iteration.
        elite_frac: Fraction of the population the Gaussian is refitted to.
        init_std: Initial standard deviation of every parameter.
        noise_floor: Standard deviation added to the refitted spread.
        action_start: First action of the ``Discrete`` space.

    Raises:
        TypeError, ValueError: A hyperparameter of the wrong type or range.

    >>> CrossEntropyAgent(obs_dim=4, n_actions=2, population=1)
    Traceback (most recent call last):
        ...
    gymscope.errors.InvalidArgumentError: population must be an int >= 2, got 1
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        *,
        rng: np.random.Generator | int | None = None,
        population: int = 30,
        elite_frac: float = 0.25,
        init_std: float = 2.0,
        noise_floor: float = 0.05,
        action_start: int = 0,
    ) -> None:
        self.obs_dim = check_int("obs_dim", obs_dim, 1)
        self.n_actions = check_int("n_actions", n_actions, 1)
        self.population = check_int("population", population, 2)
        self.elite_frac = check_number("elite_frac", elite_frac, low=0.0, high=1.0)
        init_std = check_number("init_std", init_std, low=0.0)
        self.noise_floor = check_number("noise_floor", noise_floor, low=-math.inf)
        if self.noise_floor < 0:
            raise InvalidArgumentError(f"noise_floor must be >= 0, got {noise_floor!r}")
        self.action_start = check_int("action_start", action_start)
        self.n_elite = max(2, round(self.population * self.elite_frac))
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.n_params = self.obs_dim * self.n_actions + self.n_actions
        self.mean: FloatArray = np.zeros(self.n_params)
        self.std: FloatArray = np.full(self.n_params, init_std)
        self.iterations = 0
        #: What the last :meth:`tell` measured (see :meth:`tell`); empty before.
        self.last_losses: dict[str, float] = {}

    def ask(self) -> FloatArray:
        """Sample this iteration's candidates, shape ``(population, n_params)``."""
        noise = self.rng.standard_normal((self.population, self.n_params))
        candidates: FloatArray = self.mean + self.std * noise
        return candidates

    def tell(self, candidates: FloatArray, returns: Sequence[float] | FloatArray) -> None:
        """Refit the sampling distribution to the best-scoring candidates.

        NaN scores rank last. Fewer candidates than :meth:`ask` gave are fine
        (at least two are needed). Afterwards :attr:`last_losses` holds the
        update's training losses: ``cross_entropy``, the loss the method
        minimises (the mean negative log-likelihood per parameter of the elite
        under the refitted Gaussian; it falls as the search narrows),
        ``policy_std`` (the mean sampling spread) and ``elite_return`` (the
        elite's mean score).
        """
        candidates = np.asarray(candidates, dtype=np.float64)
        scores = np.nan_to_num(np.asarray(returns, dtype=np.float64), nan=-np.inf)
        if candidates.ndim != 2 or candidates.shape[1] != self.n_params:
            raise InvalidArgumentError(
                f"candidates must have shape (k, {self.n_params}), got {candidates.shape}"
            )
        if scores.shape != (candidates.shape[0],):
            raise InvalidArgumentError(
                f"need one return per candidate: {candidates.shape[0]} candidates, "
                f"{scores.size} returns"
            )
        if scores.size < 2:
            raise InvalidArgumentError(f"need at least 2 scored candidates, got {scores.size}")
        n_elite = min(self.n_elite, scores.size)
        ranked = np.argsort(scores, kind="stable")[-n_elite:]
        elite = candidates[ranked]
        self.mean = elite.mean(axis=0)
        self.std = np.sqrt(elite.var(axis=0) + self.noise_floor**2)
        self.iterations += 1
        z = (elite - self.mean) / self.std
        nll = 0.5 * np.mean(z**2) + np.mean(np.log(self.std)) + 0.5 * math.log(2 * math.pi)
        finite = scores[ranked][np.isfinite(scores[ranked])]
        self.last_losses = {
            "cross_entropy": float(nll),
            "policy_std": float(self.std.mean()),
            "elite_return": float(finite.mean()) if finite.size else math.nan,
        }

    def policy(self, params: FloatArray | None = None) -> LinearPolicy:
        """The policy for ``params`` (default: the current mean)."""
        flat = self.mean if params is None else np.asarray(params, dtype=np.float64)
        split = self.obs_dim * self.n_actions
        weights = flat[:split].reshape(self.obs_dim, self.n_actions)
        return LinearPolicy(weights, flat[split:], self.action_start)

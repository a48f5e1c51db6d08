"""Scores of waveform GANs from a classifier's outputs: inception score and Fréchet distance.

Non-intrusive (no reference per clip): both take what :mod:`audiogan.evaluation.classifier`
predicts for a
set of clips. Re-exported by :mod:`audiogan.evaluation.metrics`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from audiogan.evaluation.metric_inputs import MetricInputError

__all__ = ["frechet_distance", "inception_score"]


def inception_score(probabilities: np.ndarray | Tensor, *, splits: int = 1) -> float:
    """Inception score ``exp( E_x KL(p(y|x) || p(y)) )`` of classifier outputs.

    ``p(y)`` is the mean of ``p(y|x)`` over the clips (of one split); with several splits the
    mean score over the splits is returned. It ranges from 1 (every clip gets the same
    distribution) to the number of classes (confident and evenly spread over the classes).

    Args:
        probabilities: ``(N, classes)`` rows of class probabilities (each summing to 1).
        splits: Number of equal parts to score separately (N >= splits).

    Returns:
        The score (unitless, ↑).
    """
    probs = (
        probabilities.detach().to("cpu", torch.float64).numpy()
        if isinstance(probabilities, Tensor)
        else np.asarray(probabilities, dtype=np.float64)
    )
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise MetricInputError(f"probabilities must be (N, classes) with N > 0, got {probs.shape}")
    if not 1 <= splits <= probs.shape[0]:
        raise MetricInputError(f"splits must be in [1, {probs.shape[0]}], got {splits}")
    scores = []
    for part in np.array_split(probs, splits):
        marginal = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0)
        scores.append(math.exp(float(terms.sum(axis=1).mean())))
    return float(np.mean(scores))


def frechet_distance(first: np.ndarray | Tensor, second: np.ndarray | Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two sets of embeddings.

    ``||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))`` with the sample means and
    covariances; the trace of the matrix square root is computed as the sum of the square roots
    of the eigenvalues of ``S_1^(1/2) S_2 S_1^(1/2)`` (symmetric, so no complex round-off).
    Units are squared embedding units; small sets bias it upwards, so compare values from
    equal set sizes.

    Args:
        first: ``(N, D)`` embeddings, N >= 2.
        second: ``(M, D)`` embeddings, M >= 2.

    Returns:
        The distance (>= 0; 0 for identical sets).
    """
    a, b = (
        x.detach().to("cpu", torch.float64).numpy() if isinstance(x, Tensor)
        else np.asarray(x, dtype=np.float64)
        for x in (first, second)
    )
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise MetricInputError(
            f"embeddings must be (N, D) with the same D, got {a.shape}, {b.shape}"
        )
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise MetricInputError("the Fréchet distance needs at least 2 embeddings per set")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eigval, eigvec = np.linalg.eigh(cov_a)
    root_a = (eigvec * np.sqrt(np.clip(eigval, 0.0, None))) @ eigvec.T
    middle = root_a @ cov_b @ root_a
    eig_middle = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_root = float(np.sum(np.sqrt(np.clip(eig_middle, 0.0, None))))
    mean_term = float(np.sum((mu_a - mu_b) ** 2))
    distance = mean_term + float(np.trace(cov_a) + np.trace(cov_b)) - 2.0 * trace_root
    return max(distance, 0.0)

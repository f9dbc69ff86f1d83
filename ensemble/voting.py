"""Majority vote of the ensemble members, with deterministic tie-breaking.

The rule, applied per sample:

1. every member votes for its argmax class; the class with the most votes wins;
2. if several classes share the most votes, the winner among *those classes only*
   is the one with the largest confidence summed over *all* members (the sum of
   every member's probability for that class) -- a class nobody voted for can
   never win, however much probability it collected;
3. if that is still an exact tie, the lowest class index wins.

Worked example, M = 5 members, C = 3 classes, one sample (rows = members)::

    probs = [[.6, .4, .0],    # votes 0
             [.5, .5, .0],    # exact tie inside one member: argmax takes index 0 -> votes 0
             [.1, .9, .0],    # votes 1
             [.2, .8, .0],    # votes 1
             [.0, .1, .9]]    # votes 2

    votes      = [2, 2, 1]            -> classes 0 and 1 tie with 2 votes each
    summed     = [1.4, 2.7, 0.9]      -> among {0, 1}, class 1 has more confidence
    prediction = 1, agreement = 2, confidence = 2.7 / 5 = 0.54

Everything is vectorised over samples (no Python loop); the cost is O(M * N * C).
"""
from __future__ import annotations

from typing import NamedTuple

import torch


class VoteResult(NamedTuple):
    """Outcome of `vote_details` for N samples voted on by M members."""

    prediction: torch.Tensor          # (N,) int64 winning class
    agreement: torch.Tensor           # (N,) int64 number of members that voted for the winner
    confidence: torch.Tensor          # (N,) float mean probability of the winner over all M
                                      #      members (summed probability / M, in [0, 1])
    member_predictions: torch.Tensor  # (M, N) int64 each member's argmax class


def _check(probs: torch.Tensor) -> torch.Tensor:
    if not isinstance(probs, torch.Tensor):
        probs = torch.as_tensor(probs)
    if probs.dim() != 3:
        raise ValueError(f"probs must have shape (members, samples, classes); got {tuple(probs.shape)}")
    if probs.shape[0] == 0 or probs.shape[2] == 0:
        raise ValueError(f"probs needs at least one member and one class; got {tuple(probs.shape)}")
    if not probs.is_floating_point():
        probs = probs.float()
    return probs


def vote_details(probs: torch.Tensor) -> VoteResult:
    """Vote on `probs` (M, N, C) -- each member's softmax output -- and explain the outcome."""
    probs = _check(probs)
    m, n, c = probs.shape
    member_pred = probs.argmax(dim=2)                                          # (M, N)
    # votes[n, k] = how many members chose class k for sample n
    votes = torch.zeros(n, c, dtype=torch.long, device=probs.device)
    votes.scatter_add_(1, member_pred.t(), torch.ones_like(member_pred.t()))   # (N, C)
    summed = probs.sum(dim=0)                                                  # (N, C)
    top = votes.max(dim=1, keepdim=True).values                                # (N, 1)
    # only the classes with the most votes compete on summed confidence
    contenders = summed.masked_fill(votes != top, float("-inf"))               # (N, C)
    # torch.argmax returns the first maximal index -> exact ties go to the lowest class
    pred = contenders.argmax(dim=1)                                            # (N,)
    agreement = votes.gather(1, pred[:, None]).squeeze(1)                      # (N,)
    confidence = summed.gather(1, pred[:, None]).squeeze(1) / m                # (N,)
    return VoteResult(pred, agreement, confidence, member_pred)


def majority_vote(probs: torch.Tensor) -> torch.Tensor:
    """The ensemble's class per sample, int64 (N,), for member probabilities (M, N, C)."""
    return vote_details(probs).prediction

"""The voting rule on hand-made probability tensors (M members, N samples, C classes)."""
import pytest
import torch

from ensemble.voting import majority_vote, vote_details

pytestmark = pytest.mark.mutation          # fast: part of the mutmut suite (README: Mutation testing)


def one_sample(rows):
    """(M, C) list of member probabilities -> (M, 1, C) tensor."""
    return torch.tensor(rows, dtype=torch.float32)[:, None, :]


def test_clear_majority_beats_confident_minority():
    probs = one_sample([[.40, .35, .25]] * 3 + [[0, 1, 0]] * 2)   # class 1 has more summed prob
    assert probs.sum(0)[0, 1] > probs.sum(0)[0, 0]
    assert majority_vote(probs).tolist() == [0]


def test_two_two_one_tie_decided_by_summed_confidence():
    probs = one_sample([[.6, .4, 0], [.55, .45, 0], [.1, .9, 0], [.2, .8, 0], [0, .1, .9]])
    r = vote_details(probs)
    assert r.prediction.tolist() == [1]
    assert r.agreement.tolist() == [2]
    assert r.confidence.item() == pytest.approx((.4 + .45 + .9 + .8 + .1) / 5)


def test_class_nobody_voted_for_never_wins():
    # class 2 collects the most probability overall but is nobody's argmax
    probs = one_sample([[.36, 0, .34, .30], [.36, 0, .34, .30],
                        [0, .36, .34, .30], [0, .30, .34, .36]])
    votes_for_2 = (probs.argmax(2) == 2).sum()
    assert votes_for_2 == 0 and probs.sum(0)[0].argmax() == 2
    assert majority_vote(probs).tolist() == [0]   # 0: 2 votes; 1 and 3: 1 vote each


def test_exact_tie_goes_to_lowest_index():
    probs = one_sample([[.0, .0, .7, .3], [.0, .0, .3, .7],
                        [.1, .9, .0, .0], [.9, .1, .0, .0]])  # four 1-vote classes, all sum 1.0
    assert majority_vote(probs).tolist() == [0]
    probs = one_sample([[0, 0, 1, 0], [0, 0, 0, 1]])
    assert majority_vote(probs).tolist() == [2]


def test_vectorised_over_samples_and_details():
    probs = torch.tensor([[[.9, .1], [.2, .8], [.5, .5]],
                          [[.8, .2], [.6, .4], [.5, .5]],
                          [[.7, .3], [.3, .7], [.5, .5]]])           # (M=3, N=3, C=2)
    r = vote_details(probs)
    assert r.prediction.tolist() == [0, 1, 0]
    assert r.agreement.tolist() == [3, 2, 3]
    assert torch.allclose(r.confidence, torch.tensor([.8, 1.9 / 3, .5]))
    assert r.member_predictions.shape == (3, 3)
    assert r.member_predictions[:, 1].tolist() == [1, 0, 1]
    assert r.prediction.dtype == torch.int64


def test_random_agrees_with_reference_loop():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(5, 500, 4, generator=g) * 2, dim=2)
    fast = majority_vote(probs)
    for i in range(probs.shape[1]):
        p = probs[:, i]
        votes = torch.bincount(p.argmax(1), minlength=4)
        best = [k for k in range(4) if votes[k] == votes.max()]
        summed = p.sum(0)
        want = max(best, key=lambda k: (summed[k].item(), -k))
        assert fast[i].item() == want


@pytest.mark.parametrize("bad", [torch.zeros(3, 4), torch.zeros(0, 2, 3)])
def test_bad_shape_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="member"):
        majority_vote(bad)


def test_lists_and_integer_probabilities_are_accepted():
    rows = [[[0, 1, 0]], [[0, 1, 0]], [[1, 0, 0]]]                  # one-hot votes, as lists
    r = vote_details(rows)
    assert r.prediction.tolist() == [1] and r.agreement.tolist() == [2]
    assert r.confidence.dtype.is_floating_point and r.confidence.item() == pytest.approx(2 / 3)
    assert torch.equal(vote_details(torch.tensor(rows)).prediction, r.prediction)   # int64 tensor


def test_a_single_class():
    r = vote_details(torch.ones(3, 4, 1))
    assert r.prediction.tolist() == [0] * 4 and r.agreement.tolist() == [3] * 4


def test_runs_on_the_tensors_device():
    """On the meta device (no data): every tensor the vote makes follows the input's device."""
    r = vote_details(torch.rand(5, 7, 3, device="meta"))
    assert all(t.device.type == "meta" for t in r) and r.prediction.shape == (7,)

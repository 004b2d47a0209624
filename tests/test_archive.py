import torch

from fooling.search import ClassArchive


def test_first_batch_fills_every_cell_with_its_best_image():
    a = ClassArchive(3)
    probs = torch.tensor([[0.2, 0.5, 0.3], [0.7, 0.1, 0.2], [0.1, 0.1, 0.8]])
    classes, winners = a.update(probs, 0)
    assert classes.tolist() == [0, 1, 2]
    assert winners.tolist() == [1, 0, 2]
    assert torch.equal(a.confidence, torch.tensor([0.7, 0.5, 0.8]))
    assert a.found.tolist() == [0, 0, 0]


def test_one_image_takes_every_class_it_strictly_beats():
    a = ClassArchive(3)
    a.update(torch.tensor([[0.5, 0.4, 0.1]]), 0)
    classes, winners = a.update(torch.tensor([[0.5, 0.45, 0.2], [0.1, 0.1, 0.15]]), 1)
    # class 0: 0.5 is not strictly better; class 1 and 2 go to image 0
    assert classes.tolist() == [1, 2]
    assert winners.tolist() == [0, 0]
    assert a.found.tolist() == [0, 1, 1]


def test_ties_within_a_batch_go_to_the_first_image():
    a = ClassArchive(1)
    a.update(torch.tensor([[0.1]]), 0)
    _, winners = a.update(torch.tensor([[0.3], [0.9], [0.9]]), 1)
    assert winners.tolist() == [1]


def test_threshold_crossings_are_recorded_once():
    a = ClassArchive(2, thresholds=(0.9, 0.99))
    a.update(torch.tensor([[0.95, 0.1]]), 0)
    a.update(torch.tensor([[0.999, 0.5]]), 3)
    a.update(torch.tensor([[0.9999, 0.991]]), 7)
    assert a.first_crossing.tolist() == [[0, 7], [3, 7]]
    assert a.counts() == [2, 2]


def test_state_round_trip():
    a = ClassArchive(4)
    a.update(torch.rand(5, 4), 0)
    b = ClassArchive(4)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.confidence, b.confidence)
    assert torch.equal(a.first_crossing, b.first_crossing)


def test_thresholds_compare_in_float64_not_in_float32():
    # float32(0.9999) = 0.99989998...: below 0.9999, and recorded as such in the files.
    a = ClassArchive(2)
    just_under = torch.tensor(0.9999, dtype=torch.float32)
    assert float(just_under) < 0.9999
    a.update(torch.stack([just_under, 1 - just_under])[None], generation=0)
    assert a.counts() == [1, 1, 0]  # >= 0.99 and 0.999 (their float32 lie above), not 0.9999
    assert a.first_crossing[:, 0].tolist() == [0, 0, -1]
    a.update(torch.tensor([[1.0, 0.0]]), generation=1)
    assert a.counts() == [1, 1, 1] and a.first_crossing[2, 0] == 1

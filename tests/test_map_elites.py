import torch

from fooling.encodings import DirectEncoding
from fooling.search import MapElites


def run(clf, seed=0, generations=30, batch=40):
    enc = DirectEncoding(channels=1, size=8)
    search = MapElites(enc, clf.num_classes, batch_size=batch, init_size=batch, seed=seed)
    for _ in range(generations + 1):
        genomes = search.ask()
        search.tell(genomes, clf.probs(enc.render(genomes)))
    return search


def test_brightness_class_is_driven_towards_certainty(brightness):
    s = run(brightness)
    assert float(s.archive.confidence[1]) > 0.9999
    assert float(s.archive.confidence[0]) > 0.9999


def test_every_patch_class_gets_a_confident_champion(patches):
    s = run(patches, generations=60)
    assert bool((s.archive.confidence > 0.99).all())


def test_champions_are_the_images_that_scored_their_confidence(patches):
    s = run(patches, generations=10)
    images = s.encoding.render(s.champions)
    rescored = patches.probs(images)
    assert torch.allclose(rescored.diagonal(), s.archive.confidence, atol=1e-6)


def test_confidence_never_drops_and_generation_counts(patches):
    enc = DirectEncoding(size=8)
    s = MapElites(enc, 4, batch_size=20, init_size=20, seed=3)
    last = torch.full((4,), -1.0)
    for g in range(15):
        genomes = s.ask()
        assert enc.count(genomes) == 20
        s.tell(genomes, patches.probs(enc.render(genomes)))
        assert bool((s.archive.confidence >= last).all())
        last = s.archive.confidence.clone()
        assert s.generation == g + 1


def test_parents_are_champions_drawn_uniformly_over_classes():
    # One genome holds 3 of 4 classes: it must be drawn about 3/4 of the time.
    enc = DirectEncoding(size=2, mutation_rate=0.0, crossover=False)
    s = MapElites(enc, 4, batch_size=4000, init_size=2, seed=0)
    a, b = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    s.tell(torch.cat([a, b]), torch.tensor([[0.9, 0.9, 0.9, 0.1], [0.1, 0.1, 0.1, 0.9]]))
    parents = s.ask()
    share_a = float((parents.flatten(1).sum(1) == 0).float().mean())
    assert abs(share_a - 0.75) < 0.03


def test_same_seed_same_search_and_state_round_trip(patches):
    a, b = run(patches, seed=5, generations=8), run(patches, seed=5, generations=8)
    assert torch.equal(a.champions, b.champions)
    assert torch.equal(a.archive.confidence, b.archive.confidence)
    c = MapElites(DirectEncoding(size=8), 4, batch_size=40, init_size=40, seed=99)
    c.load_state_dict(a.state_dict(), a.champions.clone())
    for s in (a, c):
        g = s.ask()
        s.tell(g, patches.probs(s.encoding.render(g)))
    assert torch.equal(a.champions, c.champions)

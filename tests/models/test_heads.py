"""Model heads (``cts.models.heads``) on hand-made batches."""

import pytest


def test_segment_means_and_event_sum_on_a_hand_made_batch():
    import torch

    from cts.models.heads import EventSum, segment_means

    hidden = torch.arange(12, dtype=torch.float32).reshape(1, 6, 2)  # tokens: [CLS] e1 e1 e2 [SEP] pad
    vectors, hours, present = segment_means(hidden, torch.tensor([[0, 1, 1, 2, 0, 0]]),
                                            torch.tensor([[0.0, -48.0, -48.0, 3.0, 0.0, 0.0]]))
    assert torch.equal(vectors, torch.tensor([[[3.0, 4.0], [6.0, 7.0]]]))
    assert torch.equal(hours, torch.tensor([[-48.0, 3.0]])) and present.tolist() == [[True, True]]
    torch.manual_seed(0)
    summed = EventSum(2, dim=4, time_dim=8).eval()
    one = summed(vectors, hours, present)
    padded = summed(torch.cat([vectors, torch.ones(1, 3, 2)], 1), torch.cat([hours, torch.ones(1, 3)], 1),
                    torch.tensor([[True, True, False, False, False]]))
    assert torch.allclose(one, padded)  # absent events add nothing
    twice = summed(torch.cat([vectors, vectors], 1), torch.cat([hours, hours], 1), torch.ones(1, 4, dtype=bool))
    assert torch.allclose(twice, 2 * one)  # a sum: the count of an event is seen
    later = summed(vectors, hours + torch.tensor([[0.0, 200.0]]), present)
    assert not torch.allclose(later, one)  # and when it happened


def test_time_encoding_defaults_and_sizes():
    from cts.models.heads import TimeEncoding

    default = TimeEncoding()
    assert (default.kind, default.dim) == ("bins", 50)
    assert TimeEncoding("none", 50).dim == 0 and TimeEncoding("loghours", 7).dim == 7


def test_derived_buffers_are_not_saved_in_checkpoints():
    """The bin edges and the frequencies are recomputed from the code: a checkpoint holds learned weights only."""
    from cts.models.heads import TimeEncoding

    assert set(TimeEncoding("bins", 4).state_dict()) == {"embedding.weight"}
    assert set(TimeEncoding("sinusoidal", 4).state_dict()) == set()
    assert set(TimeEncoding("loghours", 4).state_dict()) == set()


def test_sinusoidal_code_by_hand():
    """dim 4: two frequencies, 2π/0.5 and 2π/40 (periods of half a log-unit to 40), then sin and cos of each."""
    import math

    import torch

    from cts.models.heads import TimeEncoding

    hours = torch.tensor([-100.0, 0.0, 3.0, 8760.0])
    code = TimeEncoding("sinusoidal", 4)(hours)
    frequencies = [2 * math.pi / 0.5, 2 * math.pi / 40]
    for row, h in enumerate(hours.tolist()):
        x = math.copysign(math.log1p(abs(h)), h)
        expected = [math.sin(x * f) for f in frequencies] + [math.cos(x * f) for f in frequencies]
        assert code[row].tolist() == pytest.approx(expected, abs=1e-5)
    three = TimeEncoding("sinusoidal", 6)(hours)  # three frequencies: 2π/0.5, the geometric middle, 2π/40
    middle = math.sqrt(frequencies[0] * frequencies[1])
    assert three[:, 1].tolist() == pytest.approx([math.sin(math.copysign(math.log1p(abs(h)), h) * middle)
                                                  for h in hours.tolist()], abs=1e-4)


def test_pooling_modes_on_a_hand_made_batch():
    import torch

    from cts.models.heads import pool

    hidden = torch.arange(18, dtype=torch.float32).reshape(3, 3, 2)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1]])
    assert pool(hidden, mask, "cls").tolist() == [[0, 1], [6, 7], [12, 13]]
    assert pool(hidden, mask, "last").tolist() == [[2, 3], [6, 7], [16, 17]]  # last non-pad token
    assert pool(hidden, mask, "mean").tolist() == [[1, 2], [6, 7], [14, 15]]  # over non-pad tokens
    pooled = torch.ones(3, 2)
    assert pool(hidden, mask, "pooler", pooler_output=pooled) is pooled
    message = r"^pooling=pooler needs a backbone with a pooler \(BERT\); use cls, last or mean$"
    with pytest.raises(ValueError, match=message):
        pool(hidden, mask, "pooler")
    empty = torch.zeros(3, 3, dtype=torch.long)  # a row of padding only: the first token, and a mean of nothing
    assert pool(hidden, empty, "last").tolist() == [[0, 1], [6, 7], [12, 13]]
    assert pool(hidden, empty, "mean").tolist() == [[0, 0], [0, 0], [0, 0]]


def test_segment_means_of_a_batch_without_tokens():
    import torch

    from cts.models.heads import segment_means

    vectors, hours, present = segment_means(torch.zeros(2, 0, 3), torch.zeros(2, 0, dtype=torch.long),
                                            torch.zeros(2, 0))
    assert (vectors.shape, hours.shape, present.shape) == ((2, 0, 3), (2, 0), (2, 0))


def test_event_sum_defaults_relu_and_dropout():
    import torch

    from cts.models.heads import EventSum

    summed = EventSum(3)
    assert (summed.dim, summed.time.kind, summed.time.dim) == (64, "loghours", 16)
    torch.manual_seed(0)
    vectors, hours, present = torch.randn(4, 5, 3), torch.randn(4, 5) * 100, torch.ones(4, 5, dtype=torch.bool)
    summed.eval()
    assert (summed(vectors, hours, present) >= 0).all()  # a sum of ReLU outputs
    assert torch.equal(summed(vectors, hours, present), summed(vectors, hours, present))
    codes = summed.time(hours.reshape(-1)).reshape(4, 5, -1)
    per_event = summed.net(torch.cat([vectors, codes], dim=-1))
    assert torch.allclose(summed(vectors, hours, present), per_event.sum(dim=1) / 10)  # kept near a unit's scale
    summed.train()
    assert not torch.equal(summed(vectors, hours, present), summed(vectors, hours, present))  # dropout


def test_event_sum_max_adds_each_feature_s_maximum_over_present_events():
    import torch

    from cts.models.heads import EventSum

    torch.manual_seed(0)
    both = EventSum(3, dim=8, reduce="sum_max").eval()
    assert both.dim == 16
    vectors, hours = torch.randn(2, 4, 3), torch.randn(2, 4) * 50
    present = torch.tensor([[True, True, True, False], [True, False, False, False]])
    codes = both.time(hours.reshape(-1)).reshape(2, 4, -1)
    per_event = both.net(torch.cat([vectors, codes], dim=-1)) * present[..., None]
    out = both(vectors, hours, present)
    assert torch.allclose(out[:, :8], per_event.sum(1) / 10)
    assert torch.allclose(out[:, 8:], per_event.amax(1))
    assert torch.allclose(out[1, 8:], per_event[1, 0])  # one event: its own features, the padding never wins
    repeated = both(torch.cat([vectors, vectors], 1), torch.cat([hours, hours], 1), torch.cat([present, present], 1))
    assert torch.allclose(repeated[:, 8:], out[:, 8:]) and torch.allclose(repeated[:, :8], 2 * out[:, :8])
    assert torch.equal(both(vectors[:, :0], hours[:, :0], present[:, :0]), torch.zeros(2, 16))  # no event at all
    with pytest.raises(ValueError, match="event reduction must be one of"):
        EventSum(3, reduce="mean")


def test_classification_head_is_a_nonlinear_mlp_with_dropout():
    import torch

    from cts.models.heads import ClassificationHead

    torch.manual_seed(0)
    assert ClassificationHead(4, 3).net[0].out_features == 256
    head = ClassificationHead(4, 3, hidden=16).eval()
    x, zero = torch.randn(8, 4), torch.zeros(1, 4)
    assert head(x).shape == (8, 3)
    assert not torch.allclose(head(x) + head(-x), 2 * head(zero))  # a linear map would make these equal
    head.train()
    assert not torch.equal(head(x), head(x))

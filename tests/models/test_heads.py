"""Model heads (``cts.models.heads``) on hand-made batches."""


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

"""task=forecast's test-end evaluation on the demo: the baselines, hour MAE compared as a second target, and the
upper bound from nextevent's ceiling at each window's hypothesis."""

import lightning as L

from cts.data.event_table import read_event_table
from cts.tasks.nextevent.build import build_sequences
from cts.training.metrics import normalize_event
from tests.training.helpers import built, compose_train, tiny


def test_demo_windows_get_the_generator_s_bound_at_their_hypothesis_and_an_hour_comparison(train_data, tmp_path):
    cfg = compose_train(tiny(train_data, "forecast", tmp_path, "gpt", "task.eval_limit=8"), tmp_path)
    datamodule, module = built(cfg)
    L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False).test(module, datamodule=datamodule)
    probes = module.probes["test"]
    # each window's position is its hypothesis's index in its admission, as nextevent's sequences hold it
    sequences = build_sequences(read_event_table(train_data / "events_normalized.parquet")).set_index("hadm_id")
    for probe in probes:
        assert normalize_event(str(sequences.loc[probe["group"], "events"][probe["position"]])) == \
            normalize_event(probe["event"])
    summary = module.test_evaluation(datamodule).summarize(n_resamples=50)
    bound, baselines = summary["ceiling"], summary["baselines"]
    assert {"test/exact_match", "test/exact_match_tied"} <= set(bound)
    assert bound["test/exact_match_tied"] >= max(baselines["bigram_unseen"]["test/exact_match_tied"],
                                                 baselines["most_frequent"]["test/exact_match_tied"])
    assert summary["gap_closed"]["metric_name"] == "test/exact_match_tied"
    assert [block["metric_name"] for block in summary["also_compared"]] == ["test/hours_mae"]
    # a dataset that is not the demo gets no bound
    datamodule.data_dir = tmp_path / "elsewhere" / "tasks" / "forecast"
    assert module.test_evaluation(datamodule).ceiling == {}

"""Every file written for people: run and sweep reports, transfer tables, the dataset card, timelines and the
annotation evaluation pages, with the figures they embed. One page template (``html``), one escaping rule
(``escape``), one figure style (``cts.viz.figures``).

Reports only read results (computed in ``cts.data``, ``cts.annotation`` and ``cts.training``); only stage functions
and entry points import them (the layer contracts in pyproject.toml, checked by tests/project/test_layers.py)."""

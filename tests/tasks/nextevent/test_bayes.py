"""The exact Bayes predictor of a block generator (cts.tasks.nextevent.bayes) and the demo generator read as one
(cts.tasks.nextevent.ceiling.demo_generator): values computed by hand, and the demo's own simulated admissions."""

import math

import pytest

from cts.tasks.nextevent.bayes import Block, BlockGenerator, ExactBayes, IIDRole, TableRole
from cts.tasks.nextevent.ceiling import _visible, demo_ceiling, simulate_demo
from cts.training.metrics import normalize_event

# -- roles and blocks by hand ----------------------------------------------------------------------------------------


def two_by_two():
    # 1 or 2 slots (1/2 each) at time 1 or 2 (1/2 each): sorted (1) .25, (2) .25, (1,1) .125, (1,2) .25, (2,2) .125
    return IIDRole({1: 0.5, 2: 0.5}, {1.0: 0.5, 2.0: 0.5})


def test_iid_role_prefix_probabilities_by_hand():
    role = two_by_two()
    assert role.starts((), -math.inf, True) == pytest.approx(1.0)
    assert role.starts((1.0,), 1.0, True) == pytest.approx(0.25 + 0.125 + 0.25)  # (1), (1,1), (1,2)
    assert role.starts((1.0,), 1.0, False) == pytest.approx(0.25 + 0.25)  # (1), (1,2): nothing else at 1
    assert role.starts((2.0,), 2.0, True) == pytest.approx(0.25 + 0.125)
    assert role.starts((1.0, 2.0), 2.0, True) == pytest.approx(0.25)
    assert role.exact((1.0,)) == pytest.approx(0.25) and role.exact((1.0, 1.0)) == pytest.approx(0.125)
    assert role.exact((1.0, 2.0)) == pytest.approx(0.25) and role.starts((3.0,), 3.0, True) == 0.0


def test_table_role_equals_the_iid_role_it_enumerates():
    table = TableRole({(1.0,): 0.25, (2.0,): 0.25, (1.0, 1.0): 0.125, (1.0, 2.0): 0.25, (2.0, 2.0): 0.125})
    iid = two_by_two()
    for prefix in [(), (1.0,), (2.0,), (1.0, 1.0), (1.0, 2.0)]:
        for threshold in (1.0, 2.0):
            for inclusive in (True, False):
                if prefix and prefix[-1] > threshold:
                    continue
                assert table.starts(prefix, threshold, inclusive) == pytest.approx(iid.starts(prefix, threshold,
                                                                                            inclusive))
        assert table.exact(prefix) == pytest.approx(iid.exact(prefix))


def test_block_orders_slots_at_one_time_by_role_rank():
    # role a: one slot at 1; role b: one slot at 1 or 2 (1/2 each); at time 1 a comes before b
    block = Block({"a": IIDRole({1: 1.0}, {1.0: 1.0}), "b": IIDRole({1: 1.0}, {1.0: 0.5, 2.0: 0.5})}, "ab")
    assert block.starts(((1.0, "a"),)) == pytest.approx(1.0)
    assert block.starts(((1.0, "b"),)) == 0.0  # b at 1 would follow a at 1
    assert block.starts(((1.0, "a"), (1.0, "b"))) == pytest.approx(0.5)
    assert block.exact(((1.0, "a"), (2.0, "b"))) == pytest.approx(0.5)
    assert block.starts(((1.0, "a"),), after=(1.0, 2)) == pytest.approx(0.5)  # the rest strictly after 1 h


# -- a two-latent generator by hand ----------------------------------------------------------------------------------


def toy_generator():
    """g = A or B (1/2 each). Block 0: one 'first' slot at 0 h, its event from {a, b} under A, {a, d} under B. Block 1:
    under A 1 or 2 (1/2 each) 'second' slots at 1 or 2 h (1/2 each) from {c, e}; under B one at 1 h: f."""
    first = Block({"first": IIDRole({1: 1.0}, {0.0: 1.0})}, "first")
    second = {"A": Block({"second": IIDRole({1: 0.5, 2: 0.5}, {1.0: 0.5, 2.0: 0.5})}, "A"),
              "B": Block({"second": IIDRole({1: 1.0}, {1.0: 1.0})}, "B")}
    pools = {("A", "first"): {"a", "b"}, ("B", "first"): {"a", "d"}, ("A", "second"): {"c", "e"},
             ("B", "second"): {"f"}}
    return BlockGenerator(
        prior={"A": 0.5, "B": 0.5}, blocks=lambda g, history: [first, second[g]],
        block_of=lambda t: 0 if t <= 0 else 1,
        roles=lambda g, t, e: [r for r in (("first",) if t <= 0 else ("second",)) if e in pools[(g, r)]],
        pool=lambda g, role: frozenset(pools[(g, role)]), depends=lambda g, block: g)


def test_exact_posterior_next_line_and_ties_by_hand():
    bayes = ExactBayes(toy_generator())
    posterior, law, tie = bayes.predict_admission([(0.0, "a"), (1.0, "c")], [1])[1]
    assert posterior == pytest.approx({"A": 0.5, "B": 0.5})  # a is 1/2 under both
    # A: first 'second' slot at 1 h w.p. 1/2·1/2 + 1/2·3/4 = 5/8, at 2 h 3/8, its event c or e; B: f at 1 h
    assert law == pytest.approx({(1.0, "f"): 0.5, (1.0, "c"): 5 / 32, (1.0, "e"): 5 / 32, (2.0, "c"): 3 / 32,
                                 (2.0, "e"): 3 / 32})
    # ties under A: E[slots at the next time] = 3/4 (next at 1 h) + 1/2 (next at 2 h) = 5/4, over 2 events
    assert tie == pytest.approx({"f": 0.5, "c": 0.5 * 5 / 8, "e": 0.5 * 5 / 8})
    ranked, ranked_tied, line_bits, event_bits = bayes.score(law, tie, (1.0, "c"), k=2)
    assert ranked == ["f", "c"] and ranked_tied == ["f", "c"]  # c and e tie: alphabetical
    assert line_bits == pytest.approx(-math.log2(5 / 32), rel=1e-4) and event_bits == pytest.approx(2.0, rel=1e-4)


def test_exact_law_after_the_latent_is_known_is_conditioned_on_a_next_line():
    bayes = ExactBayes(toy_generator())
    posterior, law, tie = bayes.predict_admission([(0.0, "a"), (1.0, "c"), (2.0, "e")], [2])[2]
    assert posterior == pytest.approx({"A": 1.0})  # c is impossible under B: B drops out
    # A, block 1 started with one slot at 1 h (5/8): another at 1 h 1/8, at 2 h 2/8, none 2/8; a next line exists
    assert law == pytest.approx({(1.0, "e"): 1 / 3, (2.0, "e"): 2 / 3})
    assert tie == pytest.approx({"e": 1.0})
    assert bayes.predict_admission([(0.0, "d"), (1.0, "f")], [1])[1][0] == pytest.approx({"B": 1.0})


# -- the demo generator ----------------------------------------------------------------------------------------------


def test_a_repeated_pick_is_dropped_hypergeometrically():
    # 0-2 complications of 4, one of which (atrial fibrillation) is already a chronic condition: c=1 loses it w.p.
    # 1/4, c=2 w.p. 1/2
    assert _visible(4, 1, 0, 2) == pytest.approx({0: 1 / 3 + 1 / 12, 1: 1 / 4 + 1 / 6, 2: 1 / 6})
    assert _visible(4, 0, 0, 2) == pytest.approx({0: 1 / 3, 1: 1 / 3, 2: 1 / 3})


def test_demo_first_line_by_hand():
    bayes = demo_ceiling()
    law = bayes.predict_admission([(-8760.0 * 24, "hypertension")], [0])[0][1]
    # the earliest line is a chronic condition 24 years back iff one of the k ~ U{2..5} conditions drew year 24;
    # the condition is any of the 19 of the sex's pool (hypertension is in both)
    p24 = sum(0.25 * (1 - (23 / 24) ** k) for k in range(2, 6))
    assert law[(-8760.0 * 24, "hypertension")] == pytest.approx(p24 / 19)
    assert law[(-8760.0 * 24, "breast cancer")] == pytest.approx(p24 / 19 / 2)  # women only
    assert sum(law.values()) == pytest.approx(1.0)


def test_demo_simulated_admissions_are_possible_and_the_laws_are_distributions():
    bayes = demo_ceiling()
    for scenario, lines in simulate_demo(12, 31):
        lines = [(t, normalize_event(e)) for t, e in lines]
        out = bayes.predict_admission(lines, range(1, len(lines)))
        for position, (_, law, tie) in out.items():
            assert law[lines[position]] > 0  # the generator's own line is never impossible
            assert sum(law.values()) == pytest.approx(1.0)
            assert tie[lines[position][1]] >= law[lines[position]] - 1e-12  # the next line is among its ties
        assert out[len(lines) - 1][0][scenario] > 0.99  # by the last line the scenario is known
        g = next(g for g in bayes.generator.prior if g[0] == scenario)
        for position in range(len(lines)):
            slots = bayes.slot_law(g, lines[:position])
            if slots:
                assert sum(slots.values()) == pytest.approx(1.0)

"""A batch's minute deltas: per cell, the signed sum of its events' contributions, zero cells left out."""

from hypothesis import given
from hypothesis import strategies as st

from streams.satisfaction.contributions import COUNT_COLUMNS
from streams.sinks.checkpoints import MinuteDeltas, count_rows

cells = st.tuples(st.sampled_from([0, 60, 120]), st.sampled_from(["web", "kiosk"]), st.just("t"),
                  st.just("usage"), st.just(""), st.just(""), st.just(""))
counts = st.tuples(*[st.integers(0, 5)] * len(COUNT_COLUMNS))


@given(st.lists(st.tuples(cells, counts, st.sampled_from([1, -1])), max_size=40))
def test_each_cell_holds_the_signed_sum_of_its_contributions(parts: list) -> None:
    deltas = MinuteDeltas()
    expected: dict = {}
    for cell, values, sign in parts:
        deltas.add(cell, values, sign)
        known = expected.setdefault(cell, [0] * len(COUNT_COLUMNS))
        for i, v in enumerate(values):
            known[i] += sign * v
    assert {cell: list(v) for cell, v in deltas.cells.items()} == expected
    rows = count_rows(deltas)
    assert {row[:7]: list(row[8:-1]) for row in rows} == {c: v for c, v in expected.items() if any(v)}
    assert all(row[7] == "" and row[-1] == 0 for row in rows)


def test_an_event_taken_out_again_leaves_no_row() -> None:
    deltas = MinuteDeltas()
    cell = (60, "web", "t", "usage", "", "", "")
    deltas.add(cell, (1,) * len(COUNT_COLUMNS))
    deltas.add(cell, (1,) * len(COUNT_COLUMNS), -1)
    assert count_rows(deltas) == []

"""Which SRV record SIPE uses: libpurple's sort, predicted exactly (reference §1.3); no network.

The reference model below walks libpurple 2.x's steps one by one (``dnssrv.c``: each parsed
record is prepended, the list is sorted stably by priority then weight, and the lowest priority
is ordered by a weighted draw of ``r`` in 1…sum, or ``r = 0`` when the weights add up to 0) and
counts, for every possible ``r``, which record comes first. :func:`sipe_srv_chances` must give
the same distribution.
"""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from sipe_setup.core.account import Transport
from sipe_setup.core.discovery import DnsQueryResult, QueryOutcome, QueryPurpose, RecordType
from sipe_setup.core.discovery.dns import list_some, srv_pick_sentence
from sipe_setup.core.discovery.model import SrvTarget
from sipe_setup.core.discovery.plan import sipe_connect_port, sipe_srv_chances


def libpurple_first(records: list[tuple[int, int]]) -> dict[int, Fraction]:
    """{index in the answer: chance it is first after libpurple's sort} — step by step."""
    parsed = list(reversed(list(enumerate(records))))  # g_list_prepend while parsing
    parsed.sort(key=lambda item: (item[1][0], item[1][1]))  # g_list_sort: stable
    best = parsed[0][1][0]
    group = [item for item in parsed if item[1][0] == best]
    total = sum(weight for _, (_, weight) in group)
    if total == 0:  # r = 0: the first of the group
        return {group[0][0]: Fraction(1)}
    first: dict[int, Fraction] = {}
    for r in range(1, total + 1):  # g_random_int_range(1, total + 1), each r equally likely
        running = 0
        for index, (_, weight) in group:
            running += weight
            if r <= running:
                first[index] = first.get(index, Fraction(0)) + Fraction(1, total)
                break
    return first


def as_fractions(chances: tuple[float, ...]) -> dict[int, Fraction]:
    return {i: Fraction(c).limit_denominator(10_000) for i, c in enumerate(chances) if c > 0}


@pytest.mark.parametrize(("records", "expected"), [
    ([(0, 0)], {0: 1}),
    ([(0, 100)], {0: 1}),
    ([(20, 0), (10, 0), (30, 0)], {1: 1}),  # lowest priority, whatever the order
    ([(10, 0), (10, 0), (10, 0)], {2: 1}),  # all weights 0: the last as returned
    ([(10, 0), (10, 0), (5, 0), (10, 0)], {2: 1}),
    ([(10, 50), (10, 50), (10, 0), (20, 100)], {0: 0.5, 1: 0.5}),  # weight 0: never
    ([(10, 10), (10, 60)], {0: 1 / 7, 1: 6 / 7}),
    ([(10, 0), (10, 1)], {1: 1}),
])
def test_chances_of_typical_answers(records: list[tuple[int, int]],
                                    expected: dict[int, float]) -> None:
    chances = sipe_srv_chances(records)
    assert {i: c for i, c in enumerate(chances) if c > 0} == pytest.approx(expected)
    assert sum(chances) == pytest.approx(1)


def test_no_records_no_chances() -> None:
    assert sipe_srv_chances([]) == ()


@pytest.mark.parametrize("seed", range(200))
def test_chances_equal_libpurples_procedure(seed: int) -> None:
    rng = random.Random(seed)
    records = [(rng.choice((0, 10, 20)), rng.choice((0, 0, 1, 5, 10, 60)))
               for _ in range(rng.randint(1, 7))]
    assert as_fractions(sipe_srv_chances(records)) == libpurple_first(records), records


@pytest.mark.parametrize(("port", "transport", "expected"), [
    (0, Transport.TCP, 5060), (0, Transport.TLS, 5061), (0, Transport.AUTO, 5061),
    (443, Transport.TLS, 443), (5070, Transport.TCP, 5070)])
def test_srv_port_0_is_the_default_port(port: int, transport: Transport, expected: int) -> None:
    assert sipe_connect_port(port, transport) == expected


def _targets(*records: tuple[int, int, str], read: int | None = None) -> tuple[SrvTarget, ...]:
    read = len(records) if read is None else read
    chances = sipe_srv_chances([(p, w) for p, w, _ in records[:read]])
    chances += (0.0,) * (len(records) - read)
    return tuple(SrvTarget(p, w, 5061, t, sipe_chance=chances[i], sipe_reads=i < read,
                           position=i, sipe_uses=chances[i] == max(chances))
                 for i, (p, w, t) in enumerate(records))


@pytest.mark.parametrize(("records", "read", "words"), [
    ([(0, 0, "pool")], None, "SIPE uses pool:5061."),
    ([(20, 0, "b"), (10, 0, "a")], None,
     "SIPE uses a:5061, the record with the lowest priority (10); libpurple sorts the answer "
     "by priority; it never tries the other records of this name (a failure moves on to the "
     "next SRV name)."),
    ([(10, 30, "a"), (10, 10, "b")], None,
     "SIPE uses one of these, picked at random by weight each time it signs in (libpurple, "
     "RFC 2782): a:5061 (weight 30, 75 %), b:5061 (weight 10, 25 %)."),
    ([(10, 0, "a"), (10, 0, "b")], None, "the last of them as returned first"),
    ([(10, 0, "a"), (10, 5, "b")], None,
     "SIPE uses b:5061: of the records of its priority 10 only it has a weight above 0"),
    ([(0, 0, "a"), (0, 0, "b"), (0, 0, "c")], 2, "SIPE sees 2 of its 3 records."),
])
def test_the_pick_in_words(records: list[tuple[int, int, str]], read: int | None,
                           words: str) -> None:
    assert words in srv_pick_sentence(_targets(*records, read=read))


def test_a_query_result_says_one_of_these_and_keeps_its_json_records() -> None:
    targets = _targets((10, 30, "a"), (10, 10, "b"), (20, 5, "c"))
    result = DnsQueryResult("_sip._tls.example.test", RecordType.SRV, QueryPurpose.SRV,
                            QueryOutcome.ANSWER, srv_targets=targets)
    assert result.sipe_srv_random
    assert [t.target for t in result.sipe_srv_choices] == ["a", "b"]
    assert result.sipe_srv_target is not None and result.sipe_srv_target.target == "a"
    document = result.to_json()
    assert [c["target"] for c in document["sipe_choices"]] == ["a", "b"]
    assert set(document["records"][0]) == {"priority", "weight", "port", "target", "sipe_uses"}
    a_record = DnsQueryResult("a.example.test", RecordType.A, QueryPurpose.SRV_TARGET,
                              QueryOutcome.ANSWER, addresses=("127.0.0.1",))
    assert "sipe_choices" not in a_record.to_json() and not a_record.sipe_srv_random


def test_long_lists_are_bounded() -> None:
    assert list_some(["a", "b", "c"]) == "a, b, c"
    assert list_some([str(i) for i in range(10)], shown=3) == "0, 1, 2 and 7 more"

"""The expert draw algorithm: determinism, fairness, replacements, verification, the published
reference implementation (executed from docs/draw-algorithm.md) and speed on a large pool."""

from __future__ import annotations

import contextlib
import hashlib
import io
import random
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from expert_pool.draw_algorithm import (
    Answer,
    Draw,
    DrawCall,
    DrawError,
    DrawLog,
    DrawMismatch,
    Snapshot,
    SpecialtyOrder,
    VenueDraw,
    VenueSnapshot,
    call_sequence,
    check_quotas,
    check_venue_quotas,
    new_seed,
    run_draw,
    run_venue_draw,
    seed_commitment,
    seed_from_hex,
    snapshot_bytes,
    snapshot_commitment,
    venue_call_sequence,
    venue_snapshot_bytes,
    verify_draw,
    verify_venue_draw,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "draw-algorithm.md"

EXAMPLE_SEED = bytes(range(32))
EXAMPLE_POOL = {"A04": ["E001", "E002", "E003", "E004", "E005"], "C02": ["E001", "E003", "E006", "E007"]}
EXAMPLE_QUOTAS = {"A04": 2, "C02": 1}
EXAMPLE_SEED_COMMITMENT = "90f811a92def8a0e7d11a7c18117df734a49de785a042f75e547524dee44db56"
EXAMPLE_SNAPSHOT_COMMITMENT = "a0356ebe97bdb767d4b7e0fd73ffe57bb0f224591b5d57073631cb70fab9df1a"
EXAMPLE_ORDERS = {"A04": ["E004", "E003", "E002", "E005", "E001"], "C02": ["E003", "E007", "E006", "E001"]}
EXAMPLE_LOG = [
    ("A04", "E004", "declined"),
    ("A04", "E003", "accepted"),
    ("A04", "E002", "accepted"),
    ("C02", "E007", "no_answer"),
    ("C02", "E006", "accepted"),
]
# E003 accepted, then recused at the evaluation; E005 is the next of the A04 order
RECUSED_LOG = EXAMPLE_LOG[:1] + [("A04", "E003", "recused")] + EXAMPLE_LOG[2:] + [("A04", "E005", "accepted")]


def seed_for(label: object) -> bytes:
    return hashlib.sha256(f"test seed {label}".encode()).digest()


def verify(seed, snapshot, quotas, calls, *, committed_seed=None, committed_snapshot=None):
    snapshot = Snapshot(snapshot) if not isinstance(snapshot, Snapshot) else snapshot
    return verify_draw(
        seed, snapshot, quotas, calls,
        seed_commitment_hex=committed_seed or seed_commitment(seed),
        snapshot_commitment_hex=committed_snapshot or snapshot.commitment,
    )


def random_pool(rng: random.Random, codes=("A04", "B11", "C02"), size=40) -> dict[str, list[str]]:
    experts = [f"E{n:06d}" for n in rng.sample(range(1_000_000), size)]
    pool = {code: [e for e in experts if rng.random() < 0.5] for code in codes}
    return {code: ids for code, ids in pool.items() if ids}


def respond_at_random(rng: random.Random):
    return lambda code, expert_id: rng.choice(
        [Answer.ACCEPTED, Answer.ACCEPTED, Answer.DECLINED, Answer.NO_ANSWER])


# ----------------------------------------------------------------------------- seed


def test_seed_generation_and_commitment():
    seeds = {new_seed() for _ in range(10)}
    assert len(seeds) == 10 and all(len(seed) == 32 for seed in seeds)
    assert seed_commitment(EXAMPLE_SEED) == EXAMPLE_SEED_COMMITMENT
    assert seed_commitment(EXAMPLE_SEED) == hashlib.sha256(b"bidhall draw seed v1\x00" + EXAMPLE_SEED).hexdigest()
    assert seed_from_hex(EXAMPLE_SEED.hex().upper()) == EXAMPLE_SEED


@pytest.mark.parametrize("seed", [b"", b"x" * 31, b"x" * 33, "00" * 32, None])
def test_bad_seed_is_refused(seed):
    with pytest.raises(DrawError, match="seed"):
        seed_commitment(seed)
    with pytest.raises(DrawError, match="seed"):
        call_sequence(seed, EXAMPLE_POOL, EXAMPLE_QUOTAS)


def test_seed_from_bad_hex():
    with pytest.raises(DrawError):
        seed_from_hex("zz" * 32)
    with pytest.raises(DrawError, match="32 bytes"):
        seed_from_hex("00" * 31)


# ----------------------------------------------------------------------------- snapshot


def test_snapshot_is_canonical_and_order_independent():
    rng = random.Random(7)
    pool = random_pool(rng)
    shuffled = {code: rng.sample(ids, len(ids)) for code, ids in reversed(list(pool.items()))}
    by_expert: dict[str, list[str]] = {}
    for code, ids in pool.items():
        for expert_id in ids:
            by_expert.setdefault(expert_id, []).append(code)
    variants = [
        Snapshot(pool),
        Snapshot(shuffled),
        Snapshot({code: set(ids) for code, ids in pool.items()} | {"Z99": []}),  # empty dropped
        Snapshot.from_experts(by_expert),
        Snapshot.from_experts({e: list(reversed(codes)) * 2 for e, codes in by_expert.items()}),
    ]
    assert all(variant == variants[0] for variant in variants)
    assert len({snapshot_bytes(v) for v in variants}) == 1
    assert len({snapshot_commitment(v) for v in variants}) == 1
    snapshot = variants[0]
    assert snapshot.codes == tuple(sorted(pool))
    assert all(list(snapshot.experts(code)) == sorted(ids) for code, ids in pool.items())
    assert snapshot_commitment(pool) == snapshot.commitment  # a plain mapping works too
    assert snapshot.commitment == hashlib.sha256(snapshot_bytes(snapshot)).hexdigest()
    assert Snapshot({"A04": ["E1"]}) != Snapshot({"A04": ["E2"]})


def test_snapshot_bytes_are_the_documented_lines():
    data = snapshot_bytes(EXAMPLE_POOL)
    lines = data.decode("ascii").split("\n")
    assert lines[0] == "bidhall draw snapshot v1" and lines[-1] == ""
    assert lines[1:-1] == [f"{code}\t{e}" for code in sorted(EXAMPLE_POOL) for e in sorted(EXAMPLE_POOL[code])]
    block = re.search(r"```\n(bidhall draw snapshot v1\n.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None and block.group(1).encode("ascii") == data
    assert snapshot_commitment(EXAMPLE_POOL) == EXAMPLE_SNAPSHOT_COMMITMENT


def test_snapshot_lines_and_bytes_match_the_plain_formula():
    # The commitment is hashed from each code's joined ids; it must be the documented lines.
    rng = random.Random(11)
    for round_number in range(30):
        width = rng.choice([None, 1, 4, 9, 128])  # None: ids of mixed lengths
        pool = {
            code: list({"".join(rng.choice("ABCdef0129-_~!") for _ in range(width or rng.randint(1, 128)))
                        for _ in range(rng.randint(1, 40))})
            for code in rng.sample(["A04", "B11", "C02", "Z9"], rng.randint(1, 4))
        }
        snapshot = Snapshot(pool)
        plain = b"bidhall draw snapshot v1\n" + "".join(
            f"{code}\t{expert}\n" for code in sorted(pool) for expert in sorted(pool[code])).encode("ascii")
        assert snapshot_bytes(snapshot) == plain, round_number
        assert snapshot.commitment == hashlib.sha256(plain).hexdigest()
        assert snapshot.as_lines() == {code: "\n".join(sorted(ids)) for code, ids in sorted(pool.items())}
        assert Snapshot({code: lines.split("\n") for code, lines in snapshot.as_lines().items()}) == snapshot


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        ({"A04": ["E1", "E 2"]}, "printable ASCII"),
        ({"A04": ["E1", ""]}, "1 to 128"),
        ({"A04": ["x" * 129]}, "1 to 128"),
        ({"A04": ["x" * 129, "y" * 129]}, "1 to 128"),  # ids of one length: checked by width
        ({"A04": ["E1", "x" * 129, "E3"]}, "1 to 128"),
        ({"A04": ["E1", "E22", "x" * 200]}, "1 to 128"),
        ({"A04": ["E1\n", "E2"]}, "printable ASCII"),
        ({"A04": ["\nE1", "E2"]}, "printable ASCII"),
        ({"A04": ["E1", "E2\x7f"]}, "printable ASCII"),
        ({"A04": ["", "E2", "E3"]}, "1 to 128"),
        ({"A04": ["E1\nE2"]}, "printable ASCII"),
        ({"A04": ["E1\tE2"]}, "printable ASCII"),
        ({"A04": ["É1"]}, "printable ASCII"),
        ({"A04": ["E1", 3]}, "must be text"),
        ({"A 04": ["E1"]}, "specialty code"),
        ({"A04": "E1"}, "collection"),
        ({"A04": ["E1", "E2", "E1"]}, "listed twice"),
        ({"A04": ["E1", "E1", "E2"]}, "listed twice"),  # sorted, but not each id once
        (["A04", "E1"], "mapping"),
    ],
)
def test_malformed_snapshot_is_refused(pool, message):
    with pytest.raises(DrawError, match=message):
        Snapshot(pool)


# ----------------------------------------------------------------------------- orders


def test_worked_example_matches_the_doc():
    doc = DOC.read_text(encoding="utf-8")
    for value in (EXAMPLE_SEED.hex(), EXAMPLE_SEED_COMMITMENT, EXAMPLE_SNAPSHOT_COMMITMENT):
        assert value in doc
    orders = call_sequence(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS)
    assert orders == EXAMPLE_ORDERS
    for code, order in orders.items():
        assert f"`{code}: {' '.join(order)}`" in doc or f"{code}: {' '.join(order)}" in doc
    result = verify(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, EXAMPLE_LOG)
    assert result.ok and result.complete
    assert result.accepted == {"A04": ["E003", "E002"], "C02": ["E006"]}
    for index, (code, expert, answer) in enumerate(EXAMPLE_LOG):
        assert f"| {index} | {code} | {expert} | {answer} |" in doc


def test_order_is_deterministic_and_a_permutation():
    rng = random.Random(1)
    pool = random_pool(rng, size=60)
    seed = seed_for("determinism")
    first = call_sequence(seed, pool, {code: 1 for code in pool})
    again = call_sequence(bytearray(seed), Snapshot(pool), {code: 1 for code in pool})
    assert first == again
    for code, order in first.items():
        assert sorted(order) == sorted(pool[code])
        for limit in (0, 1, 5, len(order)):
            assert call_sequence(seed, pool, {code: 1}, limit=limit)[code] == order[:limit]
        lazy = SpecialtyOrder(seed, pool, code)
        assert [next(lazy) for _ in range(3)] == order[:3] and lazy.position == 3


def test_different_seeds_give_different_orders():
    pool = {"A04": [f"E{n:03d}" for n in range(30)]}
    orders = {tuple(call_sequence(seed_for(n), pool, {"A04": 1})["A04"]) for n in range(50)}
    assert len(orders) == 50


def test_order_depends_on_the_snapshot():
    seed = seed_for("snapshot")
    pool = {"A04": [f"E{n:03d}" for n in range(30)]}
    bigger = {"A04": pool["A04"] + ["E999"]}
    other_specialty = pool | {"B01": ["E001"]}
    base = call_sequence(seed, pool, {"A04": 1})["A04"]
    assert call_sequence(seed, bigger, {"A04": 1})["A04"] != base
    # the commitment covers the whole snapshot, so even another specialty changes the order
    assert call_sequence(seed, other_specialty, {"A04": 1})["A04"] != base


def test_each_expert_is_equally_likely_at_each_early_position():
    experts = [f"E{n}" for n in range(8)]
    snapshot = Snapshot({"A04": experts})
    draws = 8000
    firsts: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    for n in range(draws):
        order = SpecialtyOrder(seed_for(n), snapshot, "A04")
        firsts[next(order)] += 1
        seconds[next(order)] += 1
    expected = draws / len(experts)
    for counts in (firsts, seconds):
        chi_square = sum((counts[e] - expected) ** 2 / expected for e in experts)
        # 7 degrees of freedom: P(chi2 > 40) ~ 1e-6; the seeds are fixed, so this never flakes
        assert chi_square < 40, counts


def test_lazy_order_equals_a_plain_fisher_yates():
    """The sparse lazy shuffle is the textbook shuffle over the sorted list."""
    import hmac as hmac_module

    rng = random.Random(3)
    pool = {"A04": [f"X{rng.randrange(10**6)}" for _ in range(25)]}
    pool["A04"] = list(dict.fromkeys(pool["A04"]))
    seed = seed_for("plain")
    commitment = snapshot_commitment(pool)
    a = sorted(pool["A04"])
    for i in range(len(a)):  # block counter == position: rejection never happens here
        message = (b"bidhall draw order v1\x00" + commitment.encode() + b"\x00A04\x00"
                   + i.to_bytes(8, "big"))
        x = int.from_bytes(hmac_module.digest(seed, message, "sha256"), "big")
        j = i + x % (len(a) - i)
        a[i], a[j] = a[j], a[i]
    assert list(SpecialtyOrder(seed, pool, "A04")) == a


# ----------------------------------------------------------------------------- the draw


def test_replacements_continue_the_same_order():
    pool = {"A04": [f"E{n:03d}" for n in range(20)]}
    seed = seed_for("replacements")
    order = call_sequence(seed, pool, {"A04": 3})["A04"]
    answers = iter([Answer.DECLINED, Answer.ACCEPTED, Answer.NO_ANSWER, Answer.DECLINED,
                    Answer.ACCEPTED, Answer.ACCEPTED])
    log = run_draw(seed, pool, {"A04": 3}, lambda code, expert_id: next(answers))
    assert [call.expert_id for call in log] == order[:6]
    assert log.accepted() == {"A04": [order[1], order[4], order[5]]}
    assert verify(seed, pool, {"A04": 3}, log).complete


def test_an_expert_is_called_at_most_once_across_specialties():
    seed = EXAMPLE_SEED
    # E003 is first for C02 but was called (and accepted) for A04: C02 passes over them
    draw = Draw(seed, EXAMPLE_POOL, {"A04": 2, "C02": 2})
    assert draw.peek("C02") == "E003"
    assert draw.call("A04") == "E004"
    draw.answer("E004", "accepted")
    assert draw.call("A04") == "E003"
    assert draw.peek("C02") == "E007"
    draw.answer("E003", Answer.DECLINED)  # whatever the answer, E003 is not called again
    assert draw.call("C02") == "E007"
    draw.answer("E007", "declined")
    assert draw.call("C02") == "E006"
    draw.answer("E006", "accepted")
    assert draw.call("C02") == "E001"
    draw.answer("E001", "accepted")
    assert draw.remaining() == {"A04": 1, "C02": 0}
    # A04 continues its own order: E002 next (E003 and E004 already called)
    assert draw.call("A04") == "E002"
    draw.answer("E002", "accepted")
    assert draw.complete
    calls = [call.expert_id for call in draw.log]
    assert len(calls) == len(set(calls))
    assert verify(seed, EXAMPLE_POOL, {"A04": 2, "C02": 2}, draw.log).ok


def test_interleaving_decides_who_gets_a_shared_expert_and_is_replayed():
    seed = EXAMPLE_SEED
    # C02 first this time: E003 goes to C02, and A04 passes over them
    log = [("C02", "E003", "accepted"), ("A04", "E004", "accepted"), ("A04", "E002", "accepted")]
    result = verify(seed, EXAMPLE_POOL, EXAMPLE_QUOTAS, log)
    assert result.ok and result.complete, result.detail
    assert result.accepted == {"A04": ["E004", "E002"], "C02": ["E003"]}


def test_random_draws_verify_and_never_repeat_an_expert():
    rng = random.Random(11)
    for n in range(60):
        pool = random_pool(rng, size=30)
        quotas = {code: rng.randint(1, 3) for code in pool}
        try:
            check_quotas(pool, quotas)
        except DrawError:
            continue
        seed = seed_for(("random", n))
        log = run_draw(seed, pool, quotas, respond_at_random(rng))
        experts = [call.expert_id for call in log]
        assert len(experts) == len(set(experts))
        for call in log:
            assert call.expert_id in pool[call.specialty]
        result = verify(seed, pool, quotas, log)
        assert result.ok, result.detail
        assert all(len(ids) <= quotas[code] for code, ids in result.accepted.items())


def test_live_draw_with_parallel_calls_respects_the_quota():
    pool = {"A04": [f"E{n}" for n in range(10)]}
    seed = seed_for("parallel")
    order = call_sequence(seed, pool, {"A04": 2})["A04"]
    draw = Draw(seed, pool, {"A04": 2})
    assert [draw.call("A04"), draw.call("A04")] == order[:2]
    assert draw.open_slots("A04") == 0
    with pytest.raises(DrawMismatch, match="no call is due"):
        draw.call("A04")
    draw.answer(order[0], "declined")
    assert draw.call("A04") == order[2]
    with pytest.raises(DrawError, match="no awaited call"):
        draw.answer(order[0], "accepted")
    with pytest.raises(DrawError, match="no awaited call"):
        draw.answer("nobody", "accepted")
    with pytest.raises(DrawMismatch, match="not part of this draw"):
        draw.call("B01")
    draw.answer(order[1], "accepted")
    draw.answer(order[2], "accepted")
    assert draw.complete
    assert verify(seed, pool, {"A04": 2}, draw.log).ok
    # a log with an awaited answer is still checkable
    pending = DrawLog((DrawCall("A04", order[0], None),))
    assert verify(seed, pool, {"A04": 2}, pending).ok


def test_exhausted_specialty():
    pool = {"A04": ["E1", "E2"], "C02": ["E1", "E2", "E3"]}
    seed = seed_for("exhausted")
    log = run_draw(seed, pool, {"A04": 1, "C02": 1}, lambda code, expert_id: "declined")
    result = verify(seed, pool, {"A04": 1, "C02": 1}, log)
    assert result.ok and not result.complete
    assert "exhausted" in result.detail
    assert sorted(call.expert_id for call in log) == ["E1", "E2", "E3"]


# ----------------------------------------------------------------------------- recusals


def test_a_recused_expert_is_replaced_by_the_next_of_the_same_order():
    draw = Draw(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS)
    for code, expert, answer in EXAMPLE_LOG:
        assert draw.call(code) == expert
        draw.answer(expert, answer)
    assert draw.complete
    draw.recuse("E003")
    assert not draw.complete and draw.remaining() == {"A04": 1, "C02": 0}
    assert draw.open_slots("A04") == 1 and draw.peek("A04") == "E005"
    assert draw.call("A04") == "E005"
    draw.answer("E005", "accepted")
    assert draw.complete
    assert draw.accepted() == {"A04": ["E002", "E005"], "C02": ["E006"]}
    assert draw.log.accepted() == {"A04": ["E002", "E005"], "C02": ["E006"]}
    assert [(c.specialty, c.expert_id, c.answer.value) for c in draw.log] == RECUSED_LOG
    result = verify(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, draw.log)
    assert result.ok and result.complete, result.detail
    assert result.accepted == {"A04": ["E002", "E005"], "C02": ["E006"]}


def test_only_an_accepted_call_can_be_recused():
    draw = Draw(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS)
    draw.call("A04")  # E004, awaited
    with pytest.raises(DrawError, match="no accepted call"):
        draw.recuse("E004")
    with pytest.raises(DrawError, match="only an accepted call can be recused"):
        draw.answer("E004", "recused")
    draw.answer("E004", "declined")
    with pytest.raises(DrawError, match="no accepted call"):
        draw.recuse("E004")
    with pytest.raises(DrawError, match="no accepted call"):
        draw.recuse("E999")
    draw.answer(draw.call("A04"), "accepted")  # E003
    draw.recuse("E003")
    with pytest.raises(DrawError, match="no accepted call"):
        draw.recuse("E003")  # twice
    assert draw.remaining() == {"A04": 2, "C02": 1}
    assert draw.peek("C02") == "E007"  # a recused expert is never called again, for any specialty


def test_recusal_until_the_order_runs_out_is_exhaustion():
    pool = {"A04": ["E1", "E2"]}
    draw = Draw(seed_for("recusal exhausted"), pool, {"A04": 1})
    for _ in range(2):
        draw.answer(draw.call("A04"), "accepted")
        draw.recuse(draw.accepted()["A04"][0])
    assert draw.exhausted("A04") and not draw.complete
    result = verify(draw.seed, pool, {"A04": 1}, draw.log)
    assert result.ok and not result.complete and "exhausted" in result.detail


def _replayed(seed, snapshot, quotas, log):
    replay = Draw(seed, snapshot, quotas)
    for call in log:
        replay.record(call.specialty, call.expert_id, call.answer)
    return replay


def _state(draw):
    return ({code: (draw.peek(code), draw.open_slots(code), draw.exhausted(code)) for code in draw.quotas},
            draw.remaining(), draw.accepted(), draw.complete)


def test_replaying_final_answers_gives_the_live_state_whatever_the_timing():
    """A live draw with parallel calls, answers arriving in any order, and recusals at any
    time: after every event, replaying the log (in call order, with the answers known by then)
    gives the live state, the log verifies, and the published reference agrees."""
    ref = reference_namespace()
    rng = random.Random(23)
    recusals = 0
    for n in range(40):
        pool = random_pool(rng, size=rng.randint(4, 30))
        quotas = {code: rng.randint(1, 3) for code in pool}
        try:
            snapshot = Snapshot(pool)
            check_quotas(snapshot, quotas)
        except DrawError:
            continue
        seed = seed_for(("live", n))
        live = Draw(seed, snapshot, quotas)
        for _ in range(200):
            awaited = [c.expert_id for c in live.log if c.answer is None]
            accepted = [c.expert_id for c in live.log if c.answer is Answer.ACCEPTED]
            callable_codes = [c for c in quotas if live.open_slots(c) > 0 and live.peek(c) is not None]
            moves = (["call"] * bool(callable_codes) + ["answer"] * bool(awaited)
                     + ["recuse"] * bool(accepted and rng.random() < 0.3))
            if not moves:
                break
            move = rng.choice(moves)
            if move == "call":
                live.call(rng.choice(callable_codes))
            elif move == "answer":
                live.answer(rng.choice(awaited), rng.choice(["accepted", "accepted", "declined", "no_answer"]))
            else:
                live.recuse(rng.choice(accepted))
                recusals += 1
            assert _state(_replayed(seed, snapshot, quotas, live.log)) == _state(live)
        result = verify(seed, snapshot, quotas, live.log)
        assert result.ok, result.detail
        assert result.accepted == live.accepted()
        records = [(c.specialty, c.expert_id, c.answer and c.answer.value) for c in live.log]
        assert ref["first_wrong_call"](seed, pool, quotas, records) is None
        experts = [c.expert_id for c in live.log]
        assert len(experts) == len(set(experts))
    assert recusals > 20


# ----------------------------------------------------------------------------- quotas


def test_quota_shortfall_is_reported_per_specialty_and_nothing_is_drawn():
    pool = {"A04": ["E1", "E2"], "B01": ["E3"], "C02": [f"E{n}" for n in range(10)]}
    with pytest.raises(DrawError) as caught:
        Draw(seed_for("q"), pool, {"A04": 5, "B01": 2, "C02": 3, "Z99": 1})
    error = caught.value
    assert error.shortfalls == {"A04": 3, "B01": 1}
    assert error.unknown == ("Z99",)
    message = str(error)
    assert "A04 (quota 5, eligible 2, short by 3)" in message
    assert "B01 (quota 2, eligible 1, short by 1)" in message
    assert "Z99" in message and "nothing was drawn" in message
    with pytest.raises(DrawError):
        call_sequence(seed_for("q"), pool, {"A04": 5})
    assert check_quotas(pool, {"C02": 3, "A04": 2}) == {"A04": 2, "C02": 3}


def test_shared_experts_too_few_for_the_specialties_together():
    pool = {"A04": ["E1", "E2", "E3"], "B01": ["E1", "E2", "E3"], "C02": [f"E{n}" for n in range(100)]}
    with pytest.raises(DrawError, match="A04\\+B01 need 4 distinct experts but have 3") as caught:
        check_quotas(pool, {"A04": 2, "B01": 2, "C02": 1})
    assert caught.value.combined == ((("A04", "B01"), 4, 3),)
    assert check_quotas(pool, {"A04": 2, "B01": 1, "C02": 50})


@pytest.mark.parametrize("quotas", [{}, {"A04": 0}, {"A04": -1}, {"A04": 1.0}, {"A04": True}, {"A 04": 1}])
def test_bad_quotas_are_refused(quotas):
    with pytest.raises(DrawError):
        check_quotas(EXAMPLE_POOL, quotas)


# ----------------------------------------------------------------------------- verification


def test_verify_accepts_the_true_log_in_every_shape():
    true_log = run_draw(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS,
                        lambda code, expert: "declined" if expert == "E004" else "accepted")
    for shape in (true_log, list(true_log), [tuple(c.as_record().values()) for c in true_log],
                  true_log.as_records()):
        result = verify(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, shape)
        assert result.ok and result.complete and result.first_mismatch is None, result.detail
    # (specialty, expert_id) pairs without answers: awaited calls, still checkable
    assert verify(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, [("A04", "E004"), ("A04", "E003")]).ok


def test_verify_reports_an_incomplete_log():
    result = verify(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, EXAMPLE_LOG[:2])
    assert result.ok and not result.complete
    assert "A04 1/2" in result.detail and "C02 0/1" in result.detail


FORGERIES = [
    # (name, log, first wrong index, expected at that index)
    ("swapped order", [("A04", "E003", "accepted"), ("A04", "E004", "accepted")], 0, ("A04", "E004")),
    ("skipped expert", EXAMPLE_LOG[:1] + [("A04", "E002", "accepted")], 1, ("A04", "E003")),
    ("not in the snapshot", EXAMPLE_LOG[:3] + [("C02", "E999", "accepted")], 3, ("C02", "E007")),
    ("not eligible for that specialty", [("C02", "E003", "declined"), ("C02", "E004", "accepted")],
     1, ("C02", "E007")),
    ("called twice", EXAMPLE_LOG[:3] + [("C02", "E003", "accepted")], 3, ("C02", "E007")),
    ("call after the quota", EXAMPLE_LOG + [("A04", "E005", "accepted")], 5, ("A04", None)),
    ("specialty not drawn", [("B01", "E001", "accepted")], 0, ("B01", None)),
    ("declined hidden: replacement without the decline",
     [("A04", "E003", "accepted"), ("A04", "E002", "accepted")], 0, ("A04", "E004")),
    ("replacement of a recusal skips the seed's next", RECUSED_LOG[:5] + [("A04", "E001", "accepted")],
     5, ("A04", "E005")),
    ("recused expert called back", RECUSED_LOG[:5] + [("A04", "E003", "accepted")], 5, ("A04", "E005")),
    ("replacement without the recusal", EXAMPLE_LOG + [("A04", "E005", "accepted")], 5, ("A04", None)),
    ("a second replacement for one recusal", RECUSED_LOG + [("A04", "E001", "accepted")], 6, ("A04", None)),
]


@pytest.mark.parametrize(("name", "log", "index", "expected"), FORGERIES, ids=[f[0] for f in FORGERIES])
def test_verify_pinpoints_the_first_wrong_call(name, log, index, expected):
    result = verify(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, log)
    assert not result.ok
    assert result.first_mismatch == index, result.detail
    assert result.expected == expected
    assert result.detail.startswith(f"call {index}:")


def test_verify_detail_names_the_reason():
    detail = verify(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, FORGERIES[2][1]).detail
    assert "E999 is not eligible for C02" in detail and "seed gives E007" in detail
    detail = verify(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, FORGERIES[4][1]).detail
    assert "already called" in detail


def test_verify_rejects_a_wrong_seed():
    other = seed_for("other")
    # the revealed seed is not the committed one
    result = verify(other, EXAMPLE_POOL, EXAMPLE_QUOTAS, EXAMPLE_LOG, committed_seed=EXAMPLE_SEED_COMMITMENT)
    assert not result.ok and result.first_mismatch is None and "seed commitment" in result.detail
    # a log made with another seed, checked against the honest (committed and revealed) seed
    forged = run_draw(other, EXAMPLE_POOL, EXAMPLE_QUOTAS, lambda code, expert: "accepted")
    result = verify(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, forged)
    assert not result.ok and result.first_mismatch is not None
    honest = run_draw(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, lambda code, expert: "accepted")
    first_difference = next(i for i, (a, b) in enumerate(zip(forged, honest)) if a != b)
    assert result.first_mismatch == first_difference
    # bad seed length
    assert not verify_draw(b"short", EXAMPLE_POOL, EXAMPLE_QUOTAS, EXAMPLE_LOG,
                           seed_commitment_hex=EXAMPLE_SEED_COMMITMENT,
                           snapshot_commitment_hex=EXAMPLE_SNAPSHOT_COMMITMENT).ok


def test_verify_rejects_a_wrong_snapshot():
    altered = {"A04": EXAMPLE_POOL["A04"][:-1], "C02": EXAMPLE_POOL["C02"]}  # E005 removed
    result = verify(EXAMPLE_SEED, altered, EXAMPLE_QUOTAS, EXAMPLE_LOG,
                    committed_snapshot=EXAMPLE_SNAPSHOT_COMMITMENT)
    assert not result.ok and result.first_mismatch is None and "snapshot commitment" in result.detail
    result = verify_draw(EXAMPLE_SEED, {"A04": ["E 1"]}, EXAMPLE_QUOTAS, EXAMPLE_LOG,
                         seed_commitment_hex=EXAMPLE_SEED_COMMITMENT,
                         snapshot_commitment_hex=EXAMPLE_SNAPSHOT_COMMITMENT)
    assert not result.ok and "malformed snapshot" in result.detail
    # a log drawn on another snapshot (with an honest commitment to that other snapshot)
    log = run_draw(EXAMPLE_SEED, altered, EXAMPLE_QUOTAS, lambda code, expert: "accepted")
    assert not verify(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, log).ok


def test_verify_reports_bad_quotas_and_bad_calls_without_raising():
    result = verify(EXAMPLE_SEED, EXAMPLE_POOL, {"A04": 9}, EXAMPLE_LOG)
    assert not result.ok and "short by" in result.detail
    result = verify(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, [("A04", "E004", "maybe")])
    assert not result.ok and result.first_mismatch == 0 and "unknown answer" in result.detail


# ----------------------------------------------------------------------------- the published reference


def reference_namespace() -> dict:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- reference-implementation[^>]*-->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "the reference implementation block is missing from the doc"
    namespace: dict = {"__name__": "draw_reference"}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)  # noqa: S102 - our own doc
    # the usage example that follows it runs too, and prints what its comments say
    usage = re.search(r"For the worked example:\s*```python\n(.*?)```", text, re.DOTALL)
    assert usage
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(usage.group(1), str(DOC), "exec"), dict(namespace))  # noqa: S102
    printed = out.getvalue().splitlines()
    promised = re.findall(r"# (.+)$", usage.group(1), re.MULTILINE)
    assert printed == promised
    return namespace


def test_reference_implementation_agrees_with_the_module():
    ref = reference_namespace()
    assert ref["seed_commitment"](EXAMPLE_SEED) == EXAMPLE_SEED_COMMITMENT
    assert ref["snapshot_commitment"](EXAMPLE_POOL) == EXAMPLE_SNAPSHOT_COMMITMENT
    assert ref["first_wrong_call"](EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, EXAMPLE_LOG) is None
    assert ref["first_wrong_call"](EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, RECUSED_LOG) is None
    for name, log, index, _ in FORGERIES:
        assert ref["first_wrong_call"](EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, log) == index, name

    rng = random.Random(5)
    checked = 0
    for n in range(40):
        pool = random_pool(rng, size=rng.randint(2, 40))
        seed = seed_for(("reference", n))
        snapshot = Snapshot(pool)
        assert ref["seed_commitment"](seed) == seed_commitment(seed)
        assert ref["snapshot_commitment"](pool) == snapshot.commitment
        for code, ids in pool.items():
            assert list(ref["order"](seed, snapshot.commitment, code, ids)) == list(
                SpecialtyOrder(seed, snapshot, code))
        quotas = {code: rng.randint(1, 3) for code in pool}
        try:
            check_quotas(snapshot, quotas)
        except DrawError:
            continue
        log = [(c.specialty, c.expert_id, c.answer.value)
               for c in run_draw(seed, snapshot, quotas, respond_at_random(rng))]
        mutations = [log]
        if len(log) >= 2:
            i = rng.randrange(len(log) - 1)
            mutations.append(log[:i] + [log[i + 1], log[i]] + log[i + 2:])  # swap two calls
            mutations.append(log[:i] + log[i + 1:])  # drop one call
        if log:
            i = rng.randrange(len(log))
            code, expert, answer = log[i]
            flipped = "declined" if answer == "accepted" else "accepted"
            mutations.append(log[:i] + [(code, expert, flipped)] + log[i + 1:])  # change an answer
            other = rng.choice([e for ids in pool.values() for e in ids])
            mutations.append(log[:i] + [(code, other, answer)] + log[i + 1:])  # change an expert
            if answer == "accepted":  # a recusal, then the replacement the seed gives or another
                recused = log[:i] + [(code, expert, "recused")] + log[i + 1:]
                replay = Draw(seed, snapshot, quotas)
                for call in recused:
                    replay.record(*call)
                due = replay.peek(code)
                if due is not None:
                    mutations.append(recused + [(code, due, "accepted")])
                mutations.append(recused + [(code, other, "accepted")])
        for calls in mutations:
            module = verify(seed, snapshot, quotas, calls)
            assert ref["first_wrong_call"](seed, pool, quotas, calls) == module.first_mismatch, (calls, module)
            checked += 1
    assert checked > 60


# ----------------------------------------------------------------------------- speed


def test_speed_on_a_million_experts(capsys):
    ids = [f"E{n:07d}" for n in range(1_000_000)]
    random.Random(0).shuffle(ids)
    seed = seed_for("speed")

    started = time.perf_counter()
    snapshot = Snapshot({"A04": ids, "C02": ids[:1000]})
    built = time.perf_counter() - started

    started = time.perf_counter()
    commitment = snapshot.commitment
    hashed = time.perf_counter() - started

    started = time.perf_counter()
    first = call_sequence(seed, snapshot, {"A04": 7, "C02": 2}, limit=20)
    drawn = time.perf_counter() - started

    started = time.perf_counter()
    draw = Draw(seed, snapshot, {"A04": 7, "C02": 2})
    for code in ("C02", "A04"):
        while draw.open_slots(code):
            draw.answer(draw.call(code), "declined" if len(draw.log) % 3 == 0 else "accepted")
    ran = time.perf_counter() - started

    started = time.perf_counter()
    result = verify_draw(seed, snapshot, {"A04": 7, "C02": 2}, draw.log,
                         seed_commitment_hex=seed_commitment(seed), snapshot_commitment_hex=commitment)
    verified = time.perf_counter() - started

    assert len(first["A04"]) == 20 and len(set(first["A04"])) == 20
    assert result.ok and result.complete
    with capsys.disabled():
        print(
            f"\n[draw timing, 1,000,000 experts] snapshot build (sort+validate) {built:.2f}s, "
            f"commitment {hashed * 1000:.0f}ms, first 20 {drawn * 1000:.2f}ms, "
            f"live draw {len(draw.log)} calls {ran * 1000:.2f}ms, verify {verified * 1000:.2f}ms"
        )


# ----------------------------------------------------------------------------- single-venue draws stay as they were

# Taken from the implementation before venue draws existed: a draw without venues must give
# exactly these orders and commitments forever, or draws already in the ledger stop verifying.
SINGLE_VENUE_SEED = bytes.fromhex("e7cd4dafb4a1e05dcde6d046a1b0c97a0faf51862d7ae712d2b00881c9c19364")
SINGLE_VENUE_POOL = {"A04": [f"X{n:03d}" for n in range(1, 13)], "C02": [f"X{n:03d}" for n in range(8, 18)],
                     "B11": ["X001", "X020"]}
SINGLE_VENUE_QUOTAS = {"A04": 3, "C02": 2, "B11": 1}
SINGLE_VENUE_COMMITMENT = "22e3068aca9deca5d4e1776eeb20bd9d631325d0685add7317241fd56bb7b75c"
SINGLE_VENUE_ORDERS = {
    "A04": ["X011", "X007", "X012", "X008", "X005", "X004", "X009", "X006", "X001", "X002", "X010", "X003"],
    "B11": ["X001", "X020"],
    "C02": ["X011", "X008", "X013", "X017", "X012", "X009", "X014", "X010", "X015", "X016"],
}
SINGLE_VENUE_LOG = [("B11", "X001", "declined"), ("B11", "X020", "accepted"), ("C02", "X011", "no_answer"),
                    ("C02", "X008", "accepted"), ("C02", "X013", "accepted"), ("A04", "X007", "declined"),
                    ("A04", "X012", "accepted"), ("A04", "X005", "accepted"), ("A04", "X004", "accepted")]


def test_a_draw_without_venues_gives_the_orders_and_commitments_it_always_gave():
    snapshot = Snapshot(SINGLE_VENUE_POOL)
    assert snapshot.commitment == SINGLE_VENUE_COMMITMENT
    assert call_sequence(SINGLE_VENUE_SEED, snapshot, SINGLE_VENUE_QUOTAS) == SINGLE_VENUE_ORDERS
    answers = iter(answer for _, _, answer in SINGLE_VENUE_LOG)
    log = run_draw(SINGLE_VENUE_SEED, snapshot, SINGLE_VENUE_QUOTAS, lambda code, expert: next(answers))
    assert [(c.specialty, c.expert_id, c.answer.value) for c in log] == SINGLE_VENUE_LOG
    result = verify(SINGLE_VENUE_SEED, SINGLE_VENUE_POOL, SINGLE_VENUE_QUOTAS, SINGLE_VENUE_LOG,
                    committed_snapshot=SINGLE_VENUE_COMMITMENT)
    assert result.ok and result.complete
    assert result.accepted == {"A04": ["X012", "X005", "X004"], "B11": ["X020"], "C02": ["X008", "X013"]}


# ----------------------------------------------------------------------------- draws across venues

VENUE_POOLS = {"V1": {"A04": ["E001", "E002", "E003", "E004"], "C02": ["E005", "E006"]},
               "V2": {"A04": ["E003", "E007", "E008"], "C02": ["E006", "E010"]}}
VENUE_QUOTAS = {"V1": {"A04": 2, "C02": 1}, "V2": {"A04": 1, "C02": 1}}
VENUE_COMMITMENT = "6d58038a11d1a40a9be22e72730ee72453715090dd3fa0c7f790b6fd887c0e08"
VENUE_ORDERS = {"V1": {"A04": ["E003", "E001", "E004", "E002"], "C02": ["E006", "E005"]},
                "V2": {"A04": ["E003", "E008", "E007"], "C02": ["E010", "E006"]}}
VENUE_LOG = [("V1", "A04", "E003", "accepted"), ("V1", "A04", "E001", "declined"), ("V1", "A04", "E004", "accepted"),
             ("V1", "C02", "E006", "accepted"), ("V2", "A04", "E008", "accepted"), ("V2", "C02", "E010", "accepted")]
VENUE_RECUSED_LOG = VENUE_LOG[:4] + [("V2", "A04", "E008", "recused"), VENUE_LOG[5], ("V2", "A04", "E007", "accepted")]


def verify_venues(seed, pools, quotas, calls):
    snapshot = VenueSnapshot(pools)
    return verify_venue_draw(seed, snapshot, quotas, calls, seed_commitment_hex=seed_commitment(seed),
                             snapshot_commitment_hex=snapshot.commitment)


def random_venue_pools(rng: random.Random, venues=("V1", "V2", "V3"), size=30) -> dict:
    experts = [f"E{n:06d}" for n in rng.sample(range(1_000_000), size)]
    pools = {venue: {code: [e for e in experts if rng.random() < 0.35] for code in ("A04", "C02")}
             for venue in venues[:rng.randint(2, len(venues))]}
    return {venue: {code: ids for code, ids in codes.items() if ids} for venue, codes in pools.items()}


def test_the_venue_worked_example_matches_the_doc():
    snapshot = VenueSnapshot(VENUE_POOLS)
    assert snapshot.commitment == VENUE_COMMITMENT
    assert snapshot.commitment == hashlib.sha256(venue_snapshot_bytes(snapshot)).hexdigest()
    block = re.search(r"```\n(bidhall draw venue snapshot v1\n.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert block and block.group(1).encode("ascii") == venue_snapshot_bytes(snapshot)
    assert venue_call_sequence(EXAMPLE_SEED, snapshot, VENUE_QUOTAS) == VENUE_ORDERS
    result = verify_venues(EXAMPLE_SEED, VENUE_POOLS, VENUE_QUOTAS, VENUE_LOG)
    assert result.ok and result.complete, result.detail
    assert result.accepted == {"V1": {"A04": ["E003", "E004"], "C02": ["E006"]}, "V2": {"A04": ["E008"], "C02": ["E010"]}}
    assert DrawLog.from_calls(VENUE_LOG).accepted_by_venue() == result.accepted
    assert verify_venues(EXAMPLE_SEED, VENUE_POOLS, VENUE_QUOTAS, VENUE_RECUSED_LOG).complete
    shared = verify_venues(EXAMPLE_SEED, VENUE_POOLS, VENUE_QUOTAS, VENUE_LOG[:4] + [("V2", "A04", "E003", "accepted")])
    assert (shared.ok, shared.first_mismatch, shared.expected) == (False, 4, ("A04", "E008"))
    assert "already called" in shared.detail and "venue V2" in shared.detail
    wrong_venue = verify_venues(EXAMPLE_SEED, VENUE_POOLS, VENUE_QUOTAS,
                                VENUE_RECUSED_LOG[:6] + [("V1", "A04", "E002", "accepted")])
    assert (wrong_venue.ok, wrong_venue.first_mismatch) == (False, 6) and "V1" in wrong_venue.detail


def test_the_venue_is_in_every_order_and_in_the_snapshot():
    same = {"A04": [f"E{n:03d}" for n in range(30)]}
    snapshot = VenueSnapshot({"V1": same, "V2": same})
    first, second = (list(SpecialtyOrder(EXAMPLE_SEED, snapshot, "A04", venue)) for venue in ("V1", "V2"))
    assert sorted(first) == sorted(second) and first != second  # one seed, independent venues
    assert first != list(SpecialtyOrder(EXAMPLE_SEED, Snapshot(same), "A04"))
    moved = VenueSnapshot({"V1": same, "V3": same})  # another venue key: another commitment
    assert moved.commitment != snapshot.commitment
    assert VenueSnapshot({"V2": same, "V1": {**same, "C02": []}}) == snapshot  # canonical, empties dropped
    with pytest.raises(DrawError, match="venue"):
        VenueSnapshot({"main venue": same})  # keys are tokens: no spaces


def test_venue_quotas_are_checked_per_venue_and_across_venues():
    with pytest.raises(DrawError) as refused:
        check_venue_quotas(VENUE_POOLS, {"V1": {"A04": 9}, "V2": {"B11": 1}})
    assert set(refused.value.venues) == {"V1", "V2"}
    assert refused.value.venues["V1"].shortfalls == {"A04": 5} and refused.value.venues["V2"].unknown == ("B11",)
    assert "venue V1" in str(refused.value) and "venue V2" in str(refused.value)
    with pytest.raises(DrawError) as shared:  # E003 can serve one venue only: 4 + 3 needs 7 of 6
        check_venue_quotas(VENUE_POOLS, {"V1": {"A04": 4}, "V2": {"A04": 3}})
    assert shared.value.combined == ((("V1/A04", "V2/A04"), 7, 6),)
    assert check_venue_quotas(VENUE_POOLS, VENUE_QUOTAS) == VENUE_QUOTAS


def test_a_venue_draw_never_calls_an_expert_twice_and_replays():
    rng = random.Random(11)
    drawn = 0
    for n in range(60):
        pools = random_venue_pools(rng)
        quotas = {venue: {code: rng.randint(1, 2) for code in codes} for venue, codes in pools.items()}
        try:
            check_venue_quotas(pools, quotas)
        except DrawError:
            continue
        seed = seed_for(("venues", n))
        log = run_venue_draw(seed, pools, quotas, lambda venue, code, expert: rng.choice(["accepted", "declined"]))
        assert len({call.expert_id for call in log}) == len(log)
        assert all(call.expert_id in pools[call.venue][call.specialty] for call in log)
        result = verify_venues(seed, pools, quotas, log)
        assert result.ok, result.detail
        drawn += 1
    assert drawn > 20


def test_venues_and_single_venue_logs_do_not_mix():
    single = verify(EXAMPLE_SEED, EXAMPLE_POOL, EXAMPLE_QUOTAS, [("V1", "A04", "E004", "declined")])
    assert not single.ok and single.first_mismatch == 0 and "not part of this draw" in single.detail
    unplaced = verify_venues(EXAMPLE_SEED, VENUE_POOLS, VENUE_QUOTAS, [("A04", "E003", "accepted")])
    assert not unplaced.ok and unplaced.first_mismatch == 0 and "venue" in unplaced.detail
    live = VenueDraw(EXAMPLE_SEED, VENUE_POOLS, VENUE_QUOTAS)
    assert live.call("A04", "V1") == "E003" and live.peek("A04", "V2") == "E008"  # passed over at V2
    live.answer("E003", "accepted")
    live.recuse("E003")
    assert live.peek("A04", "V1") == "E001" and live.remaining() == {"V1": {"A04": 2, "C02": 1},
                                                                      "V2": {"A04": 1, "C02": 1}}


def test_the_reference_implementation_agrees_on_venue_draws():
    ref = reference_namespace()
    assert ref["venue_snapshot_commitment"](VENUE_POOLS) == VENUE_COMMITMENT
    assert ref["first_wrong_venue_call"](EXAMPLE_SEED, VENUE_POOLS, VENUE_QUOTAS, VENUE_RECUSED_LOG) is None
    rng = random.Random(13)
    checked = 0
    for n in range(40):
        pools = random_venue_pools(rng)
        quotas = {venue: {code: rng.randint(1, 2) for code in codes} for venue, codes in pools.items()}
        try:
            check_venue_quotas(pools, quotas)
        except DrawError:
            continue
        seed = seed_for(("venue reference", n))
        snapshot = VenueSnapshot(pools)
        assert ref["venue_snapshot_commitment"](pools) == snapshot.commitment
        for venue, codes in pools.items():
            for code, ids in codes.items():
                assert list(ref["order"](seed, snapshot.commitment, code, ids, venue)) == list(
                    SpecialtyOrder(seed, snapshot, code, venue))
        log = [(c.venue, c.specialty, c.expert_id, c.answer.value) for c in run_venue_draw(
            seed, snapshot, quotas, lambda venue, code, expert: rng.choice(["accepted", "accepted", "declined"]))]
        mutations = [log]
        if len(log) >= 2:
            i = rng.randrange(len(log) - 1)
            mutations.append(log[:i] + [log[i + 1], log[i]] + log[i + 2:])
            mutations.append(log[:i] + log[i + 1:])
        if log:
            i = rng.randrange(len(log))
            venue, code, expert, answer = log[i]
            other_venue = rng.choice([v for v in pools if v != venue] or [venue])
            mutations.append(log[:i] + [(other_venue, code, expert, answer)] + log[i + 1:])  # another venue
            other = rng.choice([e for codes in pools.values() for ids in codes.values() for e in ids])
            mutations.append(log[:i] + [(venue, code, other, answer)] + log[i + 1:])
        for calls in mutations:
            module = verify_venue_draw(seed, snapshot, quotas, calls, seed_commitment_hex=seed_commitment(seed),
                                       snapshot_commitment_hex=snapshot.commitment)
            assert ref["first_wrong_venue_call"](seed, pools, quotas, calls) == module.first_mismatch, (calls, module)
            checked += 1
    assert checked > 40

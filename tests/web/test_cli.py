"""The ``bidhall`` command line against a real database, as an operator would run it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from core.database import Database
from tests.supervision.test_merkle import td_verify_consistency, td_verify_inclusion
from tests.web.cli_runner import output


async def test_the_console_script(database: Database, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BIDHALL_")},
        "BIDHALL_DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
        "BIDHALL_DATA_DIR": str(tmp_path / "var"),
    }
    script = Path(sys.executable).parent / "bidhall"
    result = subprocess.run([script, "ledger", "verify"], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"ok": True, "size": 0, "heads_checked": 0, "first_bad_index": None,
                                         "reason": None, "bytes_hashed": 0}
    usage = subprocess.run([script, "ledger", "prove"], env=env, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "index" in usage.stderr


async def test_seed_is_idempotent_and_the_ledger_commands_agree(bidhall, database: Database) -> None:  # type: ignore[no-untyped-def]
    seeded = output(bidhall("seed"))
    first = seeded["created"]
    # the demo PKI's CAs, and a tender project in each segment
    assert first == {"users": 14, "parties": 7, "experts": 12, "trusted_cas": 3, "tender_projects": 4}
    assert set(seeded["tender_projects"]) == {"construction", "government_procurement", "land_mining",
                                              "state_property"}
    again = output(bidhall("seed"))
    assert again == {"created": {"users": 0, "parties": 0, "experts": 0, "trusted_cas": 0, "tender_projects": 0},
                     "tender_projects": seeded["tender_projects"], "demo_pki": None}

    head = output(bidhall("ledger", "head"))
    assert set(head) == {"tree_size", "root_hash", "timestamp", "key_id", "signature", "public_key"}
    size = head["tree_size"]
    async with database.reader() as session:
        assert size == await session.scalar(sa.text("SELECT count(*) FROM ledger_entries"))  # the whole ledger

    entry = output(bidhall("ledger", "entry", "5"))
    leaf = base64.b64decode(entry["leaf"])
    assert json.loads(leaf) == entry["entry"] and entry["entry"]["seq"] == 5

    proof = output(bidhall("ledger", "prove", "5"))
    assert proof["leaf_hash"] == hashlib.sha256(b"\x00" + leaf).hexdigest()
    assert proof["root_hash"] == head["root_hash"] and proof["tree_size"] == size
    assert td_verify_inclusion(bytes.fromhex(proof["leaf_hash"]), 5, size,
                               [bytes.fromhex(h) for h in proof["audit_path"]], bytes.fromhex(head["root_hash"]))
    older = output(bidhall("ledger", "prove", "2", "--size", "6"))
    assert older["tree_size"] == 6

    consistency = output(bidhall("ledger", "consistency", "6", str(size)))
    assert consistency["first_root"] == older["root_hash"] and consistency["second_root"] == head["root_hash"]
    assert td_verify_consistency(6, size, bytes.fromhex(consistency["first_root"]),
                                 bytes.fromhex(consistency["second_root"]),
                                 [bytes.fromhex(h) for h in consistency["proof"]])

    assert output(bidhall("ledger", "verify"))["ok"] is True
    replayed = output(bidhall("replay", "user:1", "--check"))
    assert replayed["matches"] is True and replayed["replayed"]["username"] == "admin"
    # users, parties, CAs, experts, the tender projects, and the land listing's and the state
    # property's price competitions with the listing's two bid bonds, each rebuilt exactly from the ledger
    assert output(bidhall("replay", "all", "--check")) == {"streams": 24 + 12 + 4 + 2 + 2, "mismatched": []}


async def test_verify_fails_naming_the_tampered_entry(bidhall, database: Database) -> None:  # type: ignore[no-untyped-def]
    output(bidhall("seed"))
    output(bidhall("ledger", "head"))
    async with database.transaction() as session:
        await session.execute(sa.text("UPDATE ledger_entries SET leaf = leaf || :x WHERE seq = 7"), {"x": b" "})
    result = bidhall("ledger", "verify")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["first_bad_index"] == 7


async def test_bad_requests_exit_non_zero_with_a_reason(bidhall) -> None:  # type: ignore[no-untyped-def]
    output(bidhall("seed"))
    cases = [
        (("ledger", "entry", "999"), "entry 999 does not exist"),
        (("ledger", "prove", "5000"), "not in a tree of size"),
        (("ledger", "consistency", "9", "3"), "0 < first <= second"),
        (("replay", "tender:1"), "no domain registered streams of kind 'tender'"),
        (("replay", "user:1", "--at", "2026-01-01T00:00:00"), "no UTC offset"),
    ]
    for args, message in cases:
        result = bidhall(*args)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


async def test_replay_at_a_moment_before_anything_happened(bidhall) -> None:  # type: ignore[no-untyped-def]
    output(bidhall("seed"))
    early = output(bidhall("replay", "user:1", "--at", "2000-01-01T00:00:00Z"))
    assert early["state"] is None


async def test_the_demo_runs_a_tender_from_its_notice_to_the_award(bidhall, monkeypatch,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("BIDHALL_DEMO_POOL_SIZE", "150")
    output(bidhall("seed"))
    ran = bidhall("demo", "--out", str(tmp_path / "demo"))
    summary = output(ran)
    assert json.loads((tmp_path / "demo" / "summary.json").read_text()) == summary
    files = summary["files"]  # the command says where its files are
    assert Path(files["folder"]) == (tmp_path / "demo").resolve() and files["folder"] in ran.stderr
    assert files["summary"] == "summary.json"
    for name in ("summary", "opening_record", "evaluation_report", "signed_evaluation_report", "award_notice",
                 "award_notice_seal", "supervision_summary", "supervision_warnings", "ocds"):
        assert (Path(files["folder"]) / files[name]).is_file() and files[name] in ran.stderr
    assert len(summary["bids"]) == 5 and summary["opening"]["status"] == "published"
    for bid in summary["bids"]:
        receipt = json.loads((tmp_path / "demo" / bid["receipt"]).read_text())
        assert receipt["bid_id"] == bid["bid"] and receipt["timestamp_token"]
    record = json.loads((tmp_path / "demo" / "opening-record.json").read_text())
    assert [row["outcome"] for row in record["rows"]] == ["opened"] * 5
    assert all(row["problem"] is None and row["total_price"] for row in record["rows"])
    assert [row["method"] for row in record["rows"]].count("custodian_key") == 1  # the keyless bidder
    for stream in (f"project:{summary['project']}", f"opening:{summary['lot']}", f"bid:{summary['bids'][0]['bid']}"):
        assert output(bidhall("replay", stream, "--check"))["matches"] is True
    answers = [call["answer"] for call in summary["calls"]]
    assert answers[0] == "declined" and answers.count("accepted") == 5  # one replacement drawn
    _check_demo_evaluation(bidhall, summary, tmp_path / "demo")
    _check_demo_award(summary, tmp_path / "demo")
    _check_demo_supervision(summary, tmp_path / "demo")
    # the names stay sealed until the winner is decided; the draw still verifies from the ledger
    assert summary["draw"]["status"] == "revealed" and summary["verification"]["ok"]
    # a draw for remote off-site evaluation: each venue's experts from its own city
    assert [venue["region_code"] for venue in summary["draw"]["venues"]] == ["350100", "350200"]
    assert {call["venue"] for call in summary["calls"] if call["answer"] == "accepted"} == {"V1", "V2"}
    assert summary["draw"]["revealed_at"] > summary["award"]["confirmed_at"]
    assert output(bidhall("ledger", "verify"))["ok"] is True
    assert output(bidhall("draw", "verify", str(summary["draw"]["id"])))["complete"] is True


def _check_demo_evaluation(bidhall, summary: dict, out: Path) -> None:  # type: ignore[no-untyped-def]
    from evaluation.report_bundle import verify_bundle

    session = summary["session"]
    assert session["stage"] == "finished" and session["signatures"] == 5 and session["chair_seat"] == 1
    bundle = (out / session["signed_report"]).read_bytes()
    assert verify_bundle(bundle).ok and hashlib.sha256(bundle).hexdigest() == session["signed_report_sha256"]
    report = (out / session["report"]).read_bytes()
    assert hashlib.sha256(report).hexdigest() == session["report_sha256"] and report[:2] == b"PK"
    assert [failed["bidder"] for failed in session["failed_review"]] == ["bidder5"]
    assert [c["rank"] for c in session["candidates"]] == [1, 2, 3]
    assert session["clarification"]["answer"] and session["dissent"]["seat"] == 4
    assert session["flagged"]["seat"] == 5 and "abnormal" in session["flagged"]["flag"]
    assert sorted({m["venue"] for m in session["members"]}) == sorted(session["venues"])
    replay = output(bidhall("replay", f"evaluation:{session['id']}", "--check"))
    assert replay["matches"] is True and replay["replayed"]["stage"] == "finished"


def _check_demo_supervision(summary: dict, out: Path) -> None:
    from trading.ocds_schema import errors_of

    supervision = summary["supervision"]
    assert not supervision["rules_run"]["failures"]
    # the crafted pair (two bidders' proposals by the same author) and the abnormal score the
    # committee confirmed; nothing else (every demo client shares one address, told to the rule)
    assert sorted(w["rule_code"] for w in supervision["warnings"]) == [
        "evaluation.abnormal_scores", "trading.shared_document_metadata"]
    listed = json.loads((out / supervision["files"]["warnings"]).read_text())
    assert {w["project_id"] for w in listed} == {summary["project"]} and {w["status"] for w in listed} == {"open"}
    pair = next(w for w in listed if w["rule_code"] == "trading.shared_document_metadata")
    assert "Chen Ming" in pair["summary"] or "author" in pair["summary"]
    timeline = json.loads((out / supervision["files"]["timeline"]).read_text())
    assert supervision["timeline_steps"] == len(timeline["steps"]) > 10
    head = json.loads((out / supervision["files"]["published_head"]).read_text())
    assert head["tree_size"] > 0 and head["signature"]
    package = json.loads((out / supervision["files"]["ocds"]).read_text())
    assert errors_of("release-package", package) == []
    assert {tag for release in package["releases"] for tag in release["tag"]} >= {"tender", "award", "awardUpdate"}


def _check_demo_award(summary: dict, out: Path) -> None:
    award, candidates = summary["award"], summary["session"]["candidates"]
    # the candidates the session handed to trading are the ones published and awarded
    assert [(c["rank"], c["bid"]) for c in award["candidates"]] == [(c["rank"], c["bid"]) for c in candidates]
    assert award["status"] == "awarded" and award["winner"]["bid"] == candidates[0]["bid"]
    assert award["confirmed_at"] > award["publicity_until"]
    notice = (out / award["notice"]).read_bytes()
    assert hashlib.sha256(notice).hexdigest() == award["notice_sha256"]
    assert (out / award["seal_signature"]).stat().st_size > 0
    assert award["seal_verification"]["indication"] == "TOTAL_PASSED", award["seal_verification"]

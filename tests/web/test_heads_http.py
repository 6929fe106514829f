"""Published tree heads over HTTP and on the command line: publish, list, fetch by size,
check a presented head (online, and offline against a published head)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from core.actors import Role
from core.database import Database
from tests.factories import make_user, signed_in
from tests.supervision.test_heads import signed_document
from tests.supervision.walk_replay import make_widget
from web.runtime import Runtime


async def _auth(runtime: Runtime, role: Role) -> dict[str, str]:
    async with runtime.database.transaction() as session:
        _, token = await signed_in(session, role)
        await make_widget(session)
    return {"Authorization": f"Bearer {token}"}


async def test_publish_list_fetch_and_check_a_head(client: httpx.AsyncClient, runtime: Runtime) -> None:
    auth = await _auth(runtime, Role.REGULATOR)
    published = await client.post("/ledger/heads", headers=auth)
    assert published.status_code == 201, published.text
    head = published.json()
    listed = await client.get("/ledger/heads")
    by_size = await client.get(f"/ledger/heads/{head['tree_size']}")
    assert listed.json() == {"heads": [head], "next_after_size": None}
    assert by_size.json() == head
    checked = await client.post("/ledger/heads/check", json=head)
    assert checked.status_code == 200 and checked.json()["ok"] and checked.json()["published"]


async def test_publishing_needs_an_oversight_role(client: httpx.AsyncClient, runtime: Runtime) -> None:
    auth = await _auth(runtime, Role.BIDDER)
    assert (await client.post("/ledger/heads", headers=auth)).status_code == 403
    assert (await client.post("/ledger/heads")).status_code == 401


async def test_forged_stale_and_malformed_heads_are_refused(client: httpx.AsyncClient, runtime: Runtime) -> None:
    auth = await _auth(runtime, Role.ADMIN)
    head = (await client.post("/ledger/heads", headers=auth)).json()
    signer = runtime.signer
    cases: list[tuple[Any, str]] = [
        ({**head, "root_hash": "00" * 32}, "bad-signature"),
        (signed_document(signer, head["tree_size"], b"\x05" * 32), "wrong-root"),
        (signed_document(signer, head["tree_size"] + 3, bytes.fromhex(head["root_hash"])), "unknown-size"),
    ]
    for document, reason in cases:
        response = await client.post("/ledger/heads/check", json=document)
        body = response.json()
        assert response.status_code == 422 and body["type"] == "/problems/tree-head-refused", response.text
        assert body["errors"][0]["detail"] == reason
    malformed = await client.post("/ledger/heads/check", content=b"{", headers={"content-type": "application/json"})
    assert malformed.status_code == 422 and "not valid JSON" in malformed.json()["detail"]
    missing = await client.get("/ledger/heads/999")
    assert missing.status_code == 404 and "no head of size 999" in missing.json()["detail"]
    bad_since = await client.get("/ledger/heads?since=soon")
    assert bad_since.status_code == 422


async def _grow(database: Database) -> int:
    async with database.transaction() as session:
        user = await make_user(session, Role.EXPERT)
    return user.id  # type: ignore[return-value]


async def test_the_head_commands(bidhall: Any, database: Database, tmp_path: Path) -> None:
    user_id = await _grow(database)
    old = bidhall("ledger", "publish-head")
    assert old.returncode == 0, old.stderr
    old_head = json.loads(old.stdout)
    await _grow(database)
    new_head = json.loads(bidhall("ledger", "publish-head").stdout)
    listed = json.loads(bidhall("ledger", "heads").stdout)
    assert [h["tree_size"] for h in listed["heads"]] == [old_head["tree_size"], new_head["tree_size"]]
    assert json.loads(bidhall("ledger", "heads", "--size", str(old_head["tree_size"])).stdout) == old_head
    missing = bidhall("ledger", "heads", "--size", "9999")
    assert missing.returncode != 0 and "no head of size 9999" in missing.stderr

    head_file, key_file, published_file, proof_file = (tmp_path / name for name in (
        "head.json", "key.pem", "published.json", "proof.json"))
    head_file.write_text(json.dumps(old_head))
    key_file.write_text(old_head["public_key"])
    published_file.write_text(json.dumps(new_head))
    online = bidhall("ledger", "check-head", str(head_file))
    assert online.returncode == 0 and json.loads(online.stdout)["consistency"]["second"] == new_head["tree_size"]
    proof_file.write_text(json.dumps(json.loads(online.stdout)["consistency"]))
    offline = bidhall("ledger", "check-head", str(head_file), "--published", str(published_file),
                      "--proof", str(proof_file), "--platform-key", str(key_file))
    assert offline.returncode == 0 and json.loads(offline.stdout)["ok"], offline.stderr

    forged_file = tmp_path / "forged.json"
    forged_file.write_text(json.dumps({**old_head, "root_hash": "ab" * 32}))
    forged = bidhall("ledger", "check-head", str(forged_file))
    assert forged.returncode == 1 and json.loads(forged.stdout)["reason"] == "bad-signature"
    unpinned = bidhall("ledger", "check-head", str(head_file), "--published", str(published_file))
    assert unpinned.returncode == 2 and "--platform-key" in unpinned.stderr

    timeline = bidhall("replay", f"user:{user_id}", "--timeline")
    assert timeline.returncode == 0, timeline.stderr
    steps = json.loads(timeline.stdout)["steps"]
    assert steps[0]["type"].startswith("identities.") and steps[0]["changes"][0]["op"] == "add"
    mixed = bidhall("replay", f"user:{user_id}", "--timeline", "--check")
    assert mixed.returncode == 2 and "--timeline" in mixed.stderr

"""Tokens, users and projects, as a WebODM API script meets them."""

from __future__ import annotations

import time

import jwt
import pytest

from .conftest import Api, Server, add_user


def test_token_auth_answers_as_webodm(server: Server) -> None:
    anon = Api(server.url)
    ok = anon.post("/api/token-auth/", data={"username": "alice", "password": "alice-password"})
    assert ok.status_code == 200 and list(ok.json()) == ["token"]
    as_json = anon.post("/api/token-auth/", json={"username": "alice", "password": "alice-password"})
    assert as_json.status_code == 200
    claims = jwt.decode(ok.json()["token"], options={"verify_signature": False})
    assert claims["username"] == "alice" and claims["exp"] - time.time() == pytest.approx(6 * 3600, abs=120)

    wrong = anon.post("/api/token-auth/", data={"username": "alice", "password": "nope"})
    assert wrong.status_code == 400
    assert wrong.json() == {"non_field_errors": ["Unable to login with provided credentials."]}
    missing = anon.post("/api/token-auth/", data={"username": "alice"})
    assert (missing.status_code, missing.json()) == (400, {"password": ["This field is required."]})
    blank = anon.post("/api/token-auth/", data={"username": "", "password": "x"})
    assert blank.json() == {"username": ["This field may not be blank."]}
    get = anon.get("/api/token-auth/")
    assert (get.status_code, get.json()) == (405, {"detail": 'Method "GET" not allowed.'})


def test_missing_and_bad_credentials_get_403(server: Server, alice: Api) -> None:
    anon = Api(server.url)
    cases = [
        ({}, "Authentication credentials were not provided."),
        ({"Authorization": "Bearer " + str(alice.token)}, "Authentication credentials were not provided."),
        ({"Authorization": "JWT garbage"}, "Error decoding signature."),
        ({"Authorization": "JWT"}, "Invalid Authorization header. No credentials provided."),
        ({"Authorization": "JWT a b"}, "Invalid Authorization header. Credentials string should not contain spaces."),
    ]
    for headers, detail in cases:
        res = anon.get("/api/projects/", headers=headers)
        assert (res.status_code, res.json()) == (403, {"detail": detail}), headers
    key = (server.data_dir / "webodm" / "secret_key").read_text().strip()
    expired = jwt.encode({"user_id": 1, "username": "alice", "exp": int(time.time()) - 10}, key, algorithm="HS256")
    res = anon.get("/api/projects/", headers={"Authorization": f"jwt {expired}"})
    assert (res.status_code, res.json()) == (403, {"detail": "Signature has expired."})
    claims = {"user_id": 1, "username": "alice", "exp": int(time.time()) + 60}
    forged = jwt.encode(claims, "not-the-key-of-this-server-at-all-0123456789")
    assert anon.get("/api/projects/", headers={"Authorization": f"JWT {forged}"}).status_code == 403
    assert anon.get("/api/projects/", params={"jwt": alice.token}).status_code == 200
    assert anon.get("/api/processingnodes/").status_code == 403


def test_user_add_refuses_a_duplicate(server: Server) -> None:
    done = add_user(server.data_dir, "alice", "other")
    assert done.returncode == 1 and "already exists" in done.stderr
    assert Api(server.url).login("alice").token  # the password is unchanged


def test_projects_crud(alice: Api) -> None:
    missing = alice.post("/api/projects/", data={"description": "no name"})
    assert (missing.status_code, missing.json()) == (400, {"name": ["This field is required."]})
    first = alice.post("/api/projects/", data={"name": "First", "description": "d"})
    assert first.status_code == 201
    project = first.json()
    assert project["name"] == "First" and project["tasks"] == [] and project["owned"] is True
    assert set(project["permissions"]) == {"add", "change", "delete", "view"}
    assert project["created_at"].endswith("Z") and len(project["created_at"].split(".")[1]) == 7
    second = alice.post("/api/projects/", json={"name": "Second", "tags": ["a", "b"]}).json()

    listed = alice.get("/api/projects/")
    assert listed.status_code == 200 and isinstance(listed.json(), list)
    ids = [p["id"] for p in listed.json()]
    assert ids.index(second["id"]) < ids.index(project["id"])  # newest first
    assert [p["id"] for p in alice.get("/api/projects/", params={"name": "Second"}).json()] == [second["id"]]
    page = alice.get("/api/projects/", params={"page": 1}).json()
    assert set(page) == {"count", "next", "previous", "results"} and page["count"] >= 2

    pid = project["id"]
    assert alice.get(f"/api/projects/{pid}/").json()["description"] == "d"
    slashless = alice.get(f"/api/projects/{pid}")  # clients rely on the redirect to the slashed URL
    assert slashless.status_code == 200 and slashless.json()["id"] == pid
    renamed = alice.patch(f"/api/projects/{pid}/", json={"name": "Renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    blank = alice.patch(f"/api/projects/{pid}/", json={"name": ""})
    assert blank.status_code == 400 and "name" in blank.json()
    bad_json = alice.patch(f"/api/projects/{pid}/", data="{oops", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["detail"].startswith("JSON parse error")

    deleted = alice.delete(f"/api/projects/{second['id']}/")
    assert deleted.status_code == 204 and deleted.content == b""
    gone = alice.get(f"/api/projects/{second['id']}/")
    assert (gone.status_code, gone.json()) == (404, {"detail": "Not found."})
    assert alice.get(f"/api/projects/{pid}/").json()["name"] == "Renamed"


def test_users_see_only_their_own_projects(alice: Api, bob: Api) -> None:
    mine = alice.post("/api/projects/", data={"name": "Alice's"}).json()
    pid = mine["id"]
    assert pid not in [p["id"] for p in bob.get("/api/projects/").json()]
    for res in (
        bob.get(f"/api/projects/{pid}/"),
        bob.patch(f"/api/projects/{pid}/", json={"name": "taken"}),
        bob.delete(f"/api/projects/{pid}/"),
        bob.get(f"/api/projects/{pid}/tasks/"),
        bob.post(f"/api/projects/{pid}/tasks/import", files={"file": ("a.zip", b"PK")}),
    ):
        assert (res.status_code, res.json()) == (404, {"detail": "Not found."}), res.request.method
    assert alice.get(f"/api/projects/{pid}/").json()["name"] == "Alice's"


def test_processing_nodes(alice: Api) -> None:
    nodes = alice.get("/api/processingnodes/").json()
    assert nodes[0]["id"] == 1 and nodes[0]["online"] is True
    assert isinstance(nodes[0]["queue_count"], int) and nodes[0]["api_version"] == "2.2.4"
    names = {o["name"] for o in nodes[0]["available_options"]}
    assert {"dsm", "orthophoto-resolution", "rerun-from"} <= names
    assert nodes[0]["token"] == ""
    options = alice.get("/api/processingnodes/options/").json()
    assert {o["name"] for o in options} == names
    assert alice.get("/api/processingnodes/1/").json()["id"] == 1
    assert alice.get("/api/processingnodes/7/").status_code == 404

"""A local stand-in for the part of the Hugging Face Hub API that `create_repo` and `upload_folder` use.

huggingface_hub 2.4 talks to it unchanged through `HF_ENDPOINT=http://127.0.0.1:PORT` (see
ENVIRONMENT.md "The Hub"). Every file is answered as a "regular" upload, so the commit carries the
bytes base64-encoded and neither xet nor git-LFS is needed. A commit is applied all at once when its
request has been read completely: a dropped connection leaves the repository as it was, as on the Hub.

    hub = FakeHub(tmp_path); hub.start()   # hub.url for HF_ENDPOINT
    hub.drop_next = "commit"               # the next commit request is cut off mid-body
    hub.files("org/name")                   # {path: bytes} on main
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


def _inside(base: Path, relative: str) -> Path:
    """`base / relative`, refusing what the Hub refuses: empty, `.` or `..` segments, absolute paths,
    backslashes and NUL (a revision `../../main` must not become a folder outside the store)."""
    parts = relative.split("/")
    if relative.startswith("/") or any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts):
        raise ValueError(f"invalid path {relative!r}")
    path = (base / relative).resolve()
    if base.resolve() not in path.parents:
        raise ValueError(f"invalid path {relative!r}")
    return path


class FakeHub:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.repos: dict[str, dict] = {}  # "ns/name" -> {"private": bool, "branches": {name: commit count}}
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers) of every request
        self.commits: list[dict] = []  # header lines of the applied commits
        self.drop_next: str | None = None  # "commit" or "preupload": cut that request off once
        self.server: ThreadingHTTPServer | None = None

    # ---- storage ---------------------------------------------------------------------------------
    def folder(self, repo_id: str, revision: str = "main") -> Path:
        """Where a revision is stored; a repo id or revision that would leave the store is a `ValueError`."""
        return _inside(self.root, f"{repo_id}/{revision}")

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        base = self.folder(repo_id, revision)
        return {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*") if p.is_file()} if base.exists() else {}

    # ---- server ------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakeHub":
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body=None, headers: dict | None = None):
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _drop(self, what: str) -> bool:
                if hub.drop_next != what:
                    return False
                hub.drop_next = None
                # read a little of the body, then hang up without an answer: a network failure mid-push
                self.rfile.read(min(64, int(self.headers.get("Content-Length") or 0)))
                self.close_connection = True
                self.connection.shutdown(2)
                return True

            def do_HEAD(self):
                hub.requests.append(("HEAD", self.path, dict(self.headers)))
                self._send(404, None, {"X-Error-Code": "EntryNotFound"})

            def do_GET(self):
                hub.requests.append(("GET", self.path, dict(self.headers)))
                if self.path.startswith("/api/whoami-v2"):
                    return self._send(200, {"type": "user", "name": "tester", "orgs": [], "auth": {}})
                m = re.match(r"^/api/models/([^/]+/[^/?]+)", self.path)
                if m and m.group(1) in hub.repos:
                    return self._send(200, {"id": m.group(1), "private": hub.repos[m.group(1)]["private"],
                                            "siblings": [{"rfilename": f} for f in hub.files(m.group(1))]})
                self._send(404, {"error": "not found"}, {"X-Error-Code": "RepoNotFound"})

            def do_POST(self):
                hub.requests.append(("POST", self.path, dict(self.headers)))
                path = self.path.split("?")[0]
                if path == "/api/repos/create":
                    body = json.loads(self._body())
                    repo_id = f"{body.get('organization') or 'tester'}/{body['name']}"
                    if repo_id in hub.repos:
                        return self._send(409, {"error": "You already created this model repo", "url": f"{hub.url}/{repo_id}"})
                    private = body.get("private", body.get("visibility") == "private")
                    hub.repos[repo_id] = {"private": bool(private), "branches": {"main": 0}}
                    return self._send(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})
                if path == "/api/validate-yaml":
                    self._body()
                    return self._send(200, {"errors": [], "warnings": []})
                m = re.match(r"^/api/models/([^/]+/[^/]+)/(preupload|commit|branch)/(.+)$", path)
                if not m or m.group(1) not in hub.repos:
                    self._body()
                    return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                repo_id, action, revision = m.group(1), m.group(2), unquote(m.group(3))
                repo = hub.repos[repo_id]
                try:
                    hub.folder(repo_id, revision)
                except ValueError:
                    self._body()
                    return self._send(400, {"error": f"Invalid rev id: {revision}"}, {"X-Error-Code": "RevisionNotFound"})
                if action == "branch":
                    self._body()
                    if revision in repo["branches"]:
                        return self._send(409, {"error": "Reference already exists"})
                    repo["branches"][revision] = 0
                    src = hub.folder(repo_id, "main")
                    if src.exists():
                        shutil.copytree(src, hub.folder(repo_id, revision))
                    return self._send(200, {})
                if self._drop(action):
                    return
                if revision not in repo["branches"]:
                    self._body()
                    return self._send(404, {"error": f"Invalid rev id: {revision}"}, {"X-Error-Code": "RevisionNotFound"})
                if action == "preupload":
                    files = json.loads(self._body())["files"]
                    return self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                      for f in files]})
                # commit: the whole request first, then one atomic swap of the revision folder
                lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
                staged = hub.root / ".staging" / repo_id / revision  # checked above (hub.folder)
                shutil.rmtree(staged, ignore_errors=True)
                current = hub.folder(repo_id, revision)
                if current.exists():
                    shutil.copytree(current, staged)
                staged.mkdir(parents=True, exist_ok=True)
                header = {}
                for line in lines:
                    if line["key"] == "header":
                        header = line["value"]
                    elif line["key"] == "file":
                        try:
                            target = _inside(staged, line["value"]["path"])
                        except ValueError:
                            shutil.rmtree(staged, ignore_errors=True)
                            return self._send(400, {"error": f"Invalid path: {line['value']['path']!r}"})
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(base64.b64decode(line["value"]["content"]))
                    elif line["key"] == "deletedFile":
                        try:
                            _inside(staged, line["value"]["path"]).unlink(missing_ok=True)
                        except ValueError:
                            shutil.rmtree(staged, ignore_errors=True)
                            return self._send(400, {"error": f"Invalid path: {line['value']['path']!r}"})
                    else:
                        return self._send(400, {"error": f"unsupported commit operation {line['key']}"})
                shutil.rmtree(current, ignore_errors=True)
                current.parent.mkdir(parents=True, exist_ok=True)
                staged.rename(current)
                repo["branches"][revision] += 1
                hub.commits.append({"repo_id": repo_id, "revision": revision, **header})
                oid = f"{len(hub.commits):040x}"
                return self._send(200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{oid}", "commitOid": oid,
                                        "pullRequestUrl": None, "success": True})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

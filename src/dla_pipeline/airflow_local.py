"""The local Airflow: `make airflow` starts the scheduler, api-server, dag-processor and
triggerer (LocalExecutor, metadata in PostgreSQL, the UI on 127.0.0.1), `make
airflow-stop` stops every process they started; and a small REST client that triggers
nights and backfills and follows them.

Each component runs in a session of its own (``setsid``), its pid kept in
``.airflow/run/<component>.pid``: stopping sends SIGTERM to the session, waits, then
kills whatever is left in it, LocalExecutor workers and task processes included.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from .airflow_env import airflow_env, write_passwords_file
from .config import SOURCES, get_settings

COMPONENTS = {
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
    "api-server": ["api-server"],
}


class AirflowNotRunning(RuntimeError):
    pass


def _home() -> Path:
    return Path(airflow_env()["AIRFLOW_HOME"])


def _run_dir() -> Path:
    d = _home() / "run"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def base_url() -> str:
    return airflow_env()["AIRFLOW__API__BASE_URL"]


def api_up(timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url()}/api/v2/monitor/health", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start(wait: float = 120.0) -> str:
    """Start every component that is not running; returns the UI's URL once it answers."""
    env = airflow_env()
    write_passwords_file()
    logs = _home() / "logs" / "components"
    logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, args in COMPONENTS.items():
        pidfile = _run_dir() / f"{name}.pid"
        if pidfile.exists() and _alive(int(pidfile.read_text())):
            continue
        with (logs / f"{name}.log").open("a") as out:
            proc = subprocess.Popen(
                [_airflow(), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own session: stop() ends everything in it
            )
        pidfile.write_text(str(proc.pid))
    deadline = time.monotonic() + wait
    while not api_up():
        if time.monotonic() > deadline:
            raise AirflowNotRunning(f"the api-server did not answer on {base_url()}: see {logs}")
        time.sleep(1)
    return base_url()


def _session_members(sid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=False
    ).stdout
    return [
        int(p)
        for p, s in (line.split() for line in out.splitlines() if line.strip())
        if int(s) == sid
    ]


def stop(grace: float = 20.0) -> list[str]:
    """SIGTERM to each component's session, then SIGKILL to whatever is left in it."""
    stopped = []
    sessions = []
    for pidfile in sorted(_run_dir().glob("*.pid")):
        sid = int(pidfile.read_text())
        sessions.append((pidfile, sid))
        for pid in _session_members(sid):
            with _quiet():
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_session_members(sid) for _p, sid in sessions):
        time.sleep(0.5)
    for pidfile, sid in sessions:
        for pid in _session_members(sid):
            with _quiet():
                os.kill(pid, signal.SIGKILL)
        pidfile.unlink(missing_ok=True)
        stopped.append(pidfile.stem)
    return stopped


class _quiet:
    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        return kind in (ProcessLookupError, PermissionError)


# -- REST ------------------------------------------------------------------------------------


class Api:
    def __init__(self):
        if not api_up():
            raise AirflowNotRunning(
                f"Airflow does not answer on {base_url()}: start it with `make airflow`"
            )
        s = get_settings()
        self.token = self._call(
            "POST",
            "/auth/token",
            {"username": "admin", "password": s.airflow_admin_password or ""},
            auth=False,
        )["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        req = urllib.request.Request(f"{base_url()}{path}", method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        data = json.dumps(body).encode() if body is not None else None
        try:
            with urllib.request.urlopen(req, data=data, timeout=30) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read().decode()[:500]}") from None

    def trigger(self, dag_id: str, conf: dict) -> dict:
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        return self._call(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf}
        )

    def run(self, dag_id: str, run_id: str) -> dict:
        return self._call(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id, safe='')}"
        )

    def runs(self, dag_id: str, limit: int = 50) -> list[dict]:
        return self._call(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit={limit}"
        )["dag_runs"]

    def asset_events(self, limit: int = 50) -> list[dict]:
        return self._call("GET", f"/api/v2/assets/events?order_by=-timestamp&limit={limit}")[
            "asset_events"
        ]

    def backfill(self, dag_id: str, start: date, end: date, conf: dict) -> dict:
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        return self._call(
            "POST",
            "/api/v2/backfills",
            {
                "dag_id": dag_id,
                "from_date": start.isoformat(),
                "to_date": end.isoformat(),
                "dag_run_conf": conf,
                "reprocess_behavior": "completed",
                "max_active_runs": 4,
            },
        )


FINISHED = {"success", "failed"}


def wait_runs(api: Api, runs: dict[str, str], timeout: float, say=print) -> dict[str, str]:
    """Follow DAG runs ({dag_id: run_id}) until they finish; their final states."""
    states: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while len(states) < len(runs):
        for dag_id, run_id in runs.items():
            if dag_id not in states:
                state = api.run(dag_id, run_id)["state"]
                if state in FINISHED:
                    states[dag_id] = state
                    say(f"  {dag_id}: {state}")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"still running after {timeout:.0f}s: {sorted(set(runs) - set(states))}"
            )
        time.sleep(2)
    return states


def find_build(api: Api, night: date, since: datetime, timeout: float) -> str | None:
    """The build_marts run of a night's partition created after ``since``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in api.runs("build_marts"):
            after = datetime.fromisoformat(r["run_after"].replace("Z", "+00:00"))
            if r.get("partition_key") == night.isoformat() and after >= since - timedelta(
                seconds=5
            ):
                return r["dag_run_id"]
        time.sleep(2)
    return None


def why_no_build(api: Api, night: date) -> str:
    """What Airflow knows of a night whose build did not start: the sources' announcements
    (asset events with their partition) and the build runs, for the operator or a test."""
    key = night.isoformat()
    events = [
        f"{e.get('source_dag_id')}/{e.get('source_run_id')} at {e.get('timestamp')}"
        for e in api.asset_events(100)
        if e.get("partition_key") == key
    ]
    builds = [
        f"{r['dag_run_id']} ({r.get('partition_key')}, {r['state']})"
        for r in api.runs("build_marts")
    ]
    return f"announcements of {key}: {events or 'none'}; build_marts runs: {builds or 'none'}"


def run_night_in_airflow(night: date, timeout: float = 3600) -> str:
    """Trigger the three ingests for the night (no waiting for a cutoff: the files are
    there), follow them and the build they start; returns the build's run id."""
    api = Api()
    since = datetime.now(UTC)
    now = since.isoformat()
    conf = {"extract_date": night.isoformat(), "cutoff": now}
    runs = {f"ingest_{s}": api.trigger(f"ingest_{s}", conf)["dag_run_id"] for s in SOURCES}
    print(f"triggered {', '.join(runs)} for {night} in Airflow ({base_url()})", flush=True)
    wait_runs(api, runs, timeout)
    build = find_build(api, night, since, timeout=300)
    if build is None:
        print(f"build_marts did not start: {why_no_build(api, night)}", flush=True)
        return next(iter(runs.values()))
    print(f"build_marts {build} ...", flush=True)
    wait_runs(api, {"build_marts": build}, timeout)
    return build


def backfill(start: date, end: date, timeout: float = 6 * 3600) -> str:
    """Airflow's own backfill of the three ingests (they do not announce each night), then
    one build over the range: N nights cost about one build."""
    api = Api()
    since = datetime.now(UTC)
    ids = {
        f"ingest_{s}": api.backfill(
            f"ingest_{s}", start, end, {"announce": False, "cutoff": since.isoformat()}
        )["id"]
        for s in SOURCES
    }
    total = 3 * ((end - start).days + 1)
    print(f"backfill {start}..{end}: {total} ingest runs ({ids})", flush=True)
    deadline = time.monotonic() + timeout
    while True:
        done = {
            d: api._call("GET", f"/api/v2/backfills/{i}").get("completed_at")
            for d, i in ids.items()
        }
        states = [
            r["state"]
            for d in ids
            for r in api.runs(d, limit=min(total, 100))
            if r.get("run_type") == "backfill"
        ]
        print(
            f"  {sum(s == 'success' for s in states)}/{total} ingest runs done,"
            f" {sum(s == 'failed' for s in states)} failed",
            flush=True,
        )
        if all(done.values()) or time.monotonic() > deadline:
            break
        time.sleep(10)
    run = api.trigger(
        "build_marts", {"extract_date": end.isoformat(), "from_date": start.isoformat()}
    )
    print(f"one build over the range: build_marts {run['dag_run_id']}", flush=True)
    wait_runs(api, {"build_marts": run["dag_run_id"]}, timeout)
    return run["dag_run_id"]

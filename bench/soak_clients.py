"""The soak's clients: one process per role, one thread per user, each request recorded
(time, status, latency) and each acknowledged write kept for the check in ``bench/soak.py``."""

from __future__ import annotations

import io
import json
import random
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from openpyxl import Workbook

MARKS = ["for", "against", "abstain"]
Record = tuple[float, int, float]  # seconds since start, status (0: client error), latency ms


class Recorder:
    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.records: dict[str, list[Record]] = defaultdict(list)
        self.acked: dict[str, list[Any]] = defaultdict(list)
        self.samples: dict[str, str] = {}  # the first answer of each kind and odd status
        self.lock = threading.Lock()

    def call(self, kind: str, client: httpx.Client, method: str, path: str, **kw: Any) -> Any:
        at, start = time.monotonic() - self.t0, time.perf_counter()
        try:
            r = client.request(method, path, **kw)
            status, what = r.status_code, r.text[:300]
        except httpx.HTTPError as exc:
            r, status, what = None, 0, repr(exc)
        ms = (time.perf_counter() - start) * 1000
        with self.lock:
            self.records[kind].append((at, status, ms))
            if status not in (200, 201, 409):
                self.samples.setdefault(
                    f"{kind} {status}", f"{method} {path} {kw.get('params', '')} -> {what}"
                )
        return r


def resident(rec: Recorder, base: str, cfg: dict[str, Any], end: float, rng: random.Random) -> None:
    cid = cfg["campaign_id"]
    with httpx.Client(base_url=base, timeout=30) as c:
        form = c.get(f"/api/v1/campaigns/{cid}/form").json()
        units = [u["code"] for u in form["units"]]
        areas = [a["code"] for a in form["areas"]]
        while time.monotonic() < end:
            if rng.random() < 0.1:
                r = rec.call("resident form", c, "GET", f"/api/v1/campaigns/{cid}/form")
                if r is not None and r.status_code == 200:
                    form = r.json()
            answers: dict[str, Any] = {}
            for q in form["questions"]:
                if q["type"] == "rating":
                    answers[q["key"]] = rng.randint(1, 5)
                elif q["type"] == "nps":
                    answers[q["key"]] = rng.randint(0, 10)
                elif q["options"]:
                    answers[q["key"]] = rng.choice(q["options"])["value"]
            sid = str(uuid.UUID(int=rng.getrandbits(128)))
            body = {
                "unit_code": rng.choice(units),
                "answers": answers,
                "comment": rng.choice([None, None, "窗口工作人员态度很好", "排队时间太长"]),
                "submission_id": sid,
                "area_code": rng.choice(areas),
                "profile": {
                    "age_band": rng.choice(cfg["age_bands"]),
                    "sex": rng.choice(cfg["sexes"]),
                },
                "form_token": form["form_token"],
            }
            r = rec.call(
                "resident post", c, "POST", f"/api/v1/campaigns/{cid}/responses", json=body
            )
            if r is not None and r.status_code == 201:
                with rec.lock:
                    rec.acked["responses"].append((sid, r.json()["id"]))


def evaluator(
    rec: Recorder, base: str, cfg: dict[str, Any], end: float, rng: random.Random
) -> None:
    cid = cfg["campaign_id"]
    auth = {"Authorization": f"Bearer {cfg['evaluator']}"}
    with httpx.Client(base_url=base, timeout=60, headers=auth) as c:
        form = c.get(f"/api/v1/campaigns/{cid}/form").json()
        areas = [a["code"] for a in form["areas"]]
        while time.monotonic() < end:
            filters: dict[str, Any] = {"campaign_id": cid}
            filters["period"] = rng.choice(["month", "week"])
            if rng.random() < 0.4:
                filters["area"] = rng.choice(areas)
            if rng.random() < 0.4:
                filters["unit_kind"] = rng.choice(["department", "service_window", "community"])
            if rng.random() < 0.3:
                filters["month"] = rng.choice(cfg["months"])
            if rng.random() < 0.3:
                filters["weighted"] = "true"
            rec.call("dashboard page", c, "GET", "/dashboard", params=filters)
            rec.call("dashboard bundle", c, "GET", "/api/v1/dashboard", params=filters)
            q: dict[str, Any] = {
                "by": rng.choice(["unit,dimension", "area,dimension", "age_band,sex", "unit"])
            }
            if rng.random() < 0.3:
                q["area_code"] = rng.choice(areas)
            if rng.random() < 0.3:
                q["age_band"] = rng.choice(cfg["age_bands"])
            if rng.random() < 0.3:
                q["month"] = rng.choice(cfg["months"])
            if rng.random() < 0.3:
                q["weighted"] = "true"
            rec.call("indicators", c, "GET", f"/api/v1/campaigns/{cid}/indicators", params=q)
            time.sleep(rng.uniform(0.5, 1.5))


def deputy(rec: Recorder, base: str, cfg: dict[str, Any], end: float, rng: random.Random) -> None:
    seats = cfg["seats"]  # this thread's (session, deputy) pairs, in random order
    voted: list[tuple[int, int]] = []
    with httpx.Client(base_url=base, timeout=30) as c:
        while time.monotonic() < end and seats:
            again = voted and rng.random() < 0.05
            sid, d = rng.choice(voted) if again else seats.pop()
            choices = {str(p): rng.choice(MARKS) for p in cfg["project_ids"]}
            r = rec.call(
                "ballot (repeat)" if again else "ballot",
                c,
                "POST",
                f"/api/v1/voting-sessions/{sid}/ballots",
                json={"choices": choices},
                headers={"Authorization": f"Bearer {cfg['deputies'][d]}"},
            )
            if r is not None and r.status_code == 201:
                with rec.lock:
                    rec.acked["ballots"].append(r.json()["receipt_hash"])
                if again:
                    rec.acked["second ballots"].append(sid)
            if not again:
                voted.append((sid, d))
            time.sleep(rng.uniform(0.05, 0.3))


def workbook(rng: random.Random, rows: int = 200) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("survey")
    ws.append(["type", "name", "label::zh", "label::en"])
    for i in range(rows):
        ws.append([rng.choice(["text", "integer"]), f"q{i}", f"问题{i}", f"Question {i}"])
    st = wb.create_sheet("settings")
    st.append(["form_title"])
    st.append(["压力测试问卷"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def admin(rec: Recorder, base: str, cfg: dict[str, Any], end: float, rng: random.Random) -> None:
    cid = cfg["campaign_id"]
    auth = {"Authorization": f"Bearer {cfg['admin']}"}
    with httpx.Client(base_url=base, timeout=120, headers=auth) as c:
        form = c.get(f"/api/v1/campaigns/{cid}/form").json()
        units = [u["code"] for u in form["units"]]
        areas = [a["code"] for a in form["areas"]]
        qs = [q for q in form["questions"] if q["type"] in ("rating", "nps")]
        n = 0
        while time.monotonic() < end:
            n += 1
            if n % 2:
                head = ["unit_code", "area_code", "age_band", "sex", *(q["key"] for q in qs)]
                lines = [",".join(head)]
                for _ in range(cfg["import_rows"]):
                    marks = [
                        str(rng.randint(0, 10) if q["type"] == "nps" else rng.randint(1, 5))
                        for q in qs
                    ]
                    lines.append(
                        ",".join(
                            [
                                rng.choice(units),
                                rng.choice(areas),
                                rng.choice(cfg["age_bands"]),
                                rng.choice(cfg["sexes"]),
                                *marks,
                            ]
                        )
                    )
                files = {"file": ("paper.csv", ("\n".join(lines) + "\n").encode(), "text/csv")}
                path = f"/api/v1/campaigns/{cid}/responses/import"
                r = rec.call("import CSV", c, "POST", path, files=files)
                if r is not None and r.status_code == 201:
                    with rec.lock:
                        rec.acked["imported rows"].append(r.json()["imported"])
            else:
                files = {"file": ("form.xlsx", workbook(rng), "application/octet-stream")}
                r = rec.call("import XLSForm", c, "POST", "/api/v1/surveys/import", files=files)
                if r is not None and r.status_code == 201:
                    with rec.lock:
                        rec.acked["surveys"].append(r.json()["id"])
            time.sleep(rng.uniform(3, 7))


ROLES = {"resident": resident, "evaluator": evaluator, "deputy": deputy, "admin": admin}


def role_process(role: str, users: int, base: str, cfgs: list[dict[str, Any]], end_in: float,
                 out: str, seed: int) -> None:  # fmt: skip
    """One client process: ``users`` threads of one role until the end; records to ``out``."""
    t0 = time.monotonic()
    rec = Recorder(t0)
    threads = [
        threading.Thread(
            target=ROLES[role], args=(rec, base, cfgs[i], t0 + end_in, random.Random(seed + i))
        )
        for i in range(users)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Path(out).write_text(
        json.dumps({"records": rec.records, "acked": rec.acked, "samples": rec.samples})
    )

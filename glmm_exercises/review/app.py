"""The review web page: a WSGI application over one grading folder (server-rendered, no CDN).

Built on Werkzeug: it is maintained (Pallets, the Flask project), small (routing, request and
response objects, a threaded development server that stops cleanly), has one dependency
(MarkupSafe, which jinja2 already needs), and leaves templating to our own jinja2 environment
(autoescape on, ``StrictUndefined``), so student text goes through the same escaping as every
report. Flask would add a second template environment and globals we do not need.

Access: every request needs the server's random token, from ``?token=`` once (then kept in
an HttpOnly, SameSite=Strict cookie) -- without it the answer is 403. Forms carry the token
too, so another site cannot post grades through the browser. The autograded report is shown
in a sandboxed frame under a strict Content-Security-Policy.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from importlib.resources import files
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from werkzeug.exceptions import Forbidden, HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from glmm_exercises.review.final import ItemFinal, final_grades, template_environment
from glmm_exercises.review.folder import GradingFolder, ItemRef, ReviewError
from glmm_exercises.review.late import SubmissionTimeError
from graders.gradebook import points_text
from graders.safe_text import clip, one_line

__all__ = ["COOKIE", "ReviewApp"]

COOKIE = "glmm_review_token"
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'self'")
#: The autograded report is our own HTML, but it quotes student output: no script, no network.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
_STATIC = {"review.css": "text/css; charset=utf-8", "review.js": "text/javascript; charset=utf-8"}
MAX_COMMENT = 5000


def _environment() -> jinja2.Environment:
    env = template_environment()
    env.globals["pts"] = points_text
    env.filters["u"] = lambda s: quote(str(s), safe="")
    return env


class ReviewApp:
    """WSGI application of ``glmm-exercises review`` (``token``: the access token)."""

    def __init__(self, folder: GradingFolder, token: str) -> None:
        self.folder = folder
        self.store = folder.store()
        self.token = token
        self.env = _environment()
        self.url_map = Map([
            Rule("/", endpoint="index"),
            Rule("/queue/<exercise>/<item>", endpoint="queue"),
            Rule("/grade/<exercise>/<item>/<sid>", endpoint="grade", methods=["GET", "POST"]),
            Rule("/student/<sid>", endpoint="student"),
            Rule("/override/<sid>", endpoint="override", methods=["POST"]),
            Rule("/report/<sid>", endpoint="report"),
            Rule("/search", endpoint="search"),
            Rule("/static/<name>", endpoint="static"),
        ])

    # plumbing ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _authorised(self, request: Request) -> tuple[bool, bool]:
        """(allowed, token came in the query string)."""
        given = request.args.get("token")
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            return True, True
        cookie = request.cookies.get(COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self.token.encode()), False

    def _dispatch(self, request: Request) -> Response:
        allowed, from_query = self._authorised(request)
        try:
            if not allowed:
                raise Forbidden("open the URL with its token, as printed by glmm-exercises review")
            if request.method == "POST":
                form_token = request.form.get("token", "")
                if not hmac.compare_digest(form_token.encode(), self.token.encode()):
                    raise Forbidden("the form's token does not match; reload the page")
            adapter = self.url_map.bind_to_environ(request.environ)
            endpoint, values = adapter.match()
            response = getattr(self, f"on_{endpoint}")(request, **values)
        except HTTPException as exc:
            response = Response(self._render("review/message.html.j2", title=f"{exc.code} {exc.name}",
                                             message=exc.description or "", home=allowed),
                                status=exc.code, mimetype="text/html")
        except (ReviewError, SubmissionTimeError) as exc:
            response = Response(self._render("review/message.html.j2", title="Cannot do that",
                                             message=str(exc), home=True), status=400, mimetype="text/html")
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        if from_query:
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        return response

    def _render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(token=self.token, title_base=one_line(self.folder.title, 200),
                                                      **context)

    def _page(self, template: str, **context: Any) -> Response:
        return Response(self._render(template, **context), mimetype="text/html")

    def _ref(self, exercise: str, item: str) -> ItemRef:
        ref = self.folder.item(exercise, item)
        if ref is None:
            raise NotFound("no such manual item in this assignment's rubric")
        return ref

    def _order(self) -> list[str]:
        return self.folder.graded_students()

    # pages -------------------------------------------------------------------------------------

    def on_static(self, request: Request, name: str) -> Response:
        if name not in _STATIC:
            raise NotFound()
        body = files("glmm_exercises.templates").joinpath("review", name).read_bytes()
        return Response(body, content_type=_STATIC[name])

    def _progress(self) -> list[dict[str, Any]]:
        grades = self.store.current_grades()
        order = self._order()
        out = []
        for ref in self.folder.items:
            done = sum(1 for s in order if (s, ref.exercise, ref.item.id) in grades)
            answered = sum(1 for s in order if (self.folder.written(s, ref) or {}).get("status") == "answered")
            out.append({"exercise": ref.exercise, "item": ref.item.id, "title": one_line(ref.item.title, 200),
                        "points": ref.item.points, "free": ref.item.free, "done": done, "total": len(order),
                        "answered": answered})
        return out

    def on_index(self, request: Request) -> Response:
        finals = {f.sid: f for f in final_grades(self.folder, self.store)}
        students = [{"sid": sid, "status": one_line(f.status, 300), "graded": f.graded,
                     "total": points_text(f.total) if f.graded else "", "max": points_text(f.total_max)}
                    for sid, f in sorted(finals.items())]
        return self._page("review/index.html.j2", items=self._progress(), students=students)

    def _next_ungraded(self, ref: ItemRef, after: str | None) -> str | None:
        grades = self.store.current_grades()
        order = self._order()
        start = order.index(after) + 1 if after in order else 0
        for sid in order[start:] + order[:start]:
            if (sid, ref.exercise, ref.item.id) not in grades and sid != after:
                return sid
        return None

    def _grade_url(self, ref: ItemRef, sid: str, **params: str) -> str:
        url = f"/grade/{quote(ref.exercise)}/{quote(ref.item.id)}/{quote(sid)}"
        return url + ("?" + urlencode(params) if params else "")

    def on_queue(self, request: Request, exercise: str, item: str) -> Response:
        ref = self._ref(exercise, item)
        sid = self._next_ungraded(ref, None)
        if sid is None:
            return self._page("review/message.html.j2", title="All graded",
                              message=f"Every answer of {ref.key} has a grade.", home=True)
        return redirect(self._grade_url(ref, sid), 303)

    def on_grade(self, request: Request, exercise: str, item: str, sid: str) -> Response:
        ref = self._ref(exercise, item)
        order = self._order()
        if sid not in order:
            raise NotFound("no graded submission for this student")
        if request.method == "POST":
            return self._save_grade(request, ref, sid)
        history = [g for g in self.store.grade_history(sid) if g.exercise == exercise and g.item == item]
        current = history[-1] if history else None
        i = order.index(sid)
        written = self.folder.written(sid, ref)
        answer = None if ref.item.free else {
            "status": one_line((written or {}).get("status", "missing"), 40),
            "text": clip(str((written or {}).get("text", "")), 10_000),
        }
        conflict = request.args.get("conflict", "")
        return self._page(
            "review/grade.html.j2", ref=ref, sid=sid, answer=answer,
            rubric=[{"n": (j + 1) % 10, "index": j, "text": e.text, "points": e.points, "comment": e.comment,
                     "on": current is not None and j in current.entries} for j, e in enumerate(ref.item.rubric)],
            current=current, current_points=ItemFinal(ref, written, current).points,
            history=[{"at": g.at, "source": g.source, "points": ItemFinal(ref, written, g).points,
                      "comment": g.comment, "entries": [j + 1 for j in g.entries]} for g in history],
            base=current.id if current else 0,
            prev=self._grade_url(ref, order[i - 1]) if i > 0 else "",
            next=self._grade_url(ref, order[i + 1]) if i + 1 < len(order) else "",
            position=i + 1, count=len(order), progress=self._progress(),
            conflict=conflict, saved=request.args.get("saved", ""),
        )

    def _save_grade(self, request: Request, ref: ItemRef, sid: str) -> Response:
        try:
            entries = sorted({int(v) for v in request.form.getlist("entry")})
        except ValueError:
            raise ReviewError("a rubric entry is not a number; reload the page") from None
        comment = clip(request.form.get("comment", "").replace("\r\n", "\n"), MAX_COMMENT)
        base = request.form.get("base", "0")
        history = [g for g in self.store.grade_history(sid) if g.exercise == ref.exercise and g.item == ref.item.id]
        conflict = bool(history) and str(history[-1].id) != base
        self.folder.record_grade(self.store, sid, ref.exercise, ref.item.id, entries, comment, "page")
        params = {"saved": sid}
        if conflict:
            params["conflict"] = sid
        if request.form.get("action") == "next":
            following = self._next_ungraded(ref, sid)
            if following is None:
                return redirect("/?" + urlencode({"done": ref.key, **params}), 303)
            return redirect(self._grade_url(ref, following, **params), 303)
        return redirect(self._grade_url(ref, sid, **params), 303)

    def on_student(self, request: Request, sid: str) -> Response:
        finals = {f.sid: f for f in final_grades(self.folder, self.store)}
        if sid not in finals:
            raise NotFound("no such student in this grading folder")
        st = finals[sid]
        exercises = []
        for e in st.exercises:
            exercises.append({
                "id": e.id, "auto": e.auto, "auto_max": e.auto_max, "score": e.score, "max": e.max,
                "override": e.override,
                "manual": [{"ref": it.ref, "points": it.points,
                           "text": None if it.ref.item.free else clip(str((it.written or {}).get("text", "")), 10_000),
                           "status": one_line((it.written or {}).get("status", "missing"), 40),
                           "url": self._grade_url(it.ref, sid)} for it in e.items],
            })
        overrides = self.store.override_history(sid)
        return self._page("review/student.html.j2", sid=sid, st=st, exercises=exercises,
                          overrides=overrides, audit=st.audit(),
                          has_report=(self.folder.dir / "reports" / f"{sid}.html").is_file(),
                          exercise_ids=self.folder.exercise_ids)

    def on_override(self, request: Request, sid: str) -> Response:
        if sid not in self.folder.results:
            raise NotFound("no such student")
        exercise = request.form.get("exercise", "")
        if exercise not in self.folder.exercise_ids:
            raise ReviewError("unknown exercise")
        reason = one_line(request.form.get("reason", ""), 1000).strip()
        text = request.form.get("points", "").strip()
        if text == "":
            points = None
        else:
            try:
                points = float(text)
            except ValueError:
                raise ReviewError(f"points {one_line(text, 40)!r} is not a number") from None
            top = self.folder.exercise_max(exercise)
            if not 0 <= points <= top:
                raise ReviewError(f"points must be from 0 to {top:g} (the exercise's maximum)")
        if not reason:
            raise ReviewError("give a reason for the override (it is shown to the student)")
        self.store.add_overrides([(sid, exercise, points, reason)], "page")
        return redirect(f"/student/{quote(sid)}", 303)

    def on_report(self, request: Request, sid: str) -> Response:
        if sid not in self.folder.results:
            raise NotFound()
        path = self.folder.dir / "reports" / f"{sid}.html"
        if not path.is_file():
            raise NotFound("no autograded report for this student")
        response = Response(path.read_bytes(), content_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = REPORT_CSP
        return response

    def on_search(self, request: Request) -> Response:
        q = request.args.get("q", "").strip()
        if q in self.folder.results:
            return redirect(f"/student/{quote(q)}", 303)
        found = [s for s in self.folder.results if q.casefold() in s.casefold()] if q else []
        if len(found) == 1:
            return redirect(f"/student/{quote(found[0])}", 303)
        return self._page("review/search.html.j2", q=one_line(q, 100), found=found)

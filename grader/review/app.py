"""The review's Flask views: the index, *by check*, *by student*, the notebook, and the decision endpoint.

Every request must carry the secret token (``?token=`` once, then a cookie);
anything else gets 403. A decision is a JSON POST that must also carry the
token in a header, so that no other page can send one.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, redirect, render_template, request

from grader.review.folder import ClassFolder, cells_pointed_to
from grader.review.pages import code_cells, highlighted, notebook_html
from grader.review.reports import ReportWriter
from grader.scoring import apply_overrides

COOKIE = "grade_review_token"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# The student's notebook may hold any HTML or script: it runs in a sandbox with no origin, no scripts, nothing fetched.
NOTEBOOK_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; frame-src 'self'; img-src data:"


def create_app(folder: ClassFolder, token: str, reviewer: str, writer: ReportWriter | None = None) -> Flask:
    """The application for one class folder; ``writer`` (if any) is asked to write the reports after each decision."""
    app = Flask(__name__, template_folder=str(TEMPLATES))
    app.jinja_env.autoescape = True

    @app.before_request
    def require_token() -> Any:
        given = request.args.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            abort(403)
        if request.method == "POST" and not hmac.compare_digest(request.headers.get("X-Review-Token", "").encode(), token.encode()):
            abort(403)
        if "token" in request.args and request.method == "GET":  # as Jupyter does: the token once, then a cookie
            response = redirect(request.path)
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
            return response
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    def page(template: str, **context: Any) -> str:
        reviewed, total = folder.progress()
        status = writer.status if writer else ""
        return render_template(f"review/{template}", folder=folder, reviewed=reviewed, total=total, token=token, reports=status, **context)

    @app.get("/")
    def index() -> str:
        counts = {ref.key: folder.progress([ref]) for ref in folder.checks}
        return page("index.html", counts=counts, title="Review")

    @app.get("/check/<path:key>")
    def by_check(key: str) -> str:
        ref = folder.check_ref(key) or abort(404)
        cards = [card(student, key) for student in folder.students if folder.automatic(student, key)]
        return page("check.html", ref=ref, cards=cards, title=ref.title)

    @app.get("/student/<path:student>/notebook")
    def notebook(student: str) -> Response:
        result = folder.results.get(student) or abort(404)
        response = Response(notebook_html(Path(result.submission)), mimetype="text/html")
        response.headers["Content-Security-Policy"] = NOTEBOOK_CSP
        return response

    @app.get("/student/<path:student>")
    def by_student(student: str) -> str:
        result = folder.results.get(student) or abort(404)
        cards = [card(student, ref.key) for ref in folder.checks if folder.automatic(student, ref.key)]
        sources = code_cells(Path(result.submission))
        pointed = [(n, sources[n - 1]) for n in cells_pointed_to(result) if 0 < n <= len(sources)]
        at = folder.students.index(student)
        neighbours = (folder.students[at - 1] if at else None, folder.students[at + 1] if at + 1 < len(folder.students) else None)
        decided = apply_overrides(result, folder.overrides.get(student, {}))
        return page("student.html", result=result, decided=decided, cards=cards, pointed=pointed, neighbours=neighbours, title=student)

    @app.post("/api/decide")
    def decide() -> Any:
        data = request.get_json(silent=True) or {}
        student, key = str(data.get("student", "")), str(data.get("check", ""))
        score = data.get("score")
        comment = data.get("comment")
        try:
            if score is not None and type(score) not in (int, float):
                raise ValueError("score: expected a number")
            entry = folder.decide(student, key, reviewer, None if score is None else float(score), None if comment is None else str(comment))
        except ValueError as exc:
            return jsonify(error=str(exc)), 400
        if writer:
            writer.request()
        reviewed, total = folder.progress()
        return jsonify(decision=entry, reviewed=reviewed, total=total)

    def card(student: str, key: str) -> dict[str, Any]:
        check = folder.automatic(student, key)
        assert check is not None
        shown = check.shown or {}
        ideas = shown.get("ideas", []) if isinstance(shown.get("ideas"), list) else []
        text = shown.get("text") if isinstance(shown.get("text"), str) else None
        phrases = [str(idea.get("matched", "")) for idea in ideas if isinstance(idea, dict) and idea.get("matched")]
        return {
            "student": student,
            "key": key,
            "check": check,
            "flagged": student in folder.flagged,
            "text": highlighted(text, phrases) if text is not None else None,
            "ideas": [idea for idea in ideas if isinstance(idea, dict)],
            "decision": folder.decision(student, key),
        }

    return app

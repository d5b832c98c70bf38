"""``grade review OUT_DIR``: a local web application to review a graded class folder by hand.

What a batch wrote (``results.jsonl``, ``reports.json``) is read by
:mod:`.folder`; each decision (a score within the check's points, a comment,
or "the automatic score stands") is written at once, atomically, to the
folder's ``overrides.yaml`` with who decided and when, and the gradebooks,
feedback pages and summary are then written again from the stored results and
the overrides by :func:`grader.batch.rewrite_reports` (nothing is regraded).

:mod:`.app` holds the Flask views: *by check* (every student's answer to one
check side by side, keyboard driven) and *by student* (the report, the cells
a failure points to, the notebook). :mod:`.server` serves them on 127.0.0.1
only, on a free port, behind a secret token, as Jupyter does.
"""

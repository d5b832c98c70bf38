"""The grader's output nodes against nbformat's: the same node, or the same refusal, for every kind of message."""

from __future__ import annotations

from typing import Any

import pytest
from nbformat.v4 import output_from_msg

from grader.kernel.clients import output_node


def _message(kind: str, **content: Any) -> dict[str, Any]:
    return {"header": {"msg_type": kind}, "msg_type": kind, "parent_header": {}, "content": content}


GOOD = [
    _message("stream", name="stdout", text="hello\\n"),
    _message("stream", name="stderr", text=""),
    _message("stream", name="somewhere", text="x"),  # the schema names no streams
    _message("display_data", data={"text/plain": "x", "application/json": {"a": [1, {"b": None}]}}, metadata={"isolated": True}),
    _message("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": ["a", "b"]}, metadata={}),
    _message("execute_result", data={"text/plain": "3"}, metadata={}, execution_count=4),
    _message("execute_result", data={"text/plain": "3"}, metadata={}, execution_count=None),
    _message("error", ename="ValueError", evalue="bad", traceback=["line 1", "line 2"]),
]

BAD = [
    _message("stream", name="stdout", text=7),
    _message("display_data", data={"text/plain": 5}, metadata={}),
    _message("display_data", data={"text/plain": "x"}, metadata=3),
    _message("execute_result", data={"text/plain": "3"}, metadata={}, execution_count="four"),
    _message("error", ename="E", evalue="v", traceback="not a list"),
    _message("error", ename=None, evalue="v", traceback=[]),
]

MISSING = [
    _message("stream", name="stdout"),
    _message("display_data", data={}),
    _message("error", ename="E", evalue="v"),
]


@pytest.mark.parametrize("message", GOOD, ids=lambda m: m["header"]["msg_type"])
def test_a_good_message_gives_nbformats_node(message: dict[str, Any]) -> None:
    assert output_node(message) == output_from_msg(message)


@pytest.mark.parametrize("message", BAD, ids=lambda m: m["header"]["msg_type"])
def test_a_message_nbformat_refuses_is_refused_with_its_error(message: dict[str, Any]) -> None:
    with pytest.raises(Exception) as theirs:
        output_from_msg(message)
    with pytest.raises(Exception) as ours:
        output_node(message)
    assert type(ours.value) is type(theirs.value) and type(ours.value).__name__ == "NotebookValidationError"


@pytest.mark.parametrize("message", MISSING, ids=lambda m: m["header"]["msg_type"])
def test_a_message_missing_a_field_fails_as_in_nbformat(message: dict[str, Any]) -> None:
    with pytest.raises(KeyError):
        output_from_msg(message)
    with pytest.raises(KeyError):
        output_node(message)


def test_a_message_of_no_output_type_gives_nothing() -> None:
    message = _message("clear_output", wait=False)
    with pytest.raises(ValueError, match="Unrecognized output msg type"):
        output_from_msg(message)  # nbclient logs it and keeps nothing
    assert output_node(message) is None

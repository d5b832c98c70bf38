"""Probe for an instructor's observation: a function of the submission's globals, sent as source and run here.

The rubric loader reads the observation's source from the reference module
(only that function: :mod:`grader.checks.observations` refuses one that uses
any other name of the reference) and the modules it may use. Here the source is
executed in a fresh namespace holding only those modules and the runtime's
private builtins, the function is called with a copy of the student's globals,
and its result is encoded by the tensor probes' ``encode_value``, as the judge
encodes the reference's result. What comes back is data produced by code that
ran beside the student's: the judge treats it as untrusted.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the kernel runs this module in the runtime's namespace: every name is already there
    from grader.probes.runtime import *  # noqa: F403
    from grader.probes.runtime import MODULES, _state


def _observation_references(torch):
    """The one function an observation's imports are made with, taken before student code."""
    import importlib

    return {"import_module": importlib.import_module}


ON_INSTALL.append(_observation_references)

IMPORT = {"type": "array", "items": NAME, "minItems": 3, "maxItems": 3}


@probe(
    request=request_of({"source": {"type": "string", "maxLength": 100000}, "function": NAME,
                        "imports": {"type": "array", "items": IMPORT}}, required=["source", "function", "imports"]),
    answer=one_of_records(RAISED, record({"result": {"type": "object"}})),
)
def observe(source, function, imports):
    """Run the observation ``function`` that ``source`` defines on a copy of the student's globals: its result, encoded.

    ``imports`` are ``[alias, module, attribute]`` triples (``["np", "numpy",
    ""]``, ``["nn", "torch", "nn"]``), the only globals the source finds
    besides the builtins.
    """
    namespace = {"__builtins__": __builtins__, "__name__": "grader_observation"}
    for alias, module, attribute in imports:
        imported = _state["import_module"](module)
        namespace[alias] = getattr(imported, attribute) if attribute else imported
    exec(compile(source, "<observation " + function + ">", "exec"), namespace)
    done, result = call_student(namespace[function], dict(_state["ns"]))
    if not done:
        return result
    tensors = MODULES["tensors"]
    return {"result": tensors["encode_value"](result, _state)}

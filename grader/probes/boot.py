"""The one way the probe code is brought to life: in the kernel, by ``%grade``, and in the grader's own process.

:func:`boot` runs the probe sources (:func:`grader.probes.probe_sources`) in a
module object of its own: the codec (:mod:`grader.probes.wire`) first, then the
runtime, which finds the codec under the name ``wire``, then each probe module
in a copy of the runtime's namespace. The module is never put in
``sys.modules`` by this function and its code sees a private snapshot of
``builtins``, so a student who later rebinds a builtin does not change it.
The runtime's ``install`` is left to the caller (each passes its own token,
seed and timer).

The official grade sends this module's source to the kernel in its first cell
and calls :func:`boot` there; ``%grade`` imports it. So it imports only the
standard library, and only inside the function.
"""


def boot(sources, name):
    """The runtime module booted from ``sources`` (pairs of label and source: the codec, the runtime, the probe modules)."""
    import builtins
    import types

    (codec_label, codec_source), (runtime_label, runtime_source), *modules = sources
    private_builtins = dict(builtins.__dict__)
    codec = types.ModuleType(name + "_wire")
    codec.__dict__["__builtins__"] = private_builtins
    exec(compile(codec_source, "<grader probe " + codec_label + ">", "exec"), codec.__dict__)  # the grader's own code
    runtime = types.ModuleType(name)
    runtime.__dict__.update(__builtins__=private_builtins, wire=codec)
    exec(compile(runtime_source, "<grader probe " + runtime_label + ">", "exec"), runtime.__dict__)
    runtime.load_modules([(label, source) for label, source in modules])
    return runtime

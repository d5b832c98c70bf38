"""``%grade`` in a running notebook: the kernel side (:mod:`.magic`) and the judge process (:mod:`.judge`)."""


def register(*args, **kwargs):
    """Register ``%grade`` in the running IPython shell (what ``%load_ext grader`` does)."""
    from grader.live.magic import register as _register  # here: importing grader.live in a kernel loads nothing more

    return _register(*args, **kwargs)

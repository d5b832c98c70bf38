"""``grade kit``: the grader a student installs, with the reference's answers recorded as data and no answer in it."""

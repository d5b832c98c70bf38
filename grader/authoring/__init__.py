"""Writing an assignment: the student notebook made from a solution notebook (``grade assign``), a course package (``grade new-course``)."""

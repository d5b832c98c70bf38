"""Exercises 1 and 2 graded on real notebooks in a real kernel: right styles and typical mistakes."""

from __future__ import annotations

import pytest

from tests.conftest import Grade, MakeNotebook, check, exercise_score

pytestmark = pytest.mark.kernel

EX1_VALUES = """
x1, x2, x3 = 1.0, 2.0, 3.0
s = x1 + x2
y = s * x3
dy_ds = x3
dy_dx1 = dy_ds
dy_dx2 = dy_ds
dy_dx3 = s
"""


def test_ex1_tensor_and_numpy_answers_get_full_marks(make_notebook: MakeNotebook, grade: Grade) -> None:
    path = make_notebook(
        "tensors",
        """
        x1, x2, x3 = 1.0, 2.0, 3.0
        s = torch.tensor(x1 + x2)
        y = s * x3
        dy_ds = np.float64(x3)
        dy_dx1, dy_dx2, dy_dx3 = torch.tensor(3.0), np.float32(3.0), 3

        def manual_backprop(x1, x2, x3):
            a, b, c = (torch.tensor(v, dtype=torch.float64) for v in (x1, x2, x3))
            s = a + b
            return {"y": s * c, "dy_dx1": c.clone(), "dy_dx2": np.float64(x3), "dy_dx3": s}
        """,
    )
    result = grade(path, "ex1")
    assert result.score == 25, result.exercises


def test_ex1_dx3_rule_right_only_at_the_given_point(make_notebook: MakeNotebook, grade: Grade) -> None:
    path = make_notebook(
        "dx3_is_x3",
        EX1_VALUES,
        """
        def manual_backprop(x1, x2, x3):
            s = x1 + x2
            return {"y": s * x3, "dy_dx1": x3, "dy_dx2": x3, "dy_dx3": x3}
        """,
    )
    result = grade(path, "ex1")
    assert check(result, "ex1", "values").score == 7
    gradient = check(result, "ex1", "gradient_anywhere")
    assert gradient.score == 8
    assert "dy/dx3 is wrong at" in gradient.message and "dy/dx1" not in gradient.message
    assert exercise_score(result, "ex1") == 21


def test_ex1_autograd_inside_manual_backprop_earns_nothing_for_the_gradient(make_notebook: MakeNotebook, grade: Grade) -> None:
    path = make_notebook(
        "autograd",
        EX1_VALUES,
        """
        from torch.autograd import grad

        def manual_backprop(x1, x2, x3):
            xs = [torch.tensor(float(v), requires_grad=True) for v in (x1, x2, x3)]
            out = (xs[0] + xs[1]) * xs[2]
            g = grad(out, xs)
            return {"y": out.item(), "dy_dx1": g[0].item(), "dy_dx2": g[1].item(), "dy_dx3": g[2].item()}
        """,
    )
    result = grade(path, "ex1")
    gradient = check(result, "ex1", "gradient_anywhere")
    assert gradient.score == 0 and "used autograd" in gradient.message
    assert check(result, "ex1", "forward_anywhere").score == 6
    assert exercise_score(result, "ex1") == 13


def test_ex1_crashed_cell_is_named_and_costs_only_what_it_defines(make_notebook: MakeNotebook, grade: Grade) -> None:
    path = make_notebook(
        "crash",
        "x1, x2, x3 = 1.0, 2.0, 3.0\ns = x1 + x2\ny = s * x3\ndy_ds = x3 / 0\ndy_dx1 = dy_dx2 = dy_ds\ndy_dx3 = s",
        """
        def manual_backprop(x1, x2, x3):
            s = x1 + x2
            return {"y": s * x3, "dy_dx1": x3, "dy_dx2": x3, "dy_dx3": s}
        """,
    )
    result = grade(path, "ex1")
    values = check(result, "ex1", "values")
    assert values.score == pytest.approx(7 * 2 / 6, abs=0.01)
    assert "dy/ds is not defined (code cell 2, which defines it, did not finish: ZeroDivisionError" in values.message
    assert "; line 4 of the cell that starts \"x1, x2, x3 = 1.0, 2.0, 3.0" in values.message
    assert check(result, "ex1", "gradient_anywhere").score == 12
    assert any(line.startswith("code cell 2 raised ZeroDivisionError") and "ex1" in line for line in result.errors)


SIN_IGNORES_DERIVATIVE = """
import math

class DualNumber:
    def __init__(self, value, deriv=0.0):
        self.value, self.deriv = value, deriv
    def __add__(self, other):
        if isinstance(other, (int, float)):
            return DualNumber(self.value + other, self.deriv)
        return DualNumber(self.value + other.value, self.deriv + other.deriv)
    __radd__ = __add__
    def __mul__(self, other):
        if isinstance(other, (int, float)):
            return DualNumber(self.value * other, self.deriv * other)
        return DualNumber(self.value * other.value, self.value * other.deriv + self.deriv * other.value)
    __rmul__ = __mul__
    def __pow__(self, n):
        return DualNumber(self.value ** n, n * self.value ** (n - 1) * self.deriv)
    def sin(self):
        return DualNumber(math.sin(self.value), SIN_DERIV)
    def cos(self):
        return DualNumber(math.cos(self.value), COS_DERIV)
"""


def dual_class(sin_deriv: str, cos_deriv: str) -> str:
    return SIN_IGNORES_DERIVATIVE.replace("SIN_DERIV", sin_deriv).replace("COS_DERIV", cos_deriv)


GOOD_SIN, GOOD_COS = "self.deriv * math.cos(self.value)", "-self.deriv * math.sin(self.value)"


@pytest.mark.parametrize(
    ("name", "sin_deriv", "cos_deriv", "score", "check_id", "fragment"),
    [
        ("sin_ignores_u", "math.cos(self.value)", GOOD_COS, 16.5, "sin_rule", "sin ignores the incoming derivative u'"),
        ("cos_wrong_sign", GOOD_SIN, "self.deriv * math.sin(self.value)", 16.5, "cos_rule", "the derivative of cos has the wrong sign"),
        ("methods_right", GOOD_SIN, GOOD_COS, 25, "sin_rule", "right at 8 random points"),
    ],
)
def test_ex2_rules(make_notebook: MakeNotebook, grade: Grade, name: str, sin_deriv: str, cos_deriv: str,
                   score: float, check_id: str, fragment: str) -> None:
    result = grade(make_notebook(name, dual_class(sin_deriv, cos_deriv)), "ex2")
    assert exercise_score(result, "ex2") == score, result.exercises
    assert fragment in check(result, "ex2", check_id).message


def test_ex2_a_syntax_error_in_the_cell_of_sin_and_cos_is_named_by_every_check_it_costs(make_notebook: MakeNotebook, grade: Grade) -> None:
    stubs = dual_class("0", "0").replace("return DualNumber(math.sin(self.value), 0)", "raise NotImplementedError")
    stubs = stubs.replace("return DualNumber(math.cos(self.value), 0)", "raise NotImplementedError")
    functions = """
    def sin(x):
        return DualNumber(math.sin(x.value), x.deriv * math.cos(x.value))

    def cos(x)
        return DualNumber(math.cos(x.value), -x.deriv * math.sin(x.value))
    """  # the template's class with its stubs, and the answer as functions in a cell with a missing colon
    result = grade(make_notebook("syntax", stubs, functions), "ex2")
    ex2 = [c for e in result.exercises if e.id == "ex2" for c in e.checks]
    assert [c.id for c in ex2 if c.score] == []
    for found in ex2:  # the compositions, the unchanged argument and the lesson's operations too, not only sin and cos
        assert "(code cell 3, which defines it, did not finish: SyntaxError" in found.message, (found.id, found.message)
        assert 'line 4 of the cell that starts "def sin(x):"' in found.message, (found.id, found.message)


def test_ex2_functions_form_beside_template_stub_methods_gets_full_marks(make_notebook: MakeNotebook, grade: Grade) -> None:
    stubs = dual_class("0", "0").replace("return DualNumber(math.sin(self.value), 0)", "raise NotImplementedError")
    stubs = stubs.replace("return DualNumber(math.cos(self.value), 0)", "raise NotImplementedError")
    functions = """
    def sin(x):
        return DualNumber(math.sin(x.value), x.deriv * math.cos(x.value))

    def cos(x):
        return DualNumber(math.cos(x.value), -x.deriv * math.sin(x.value))
    """
    result = grade(make_notebook("functions", stubs, functions), "ex2")
    assert exercise_score(result, "ex2") == 25, result.exercises


def test_ex2_sin_that_mutates_its_argument(make_notebook: MakeNotebook, grade: Grade) -> None:
    source = dual_class(GOOD_SIN, GOOD_COS).replace(
        "return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))",
        "self.value, self.deriv = math.sin(self.value), self.deriv * math.cos(self.value)\n        return self",
    )
    result = grade(make_notebook("mutates", source), "ex2")
    assert check(result, "ex2", "argument_unchanged").score == 0
    assert "sin changed the DualNumber it was given" in check(result, "ex2", "argument_unchanged").message
    assert check(result, "ex2", "sin_rule").score == 7
    assert check(result, "ex2", "compositions").score < 5

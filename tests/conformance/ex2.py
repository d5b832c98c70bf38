"""Exercise 2 (DualNumber with sin and cos): correct variants and their twins. Data only.

``LESSON_CLASS`` is the lesson's DualNumber retold: a value/derivative pair,
``DualNumber(value, deriv=0.0)``, ``+``, ``*`` (both sides) and ``**`` with a
constant exponent. Variants that keep the lesson's cell put it in a cell of its
own before their answer, as the lesson notebook does.
"""

from __future__ import annotations

from tests.conformance.records import Mistake, variant

SIN = ("ex2", "sin_rule")
COS = ("ex2", "cos_rule")
UNCHANGED = ("ex2", "argument_unchanged")
LESSON = ("ex2", "lesson_operations")

LESSON_CLASS = '''
class DualNumber:
    """A number u + u' eps with eps**2 = 0: a value and its derivative travel together."""

    def __init__(self, value, deriv=0.0):
        self.value = value
        self.deriv = deriv

    @staticmethod
    def _wrap(other):
        # a plain number is a constant: its derivative is 0
        return other if isinstance(other, DualNumber) else DualNumber(other, 0.0)

    def __add__(self, other):
        other = DualNumber._wrap(other)
        return DualNumber(self.value + other.value, self.deriv + other.deriv)

    def __radd__(self, other):
        return self + other

    def __mul__(self, other):
        other = DualNumber._wrap(other)
        return DualNumber(self.value * other.value, self.deriv * other.value + self.value * other.deriv)

    def __rmul__(self, other):
        return self * other

    def __pow__(self, n):
        # n is a plain number: d(u**n) = n u**(n-1) u'
        return DualNumber(self.value ** n, n * self.value ** (n - 1) * self.deriv)

    def __repr__(self):
        return f"DualNumber(value={self.value}, deriv={self.deriv})"
'''

REPR = '''    def __repr__(self):
        return f"DualNumber(value={self.value}, deriv={self.deriv})"
'''


def with_methods(methods: str) -> str:
    """The lesson's class with ``methods`` added before ``__repr__`` (the template's ex2 cell, filled in)."""
    return LESSON_CLASS.replace(REPR, methods + "\n" + REPR)


DEMO = '''
x = DualNumber(3, 1)
print(x ** 3 + 2 * x)
'''

VARIANTS = (
    variant(
        "ex2",
        "template_methods_math",
        "the template's cell filled in: the whole lesson class repeated with sin/cos methods using math",
        "import math\n"
        + with_methods(
            '''    def sin(self):
        """Return sin([u, u']) = [sin u, u' cos u]."""
        return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))

    def cos(self):
        """Return cos([u, u']) = [cos u, -u' sin u]."""
        return DualNumber(math.cos(self.value), -self.deriv * math.sin(self.value))
'''
        )
        + DEMO,
        mistake=Mistake(
            "-self.deriv * math.sin(self.value))",
            "self.deriv * math.sin(self.value))",
            COS,
            "sign error: d/du cos u written as +sin u",
        ),
    ),
    variant(
        "ex2",
        "toplevel_sin_cos",
        "functional style from forward-mode AD tutorials: free functions sin(x), cos(x) next to the lesson's class",
        LESSON_CLASS,
        '''
        import math


        def sin(x):
            """sin of a dual number: chain rule on the derivative part."""
            return DualNumber(math.sin(x.value), math.cos(x.value) * x.deriv)


        def cos(x):
            return DualNumber(math.cos(x.value), -math.sin(x.value) * x.deriv)


        x = DualNumber(0.5, 1.0)
        print(sin(x ** 2) * cos(3 * x))
        ''',
        mistake=Mistake(
            "return DualNumber(math.sin(x.value), math.cos(x.value) * x.deriv)",
            "return DualNumber(math.sin(x.value), math.cos(x.value))",
            SIN,
            "ignores u': the derivative part is cos u whatever the incoming derivative",
        ),
    ),
    variant(
        "ex2",
        "dual_funcs_after_from_math_import",
        "notebook that starts with `from math import sin, cos` and names its own functions dual_sin/dual_cos",
        "from math import sin, cos, pi",
        LESSON_CLASS,
        '''
        def dual_sin(x):
            return DualNumber(sin(x.value), x.deriv * cos(x.value))


        def dual_cos(x):
            return DualNumber(cos(x.value), -x.deriv * sin(x.value))


        print(dual_sin(DualNumber(pi / 6, 1.0)), dual_cos(DualNumber(pi / 3, 2.0)))
        ''',
        mistake=Mistake(
            "return DualNumber(cos(x.value), -x.deriv * sin(x.value))",
            "return DualNumber(cos(x.value), -x.deriv * cos(x.value))",
            COS,
            "derivative of cos written as -cos u",
        ),
    ),
    variant(
        "ex2",
        "numpy_on_value",
        "NumPy habit: np.sin/np.cos on the value (values become np.float64)",
        '''
        import numpy as np


        class DualNumber:
            def __init__(self, value, deriv=0.0):
                self.value = value
                self.deriv = deriv

            def __add__(self, other):
                if not isinstance(other, DualNumber):
                    other = DualNumber(other)
                return DualNumber(self.value + other.value, self.deriv + other.deriv)

            __radd__ = __add__

            def __mul__(self, other):
                if not isinstance(other, DualNumber):
                    other = DualNumber(other)
                return DualNumber(self.value * other.value, self.value * other.deriv + self.deriv * other.value)

            __rmul__ = __mul__

            def __pow__(self, n):
                return DualNumber(self.value ** n, n * self.value ** (n - 1) * self.deriv)

            def sin(self):
                return DualNumber(np.sin(self.value), self.deriv * np.cos(self.value))

            def cos(self):
                return DualNumber(np.cos(self.value), -self.deriv * np.sin(self.value))

            def __repr__(self):
                return f"DualNumber({self.value!r}, {self.deriv!r})"
        ''',
        mistake=Mistake(
            """            def sin(self):
                return DualNumber(np.sin(self.value), self.deriv * np.cos(self.value))
""",
            """            def sin(self):
                new_deriv = self.deriv * np.cos(self.value)
                self.value = np.sin(self.value)
                self.deriv = new_deriv
                return DualNumber(self.value, self.deriv)
""",
            UNCHANGED,
            "sin updates the argument in place before returning a copy",
        ),
    ),
    variant(
        "ex2",
        "torch_on_value",
        "PyTorch-first student: torch.sin(torch.tensor(u)) on the value, back to a float with .item()",
        "import torch\n"
        + with_methods(
            '''    def sin(self):
        u = torch.tensor(self.value, dtype=torch.float64)
        return DualNumber(torch.sin(u).item(), self.deriv * torch.cos(u).item())

    def cos(self):
        u = torch.tensor(self.value, dtype=torch.float64)
        return DualNumber(torch.cos(u).item(), -self.deriv * torch.sin(u).item())
'''
        ),
        mistake=Mistake(
            "return DualNumber(torch.cos(u).item(), -self.deriv * torch.sin(u).item())",
            "return DualNumber(torch.sin(u).item(), -self.deriv * torch.sin(u).item())",
            COS,
            "copy-paste slip: cos returns sin u as its value",
        ),
    ),
    variant(
        "ex2",
        "slots_class",
        "memory-conscious class with __slots__ (seen in AD library code and 'fluent Python' advice)",
        '''
        import math


        class DualNumber:
            __slots__ = ("value", "deriv")

            def __init__(self, value, deriv=0.0):
                self.value = value
                self.deriv = deriv

            @classmethod
            def constant(cls, c):
                return cls(c, 0.0)

            def _coerce(self, other):
                return other if isinstance(other, DualNumber) else DualNumber.constant(other)

            def __add__(self, other):
                other = self._coerce(other)
                return DualNumber(self.value + other.value, self.deriv + other.deriv)

            def __radd__(self, other):
                return self.__add__(other)

            def __mul__(self, other):
                other = self._coerce(other)
                return DualNumber(self.value * other.value, self.deriv * other.value + self.value * other.deriv)

            def __rmul__(self, other):
                return self.__mul__(other)

            def __pow__(self, n):
                return DualNumber(self.value ** n, n * self.value ** (n - 1) * self.deriv)

            def sin(self):
                return DualNumber(math.sin(self.value), math.cos(self.value) * self.deriv)

            def cos(self):
                return DualNumber(math.cos(self.value), -math.sin(self.value) * self.deriv)

            def __repr__(self):
                return f"DualNumber({self.value}, {self.deriv})"
        ''',
        mistake=Mistake(
            "return DualNumber(self.value ** n, n * self.value ** (n - 1) * self.deriv)",
            "return DualNumber(self.value ** n, n * self.value ** n * self.deriv)",
            LESSON,
            "rewrote the lesson's power rule and lost the -1 in the exponent",
        ),
    ),
    variant(
        "ex2",
        "dataclass",
        "modern Python course style: @dataclass with value and deriv fields (deriv defaults to 0.0)",
        '''
        import math
        from dataclasses import dataclass


        @dataclass
        class DualNumber:
            value: float
            deriv: float = 0.0

            @staticmethod
            def lift(x):
                return x if isinstance(x, DualNumber) else DualNumber(x)

            def __add__(self, other):
                o = DualNumber.lift(other)
                return DualNumber(self.value + o.value, self.deriv + o.deriv)

            def __radd__(self, other):
                return self + other

            def __mul__(self, other):
                o = DualNumber.lift(other)
                return DualNumber(self.value * o.value, self.deriv * o.value + self.value * o.deriv)

            def __rmul__(self, other):
                return self * other

            def __pow__(self, n):
                return DualNumber(self.value ** n, n * self.value ** (n - 1) * self.deriv)

            def sin(self):
                return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))

            def cos(self):
                return DualNumber(math.cos(self.value), -self.deriv * math.sin(self.value))


        x = DualNumber(3.0, 1.0)
        x ** 3 + x * 2
        ''',
        mistake=Mistake(
            """            def __rmul__(self, other):
                return self * other
""",
            "",
            LESSON,
            "dropped __rmul__ while rewriting the class, so 2 * x no longer works",
        ),
    ),
    variant(
        "ex2",
        "subclass_same_name",
        "extend-don't-edit: `class DualNumber(DualNumber)` under the lesson's cell",
        LESSON_CLASS,
        '''
        import math


        class DualNumber(DualNumber):
            """The lesson's dual numbers, plus sine and cosine."""

            def sin(self):
                return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))

            def cos(self):
                return DualNumber(math.cos(self.value), -self.deriv * math.sin(self.value))
        ''',
        mistake=Mistake(
            "return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))",
            "return DualNumber(math.sin(self.value), self.deriv * math.cos(self.deriv))",
            SIN,
            "takes cos of the derivative part instead of cos of the value",
        ),
    ),
    variant(
        "ex2",
        "subclass_rebound",
        "OOP course style: a subclass with its own name, then the name DualNumber rebound to it",
        LESSON_CLASS,
        '''
        import math


        class TrigDual(DualNumber):
            def sin(self):
                u, du = self.value, self.deriv
                return type(self)(math.sin(u), du * math.cos(u))

            def cos(self):
                u, du = self.value, self.deriv
                return type(self)(math.cos(u), -du * math.sin(u))


        DualNumber = TrigDual
        x = DualNumber(1.0, 1.0)
        print(x.sin(), x.cos(), (x * x).sin())
        ''',
        mistake=Mistake(
            """            def cos(self):
                u, du = self.value, self.deriv
                return type(self)(math.cos(u), -du * math.sin(u))
""",
            """            def cos(self):
                u, du = self.value, self.deriv
                self.value, self.deriv = math.cos(u), -du * math.sin(u)
                return type(self)(self.value, self.deriv)
""",
            UNCHANGED,
            "cos overwrites the argument's value and derivative",
        ),
    ),
    variant(
        "ex2",
        "patched_methods",
        "monkey-patching answer (forum style): functions attached to the lesson's class afterwards",
        LESSON_CLASS,
        '''
        import math


        def _dual_sin(self):
            return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))


        def _dual_cos(self):
            return DualNumber(math.cos(self.value), -self.deriv * math.sin(self.value))


        DualNumber.sin = _dual_sin
        DualNumber.cos = _dual_cos
        ''',
        mistake=Mistake(
            "DualNumber.cos = _dual_cos",
            "DualNumber.cos = _dual_sin",
            COS,
            "patched the sine in as the cosine",
        ),
    ),
    variant(
        "ex2",
        "explicit_reflected_ops",
        "class written out longhand: isinstance checks in every operator and __radd__/__rmul__ spelled out",
        '''
        import math


        class DualNumber:
            def __init__(self, value, deriv=0.0):
                self.value = value
                self.deriv = deriv

            def __add__(self, other):
                if isinstance(other, DualNumber):
                    return DualNumber(self.value + other.value, self.deriv + other.deriv)
                return DualNumber(self.value + other, self.deriv)

            def __radd__(self, other):
                return DualNumber(other + self.value, self.deriv)

            def __mul__(self, other):
                if isinstance(other, DualNumber):
                    return DualNumber(self.value * other.value, self.deriv * other.value + self.value * other.deriv)
                return DualNumber(self.value * other, self.deriv * other)

            def __rmul__(self, other):
                return DualNumber(other * self.value, other * self.deriv)

            def __pow__(self, exponent):
                return DualNumber(self.value ** exponent, exponent * self.value ** (exponent - 1) * self.deriv)

            def sin(self):
                return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))

            def cos(self):
                return DualNumber(math.cos(self.value), self.deriv * -math.sin(self.value))

            def __str__(self):
                return f"[{self.value}, {self.deriv}]"
        ''',
        mistake=Mistake(
            "return DualNumber(other * self.value, other * self.deriv)",
            "return DualNumber(other * self.value, self.deriv)",
            LESSON,
            "__rmul__ forgets to scale the derivative by the constant (2 * x has derivative 1)",
        ),
    ),
    variant(
        "ex2",
        "class_and_functions_in_one_cell",
        "the template's cell with the stub methods deleted and top-level sin/cos written under the class",
        "import math\n"
        + LESSON_CLASS
        + '''

def sin(x):
    """Dual sine: [sin u, u' cos u]."""
    return DualNumber(math.sin(x.value), x.deriv * math.cos(x.value))


def cos(x):
    """Dual cosine: [cos u, -u' sin u]."""
    return DualNumber(math.cos(x.value), -x.deriv * math.sin(x.value))
''',
        mistake=Mistake(
            "return DualNumber(math.cos(x.value), -x.deriv * math.sin(x.value))",
            "return DualNumber(math.cos(x.value), -math.sin(x.value))",
            COS,
            "cos ignores u': the derivative part is -sin u whatever the incoming derivative",
        ),
    ),
    variant(
        "ex2",
        "generic_chain_helper",
        "DRY style from AD blog posts: one helper applies any f with its derivative f'",
        "import math\n"
        + with_methods(
            '''    def _apply(self, f, df):
        """h([u, u']) = [h(u), h'(u) u']."""
        return DualNumber(f(self.value), df(self.value) * self.deriv)

    def sin(self):
        return self._apply(math.sin, math.cos)

    def cos(self):
        return self._apply(math.cos, lambda u: -math.sin(u))
'''
        ),
        mistake=Mistake(
            "return DualNumber(f(self.value), df(self.value) * self.deriv)",
            "return DualNumber(f(self.value), df(self.value))",
            SIN,
            "the helper drops the incoming derivative u' (right only for u' = 1)",
        ),
    ),
    variant(
        "ex2",
        "namedtuple",
        "immutable typing.NamedTuple with operator methods",
        '''
        import math
        from typing import NamedTuple


        class DualNumber(NamedTuple):
            value: float
            deriv: float = 0.0

            def __add__(self, other):
                other = other if isinstance(other, DualNumber) else DualNumber(other)
                return DualNumber(self.value + other.value, self.deriv + other.deriv)

            __radd__ = __add__

            def __mul__(self, other):
                other = other if isinstance(other, DualNumber) else DualNumber(other)
                return DualNumber(self.value * other.value, self.deriv * other.value + self.value * other.deriv)

            __rmul__ = __mul__

            def __pow__(self, n):
                return DualNumber(self.value ** n, n * self.value ** (n - 1) * self.deriv)

            def sin(self):
                return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))

            def cos(self):
                return DualNumber(math.cos(self.value), -self.deriv * math.sin(self.value))


        print(DualNumber(3, 1) ** 3 + 2 * DualNumber(3, 1))
        ''',
        mistake=Mistake(
            "return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))",
            "return (math.sin(self.value), self.deriv * math.cos(self.value))",
            SIN,
            "sin returns a plain tuple, not a DualNumber",
        ),
    ),
    variant(
        "ex2",
        "polymorphic_functions",
        "math-module look-alike: top-level sin/cos that accept a DualNumber or a plain number",
        LESSON_CLASS,
        '''
        import math


        def sin(x):
            if isinstance(x, DualNumber):
                return DualNumber(math.sin(x.value), math.cos(x.value) * x.deriv)
            return math.sin(x)


        def cos(x):
            if isinstance(x, DualNumber):
                return DualNumber(math.cos(x.value), -math.sin(x.value) * x.deriv)
            return math.cos(x)


        print(sin(1.0), sin(DualNumber(1.0, 1.0)))
        ''',
        mistake=Mistake(
            "return DualNumber(math.sin(x.value), math.cos(x.value) * x.deriv)",
            "return DualNumber(math.sin(x.value), math.cos(x.value) + x.deriv)",
            SIN,
            "adds u' to cos u instead of multiplying",
        ),
    ),
    variant(
        "ex2",
        "cos_via_phase_shift",
        "fuller tutorial class (neg, sub, truediv, exp) where cos is sin shifted by pi/2",
        '''
        import math


        class DualNumber:
            def __init__(self, value, deriv=0.0):
                self.value, self.deriv = value, deriv

            @staticmethod
            def _as_dual(x):
                return x if isinstance(x, DualNumber) else DualNumber(x, 0.0)

            def __neg__(self):
                return DualNumber(-self.value, -self.deriv)

            def __add__(self, other):
                o = self._as_dual(other)
                return DualNumber(self.value + o.value, self.deriv + o.deriv)

            __radd__ = __add__

            def __sub__(self, other):
                return self + (-self._as_dual(other))

            def __rsub__(self, other):
                return self._as_dual(other) - self

            def __mul__(self, other):
                o = self._as_dual(other)
                return DualNumber(self.value * o.value, self.deriv * o.value + self.value * o.deriv)

            __rmul__ = __mul__

            def __truediv__(self, other):
                o = self._as_dual(other)
                return DualNumber(self.value / o.value, (self.deriv * o.value - self.value * o.deriv) / o.value ** 2)

            def __pow__(self, n):
                return DualNumber(self.value ** n, n * self.value ** (n - 1) * self.deriv)

            def exp(self):
                e = math.exp(self.value)
                return DualNumber(e, e * self.deriv)

            def sin(self):
                return DualNumber(math.sin(self.value), math.cos(self.value) * self.deriv)

            def cos(self):
                # cos u = sin(u + pi/2), so the chain rule comes for free
                return (self + math.pi / 2).sin()

            def __repr__(self):
                return f"Dual({self.value:.6g}, {self.deriv:.6g})"
        ''',
        mistake=Mistake(
            "return (self + math.pi / 2).sin()",
            "return (self - math.pi / 2).sin()",
            COS,
            "wrong phase: sin(u - pi/2) is -cos u",
        ),
    ),
    variant(
        "ex2",
        "dual_funcs_after_from_numpy_import",
        "numpy-heavy notebook: `from numpy import sin, cos` at the top, dual_sin/dual_cos built on them",
        "from numpy import sin, cos",
        LESSON_CLASS,
        '''
        def dual_sin(d):
            """[sin u, u' cos u]"""
            return DualNumber(sin(d.value), d.deriv * cos(d.value))


        def dual_cos(d):
            """[cos u, -u' sin u]"""
            return DualNumber(cos(d.value), -(d.deriv * sin(d.value)))


        x = DualNumber(2.0, 1.0)
        f = dual_sin(x ** 2) * dual_cos(3 * x)
        print(f.value, f.deriv)
        ''',
        mistake=Mistake(
            "return DualNumber(cos(d.value), -(d.deriv * sin(d.value)))",
            "return DualNumber(cos(d.value), -(d.deriv * sin(d.deriv)))",
            COS,
            "sin of the derivative part instead of sin of the value",
        ),
    ),
)

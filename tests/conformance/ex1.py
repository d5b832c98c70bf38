"""Exercise 1 (manual backprop of y = (x1 + x2) * x3): correct variants and their twins. Data only."""

from __future__ import annotations

from tests.conformance.records import Mistake, variant

GRADIENT = ("ex1", "gradient_anywhere")
FORWARD = ("ex1", "forward_anywhere")
VALUES = ("ex1", "values")

VARIANTS = (
    variant(
        "ex1",
        "plain_floats",
        "textbook hand-worked backprop (CS231n-style 'staged computation' notes): one line per local derivative",
        '''
        x1, x2, x3 = 1.0, 2.0, 3.0

        # forward pass
        s = x1 + x2
        y = s * x3

        # backward pass, starting from dy/dy = 1
        dy_dy = 1.0
        dy_ds = dy_dy * x3        # y = s * x3  ->  dy/ds = x3
        dy_dx3 = dy_dy * s        #             ->  dy/dx3 = s
        dy_dx1 = dy_ds * 1.0      # s = x1 + x2 ->  ds/dx1 = 1
        dy_dx2 = dy_ds * 1.0      #             ->  ds/dx2 = 1
        print(s, y, dy_ds, dy_dx1, dy_dx2, dy_dx3)


        def manual_backprop(x1, x2, x3):
            """Return {"y": ..., "dy_dx1": ..., "dy_dx2": ..., "dy_dx3": ...}."""
            s = x1 + x2
            y = s * x3
            dy_ds = x3
            dy_dx3 = s
            dy_dx1 = dy_ds
            dy_dx2 = dy_ds
            return {"y": y, "dy_dx1": dy_dx1, "dy_dx2": dy_dx2, "dy_dx3": dy_dx3}
        ''',
        mistake=Mistake(
            "            dy_dx3 = s\n",
            "            dy_dx3 = x3\n",
            GRADIENT,
            "dy/dx3 = x3 instead of s: right at (1, 2, 3) only",
        ),
    ),
    variant(
        "ex1",
        "numpy_scalars",
        "NumPy-first course notes: every quantity a np.float64",
        '''
        import numpy as np

        x1, x2, x3 = np.float64(1.0), np.float64(2.0), np.float64(3.0)

        s = np.add(x1, x2)
        y = np.multiply(s, x3)

        dy_ds = x3
        dy_dx1 = dy_ds * np.float64(1.0)
        dy_dx2 = dy_ds * np.float64(1.0)
        dy_dx3 = s

        def manual_backprop(x1, x2, x3):
            x1, x2, x3 = np.float64(x1), np.float64(x2), np.float64(x3)
            s = x1 + x2
            y = s * x3
            grad_s = x3
            return {
                "y": y,
                "dy_dx1": grad_s * np.float64(1.0),
                "dy_dx2": grad_s * np.float64(1.0),
                "dy_dx3": s,
            }
        ''',
        mistake=Mistake(
            '"dy_dx1": grad_s * np.float64(1.0),',
            '"dy_dx1": grad_s * x1,',
            GRADIENT,
            "multiplies the upstream gradient by x1 (treats s = x1 + x2 like a product)",
        ),
    ),
    variant(
        "ex1",
        "numpy_0d_arrays",
        "answers kept as 0-d np.ndarray, as np.asarray/np.array on a scalar gives",
        '''
        x1, x2, x3 = 1.0, 2.0, 3.0

        a, b, c = np.array(x1), np.array(x2), np.array(x3)
        s = a + b                  # 0-d array
        y = s * c
        dy_ds = np.array(1.0) * c
        dy_dx1 = dy_ds.copy()
        dy_dx2 = dy_ds.copy()
        dy_dx3 = np.array(1.0) * s
        print(type(y), y.shape)


        def manual_backprop(x1, x2, x3):
            x1, x2, x3 = (np.asarray(v, dtype=float) for v in (x1, x2, x3))
            s = x1 + x2
            y = s * x3
            upstream = np.ones(())
            g_s = upstream * x3
            return {"y": y, "dy_dx1": g_s, "dy_dx2": g_s, "dy_dx3": upstream * s}
        ''',
        mistake=Mistake(
            "            y = s * x3\n",
            "            y = x1 + x2 * x3\n",
            FORWARD,
            "forward pass forgets the brackets: x1 + x2 * x3",
        ),
    ),
    variant(
        "ex1",
        "tensors_float32",
        "PyTorch tutorial style: 0-d float32 tensors (torch's default dtype), no requires_grad",
        '''
        x1, x2, x3 = 1.0, 2.0, 3.0

        t1, t2, t3 = torch.tensor(x1), torch.tensor(x2), torch.tensor(x3)
        s = t1 + t2
        y = s * t3
        dy_ds = t3.clone()
        dy_dx1 = dy_ds * torch.tensor(1.0)
        dy_dx2 = dy_ds * torch.tensor(1.0)
        dy_dx3 = s.clone()


        def manual_backprop(x1, x2, x3):
            x1 = torch.tensor(x1, dtype=torch.float32)
            x2 = torch.tensor(x2, dtype=torch.float32)
            x3 = torch.tensor(x3, dtype=torch.float32)
            s = x1 + x2
            y = s * x3
            dy_ds = x3
            return {"y": y, "dy_dx1": dy_ds, "dy_dx2": dy_ds, "dy_dx3": s}
        ''',
        mistake=Mistake(
            '            dy_ds = x3\n            return {"y": y, "dy_dx1": dy_ds, "dy_dx2": dy_ds, "dy_dx3": s}',
            """            for v in (x1, x2, x3):
                v.requires_grad_()
            y = (x1 + x2) * x3
            y.backward()
            return {"y": y.detach(), "dy_dx1": x1.grad, "dy_dx2": x2.grad, "dy_dx3": x3.grad}""",
            GRADIENT,
            "calls .backward() inside manual_backprop (autograd, not the chain rule by hand)",
        ),
    ),
    variant(
        "ex1",
        "tensors_float64",
        "careful PyTorch user: explicit float64 tensors everywhere",
        '''
        x1 = torch.tensor(1.0, dtype=torch.float64)
        x2 = torch.tensor(2.0, dtype=torch.float64)
        x3 = torch.tensor(3.0, dtype=torch.float64)

        s = x1 + x2
        y = s * x3
        dy_ds = x3
        dy_dx1 = dy_ds * 1
        dy_dx2 = dy_ds * 1
        dy_dx3 = s


        def manual_backprop(x1, x2, x3):
            x1, x2, x3 = [torch.as_tensor(v, dtype=torch.float64) for v in (x1, x2, x3)]
            s = x1 + x2
            y = s * x3
            dy_ds = x3
            dy_dx1 = dy_ds * torch.ones((), dtype=torch.float64)
            dy_dx2 = dy_ds * torch.ones((), dtype=torch.float64)
            dy_dx3 = s
            return {"y": y, "dy_dx1": dy_dx1, "dy_dx2": dy_dx2, "dy_dx3": dy_dx3}
        ''',
        mistake=Mistake(
            "            dy_dx2 = dy_ds * torch.ones((), dtype=torch.float64)\n",
            "            dy_dx2 = dy_ds * x2 / x2.abs().clamp(min=1e-12)\n",
            GRADIENT,
            "ds/dx2 written as x2/|x2| (sign of x2) instead of 1: right for positive x2 only",
        ),
    ),
    variant(
        "ex1",
        "reverse_mode_tape",
        "blog post 'write your own reverse-mode autodiff in 30 lines': a Wengert list replayed backwards",
        '''
        class Tape:
            """Records each operation with its local derivatives, then sweeps them backwards."""

            def __init__(self):
                self.values = {}
                self.ops = []   # (output, [(input, local derivative), ...])

            def var(self, name, value):
                self.values[name] = value
                return name

            def add(self, out, a, b):
                self.values[out] = self.values[a] + self.values[b]
                self.ops.append((out, [(a, 1.0), (b, 1.0)]))
                return out

            def mul(self, out, a, b):
                va, vb = self.values[a], self.values[b]
                self.values[out] = va * vb
                self.ops.append((out, [(a, vb), (b, va)]))
                return out

            def gradients(self, out):
                grads = {out: 1.0}
                for node, parents in reversed(self.ops):
                    g = grads.get(node, 0.0)
                    for parent, local in parents:
                        grads[parent] = grads.get(parent, 0.0) + g * local
                return grads
        ''',
        '''
        x1, x2, x3 = 1.0, 2.0, 3.0

        tape = Tape()
        tape.var("x1", x1); tape.var("x2", x2); tape.var("x3", x3)
        tape.add("s", "x1", "x2")
        tape.mul("y", "s", "x3")
        grads = tape.gradients("y")

        s, y = tape.values["s"], tape.values["y"]
        dy_ds = grads["s"]
        dy_dx1, dy_dx2, dy_dx3 = grads["x1"], grads["x2"], grads["x3"]
        print(grads)


        def manual_backprop(x1, x2, x3):
            t = Tape()
            t.var("x1", x1); t.var("x2", x2); t.var("x3", x3)
            t.add("s", "x1", "x2")
            t.mul("y", "s", "x3")
            g = t.gradients("y")
            return {"y": t.values["y"], "dy_dx1": g["x1"], "dy_dx2": g["x2"], "dy_dx3": g["x3"]}
        ''',
        mistake=Mistake(
            "self.ops.append((out, [(a, vb), (b, va)]))",
            "self.ops.append((out, [(a, va), (b, vb)]))",
            GRADIENT,
            "the product's local derivatives swapped: d(ab)/da recorded as a",
        ),
    ),
    variant(
        "ex1",
        "gradient_dict_accumulated",
        "lecture-slide style: a dict of gradients filled node by node, += where paths meet",
        '''
        from collections import defaultdict

        x1, x2, x3 = 1.0, 2.0, 3.0
        s = x1 + x2
        y = s * x3

        grad = defaultdict(float)
        grad["y"] = 1.0
        # node y = s * x3
        grad["s"] += grad["y"] * x3
        grad["x3"] += grad["y"] * s
        # node s = x1 + x2
        grad["x1"] += grad["s"]
        grad["x2"] += grad["s"]

        dy_ds = grad["s"]
        dy_dx1, dy_dx2, dy_dx3 = grad["x1"], grad["x2"], grad["x3"]


        def manual_backprop(x1, x2, x3):
            node = {"x1": x1, "x2": x2, "x3": x3}
            node["s"] = node["x1"] + node["x2"]
            node["y"] = node["s"] * node["x3"]
            g = defaultdict(float)
            g["y"] = 1.0
            g["s"] += g["y"] * node["x3"]
            g["x3"] += g["y"] * node["s"]
            g["x1"] += g["s"] * 1.0
            g["x2"] += g["s"] * 1.0
            return {"y": node["y"], "dy_dx1": g["x1"], "dy_dx2": g["x2"], "dy_dx3": g["x3"]}
        ''',
        mistake=Mistake(
            '            g["y"] = 1.0\n',
            '            g["y"] = node["y"]\n',
            GRADIENT,
            "seeds the backward pass with y instead of dy/dy = 1",
        ),
    ),
    variant(
        "ex1",
        "dict_builtin",
        "Stack Overflow answer style: compact, returns dict(y=..., dy_dx1=...) with keyword arguments",
        '''
        x1, x2, x3 = 1.0, 2.0, 3.0
        s = x1 + x2
        y = s * x3
        dy_ds = x3
        dy_dx1 = dy_dx2 = dy_ds
        dy_dx3 = s

        def manual_backprop(x1, x2, x3):
            s = x1 + x2
            return dict(y=s * x3, dy_dx1=x3, dy_dx2=x3, dy_dx3=s)
        ''',
        mistake=Mistake(
            "            return dict(y=s * x3, dy_dx1=x3, dy_dx2=x3, dy_dx3=s)",
            """            xs = [torch.tensor(float(v), requires_grad=True) for v in (x1, x2, x3)]
            out = (xs[0] + xs[1]) * xs[2]
            out.backward()
            return dict(y=s * x3, dy_dx1=xs[0].grad, dy_dx2=xs[1].grad, dy_dx3=xs[2].grad)""",
            GRADIENT,
            "gets the gradient from .backward() instead of the chain rule",
        ),
    ),
    variant(
        "ex1",
        "dict_comprehension",
        "functional style: names and values zipped into a dict comprehension",
        '''
        x1, x2, x3 = 1.0, 2.0, 3.0
        s = x1 + x2
        y = s * x3
        dy_ds = 1.0 * x3
        dy_dx1, dy_dx2, dy_dx3 = dy_ds * 1.0, dy_ds * 1.0, 1.0 * s

        KEYS = ("y", "dy_dx1", "dy_dx2", "dy_dx3")

        def manual_backprop(x1, x2, x3):
            s = x1 + x2
            y = s * x3
            dy_ds = x3
            values = (y, dy_ds, dy_ds, s)
            return {key: value for key, value in zip(KEYS, values)}
        ''',
        mistake=Mistake(
            "            values = (y, dy_ds, dy_ds, s)",
            "            values = (y, s, dy_ds, dy_ds)",
            GRADIENT,
            "values zipped to the wrong keys: dy_dx1 gets s and dy_dx3 gets x3",
        ),
    ),
    variant(
        "ex1",
        "ordered_dict",
        "older tutorial style: collections.OrderedDict to keep the keys in order",
        '''
        from collections import OrderedDict

        x1, x2, x3 = 1.0, 2.0, 3.0
        s = x1 + x2
        y = s * x3
        dy_ds = x3
        dy_dx1 = dy_ds
        dy_dx2 = dy_ds
        dy_dx3 = s


        def manual_backprop(x1, x2, x3):
            out = OrderedDict()
            s = x1 + x2
            out["y"] = s * x3
            out["dy_dx1"] = x3 * 1
            out["dy_dx2"] = x3 * 1
            out["dy_dx3"] = s
            return out
        ''',
        mistake=Mistake(
            '            out["dy_dx3"] = s\n',
            '            out["dy_dx3"] = torch.func.grad(lambda c: (x1 + x2) * c)(torch.tensor(float(x3)))\n',
            GRADIENT,
            "dy/dx3 from torch.func.grad instead of the chain rule",
        ),
    ),
    variant(
        "ex1",
        "integer_inputs",
        "beginner who types the inputs as ints (1, 2, 3) and never converts",
        '''
        x1, x2, x3 = 1, 2, 3

        s = x1 + x2
        y = s * x3

        dy_ds = x3
        dy_dx1 = 1 * dy_ds
        dy_dx2 = 1 * dy_ds
        dy_dx3 = s

        print("s =", s, "y =", y)
        print("dy/dx1 =", dy_dx1, "dy/dx2 =", dy_dx2, "dy/dx3 =", dy_dx3)


        def manual_backprop(x1, x2, x3):
            s = x1 + x2
            y = s * x3
            dy_ds = x3
            return {"y": y, "dy_dx1": dy_ds, "dy_dx2": dy_ds, "dy_dx3": s}
        ''',
        mistake=Mistake(
            "\n        s = x1 + x2\n        y = s * x3\n",
            "\n        s = x1 * x2\n        y = s * x3\n",
            VALUES,
            "the forward pass at the given point multiplies x1 and x2 instead of adding them",
        ),
    ),
    variant(
        "ex1",
        "extra_keys",
        "student who returns everything they computed, intermediates included",
        '''
        x1, x2, x3 = 1.0, 2.0, 3.0


        def manual_backprop(x1, x2, x3):
            s = x1 + x2
            y = s * x3
            dy_dy = 1.0
            dy_ds = dy_dy * x3
            return {
                "s": s,
                "y": y,
                "dy_dy": dy_dy,
                "dy_ds": dy_ds,
                "dy_dx1": dy_ds,
                "dy_dx2": dy_ds,
                "dy_dx3": dy_dy * s,
                "grad": (dy_ds, dy_ds, dy_dy * s),
            }


        result = manual_backprop(x1, x2, x3)
        s, y, dy_ds = result["s"], result["y"], result["dy_ds"]
        dy_dx1, dy_dx2, dy_dx3 = result["grad"]
        result
        ''',
        mistake=Mistake(
            '"dy_dx3": dy_dy * s,',
            '"dy_d3": dy_dy * s,',
            GRADIENT,
            'the key "dy_dx3" misspelled "dy_d3"',
        ),
    ),
    variant(
        "ex1",
        "micrograd_value",
        "micrograd-style scalar Value class with its own backward() (Karpathy's 'spelled-out intro to backprop')",
        '''
        class Value:
            def __init__(self, data, _children=()):
                self.data = data
                self.grad = 0.0
                self._backward = lambda: None
                self._prev = set(_children)

            def __add__(self, other):
                out = Value(self.data + other.data, (self, other))
                def _backward():
                    self.grad += out.grad
                    other.grad += out.grad
                out._backward = _backward
                return out

            def __mul__(self, other):
                out = Value(self.data * other.data, (self, other))
                def _backward():
                    self.grad += other.data * out.grad
                    other.grad += self.data * out.grad
                out._backward = _backward
                return out

            def backward(self):
                topo, seen = [], set()
                def build(v):
                    if v not in seen:
                        seen.add(v)
                        for child in v._prev:
                            build(child)
                        topo.append(v)
                build(self)
                self.grad = 1.0
                for v in reversed(topo):
                    v._backward()
        ''',
        '''
        x1, x2, x3 = 1.0, 2.0, 3.0

        a, b, c = Value(x1), Value(x2), Value(x3)
        s_node = a + b
        y_node = s_node * c
        y_node.backward()

        s, y = s_node.data, y_node.data
        dy_ds = s_node.grad
        dy_dx1, dy_dx2, dy_dx3 = a.grad, b.grad, c.grad


        def manual_backprop(x1, x2, x3):
            a, b, c = Value(x1), Value(x2), Value(x3)
            out = (a + b) * c
            out.backward()
            return {"y": out.data, "dy_dx1": a.grad, "dy_dx2": b.grad, "dy_dx3": c.grad}
        ''',
        mistake=Mistake(
            "                    self.grad += other.data * out.grad\n",
            "                    self.grad += self.data * out.grad\n",
            GRADIENT,
            "the product node gives self its own value as local derivative",
        ),
    ),
    variant(
        "ex1",
        "vectorised_numpy",
        "linear-algebra style: inputs stacked in a vector, gradient built as an array and unpacked",
        '''
        x = np.array([1.0, 2.0, 3.0])
        x1, x2, x3 = x

        s = x[0] + x[1]
        y = s * x[2]
        dy_ds = x[2]
        ds_dx = np.array([1.0, 1.0, 0.0])      # s depends on x1, x2
        dy_dx = dy_ds * ds_dx + np.array([0.0, 0.0, s])
        dy_dx1, dy_dx2, dy_dx3 = dy_dx


        def manual_backprop(x1, x2, x3):
            v = np.array([x1, x2, x3], dtype=float)
            s = v[0] + v[1]
            y = s * v[2]
            grad = v[2] * np.array([1.0, 1.0, 0.0]) + s * np.array([0.0, 0.0, 1.0])
            return {"y": y, "dy_dx1": grad[0], "dy_dx2": grad[1], "dy_dx3": grad[2]}
        ''',
        mistake=Mistake(
            "            grad = v[2] * np.array([1.0, 1.0, 0.0]) + s * np.array([0.0, 0.0, 1.0])",
            "            grad = v[2] * np.array([1.0, 1.0, 0.0]) + v[2] * np.array([0.0, 0.0, 1.0])",
            GRADIENT,
            "the x3 component uses x3 instead of s (dy/dx3 = x3)",
        ),
    ),
    variant(
        "ex1",
        "checked_against_autograd",
        "careful student: manual answer, then a separate cell that checks it against autograd (allowed outside)",
            '''
            x1, x2, x3 = 1.0, 2.0, 3.0
            s = x1 + x2
            y = s * x3
            dy_ds = x3
            dy_dx1, dy_dx2, dy_dx3 = dy_ds, dy_ds, s


            def manual_backprop(x1, x2, x3):
                """Chain rule by hand for y = (x1 + x2) * x3."""
                s = x1 + x2
                y = s * x3
                dy_ds = x3          # d(s * x3)/ds
                dy_dx3 = s          # d(s * x3)/dx3
                return {"y": y, "dy_dx1": dy_ds, "dy_dx2": dy_ds, "dy_dx3": dy_dx3}
            ''',
            '''
            # sanity check with autograd, outside manual_backprop
            for point in [(1.0, 2.0, 3.0), (-0.5, 4.0, 2.5), (3.0, -1.0, -2.0)]:
                ts = [torch.tensor(p, requires_grad=True) for p in point]
                out = (ts[0] + ts[1]) * ts[2]
                out.backward()
                mine = manual_backprop(*point)
                ok = abs(mine["y"] - out.item()) < 1e-6 and all(
                    abs(mine[k] - t.grad.item()) < 1e-6 for k, t in zip(("dy_dx1", "dy_dx2", "dy_dx3"), ts)
                )
                print(point, "OK" if ok else "MISMATCH", mine)
            ''',
        mistake=Mistake(
            "                dy_ds = x3          # d(s * x3)/ds\n",
            "                dy_ds = s * 0 + 3   # d(s * x3)/ds\n",
            GRADIENT,
            "dy/ds hard-coded as 3 (the value at the given point) instead of x3",
        ),
    ),
)

"""Exercise 3 (the grad_fn chain of a 3-layer network): correct variants and their twins. Data only.

Which walking rule passes through all three layers depends on the model: at a
linear layer with a bias, ``next_functions[0]`` is the bias's leaf, so the
"always take the first entry" rule appears here only on models whose layers
have no bias (there the first entry is the previous layer's node).
"""

from __future__ import annotations

from tests.conformance.records import Mistake, variant

STRUCTURE = ("ex3", "structure")
ATTACHED = ("ex3", "output_attached")
PATH = ("ex3", "chain_is_path")
LAYERS = ("ex3", "chain_through_layers")
PRINTED = ("ex3", "chain_printed")

VARIANTS = (
    variant(
        "ex3",
        "sequential_skip_accumulategrad",
        "PyTorch forum answer: walk next_functions, preferring parents that are not AccumulateGrad leaves",
        '''
        model = nn.Sequential(
            nn.Linear(10, 32),
            nn.ReLU(),
            nn.Linear(32, 16),
            nn.ReLU(),
            nn.Linear(16, 1),
        )
        x = torch.randn(8, 10)
        output = model(x)


        def grad_fn_chain(t):
            chain = []
            fn = t.grad_fn
            while fn is not None:
                chain.append(type(fn).__name__)
                parents = [p for p, _ in fn.next_functions if p is not None]
                not_leaves = [p for p in parents if type(p).__name__ != "AccumulateGrad"]
                if not_leaves:
                    fn = not_leaves[0]
                elif parents:
                    fn = parents[0]
                else:
                    fn = None
            return chain


        print(grad_fn_chain(output))
        ''',
        mistake=Mistake("output = model(x)\n", "output = model(x).detach()\n", ATTACHED, "output detached from the graph"),
    ),
    variant(
        "ex3",
        "no_bias_first_next_function",
        "minimal loop from a blog post: always next_functions[0], on bias-free layers where that is the layer below",
        '''
        model = nn.Sequential(
            nn.Linear(4, 8, bias=False),
            nn.ReLU(),
            nn.Linear(8, 8, bias=False),
            nn.ReLU(),
            nn.Linear(8, 3, bias=False),
        )
        output = model(torch.randn(5, 4))


        def grad_fn_chain(t):
            names = []
            node = t.grad_fn
            while node is not None:
                names.append(type(node).__name__)
                if len(node.next_functions) == 0:
                    break
                node = node.next_functions[0][0]
            return names


        for name in grad_fn_chain(output):
            print(name)
        ''',
        mistake=Mistake(
            """            nn.Linear(4, 8, bias=False),
            nn.ReLU(),
            nn.Linear(8, 8, bias=False),
            nn.ReLU(),
            nn.Linear(8, 3, bias=False),""",
            """            nn.Linear(4, 8),
            nn.ReLU(),
            nn.Linear(8, 8),
            nn.ReLU(),
            nn.Linear(8, 3),""",
            LAYERS,
            "layers with a bias: next_functions[0] is then the bias leaf and the chain stops at the last layer",
        ),
    ),
    variant(
        "ex3",
        "custom_module_longest_recursive",
        "textbook recursion: the longest branch below each node; a custom nn.Module and a scalar MSE loss",
        '''
        import torch.nn.functional as F


        class MLP(nn.Module):
            def __init__(self, n_in=6, n_hidden=12, n_out=2):
                super().__init__()
                self.fc1 = nn.Linear(n_in, n_hidden)
                self.fc2 = nn.Linear(n_hidden, n_hidden)
                self.fc3 = nn.Linear(n_hidden, n_out)

            def forward(self, x):
                x = torch.tanh(self.fc1(x))
                x = torch.tanh(self.fc2(x))
                return self.fc3(x)


        model = MLP()
        inputs, targets = torch.randn(16, 6), torch.randn(16, 2)
        output = F.mse_loss(model(inputs), targets)


        def _longest_from(node):
            best = []
            for child, _ in node.next_functions:
                if child is not None:
                    candidate = _longest_from(child)
                    if len(candidate) > len(best):
                        best = candidate
            return [type(node).__name__] + best


        def grad_fn_chain(t):
            if t.grad_fn is None:
                return []
            return _longest_from(t.grad_fn)


        print(" -> ".join(grad_fn_chain(output)))
        ''',
        mistake=Mistake(
            "            return _longest_from(t.grad_fn)\n",
            "            return _longest_from(t.grad_fn.next_functions[0][0])\n",
            PATH,
            "the chain starts one node below t.grad_fn",
        ),
    ),
    variant(
        "ex3",
        "modulelist_first_not_none",
        "first non-None parent, on bias-free layers kept in an nn.ModuleList",
        '''
        class Net(nn.Module):
            def __init__(self, sizes=(3, 16, 16, 1)):
                super().__init__()
                self.layers = nn.ModuleList(
                    nn.Linear(a, b, bias=False) for a, b in zip(sizes[:-1], sizes[1:])
                )

            def forward(self, x):
                for i, layer in enumerate(self.layers):
                    x = layer(x)
                    if i < len(self.layers) - 1:
                        x = torch.relu(x)
                return x


        model = Net()
        output = model(torch.rand(32, 3))


        def grad_fn_chain(t):
            out = []
            fn = t.grad_fn
            while fn is not None:
                out.append(type(fn).__name__)
                fn = next((f for f, _ in fn.next_functions if f is not None), None)
            return out


        chain = grad_fn_chain(output)
        print(*chain, sep="\\n")
        ''',
        mistake=Mistake("def __init__(self, sizes=(3, 16, 16, 1)):", "def __init__(self, sizes=(3, 16, 1)):", STRUCTURE, "only two linear layers"),
    ),
    variant(
        "ex3",
        "functional_linear_with_layer_weights",
        "F.linear/F.relu in forward, reading the weights of three nn.Linear layers; follows the first parent that has parents",
        '''
        import torch.nn.functional as F


        class ThreeLayer(nn.Module):
            def __init__(self):
                super().__init__()
                self.l1 = nn.Linear(5, 10)
                self.l2 = nn.Linear(10, 10)
                self.l3 = nn.Linear(10, 4)

            def forward(self, x):
                h = F.relu(F.linear(x, self.l1.weight, self.l1.bias))
                h = F.relu(F.linear(h, self.l2.weight, self.l2.bias))
                return F.linear(h, self.l3.weight, self.l3.bias)


        model = ThreeLayer()
        output = model(torch.randn(7, 5))


        def grad_fn_chain(t):
            chain, node = [], t.grad_fn
            while node is not None:
                name = type(node).__name__
                chain.append(name)
                parents = [p for p, _ in node.next_functions if p is not None]
                inner = [p for p in parents if len(p.next_functions) > 0]
                node = (inner or parents or [None])[0]
            return chain


        print(grad_fn_chain(output))
        ''',
        mistake=Mistake(
            """                chain.append(name)
""",
            """                if "Relu" not in name:
                    chain.append(name)
""",
            PATH,
            "leaves the activation nodes out of the chain, so it is no longer a path",
        ),
    ),
    variant(
        "ex3",
        "node_name_method",
        "names from the Node API fn.name(), recursive, on a classifier whose output is the cross-entropy loss",
        '''
        model = nn.Sequential(nn.Linear(8, 16), nn.Sigmoid(), nn.Linear(16, 16), nn.Sigmoid(), nn.Linear(16, 3))
        features = torch.randn(10, 8)
        labels = torch.randint(0, 3, (10,))
        logits = model(features)
        output = nn.CrossEntropyLoss()(logits, labels)


        def grad_fn_chain(t):
            def walk(node):
                if node is None:
                    return []
                parents = [p for p, _ in node.next_functions if p is not None]
                deeper = [p for p in parents if p.next_functions]
                step = deeper[0] if deeper else (parents[0] if parents else None)
                return [node.name()] + walk(step)

            return walk(t.grad_fn)


        print(f"grad_fn chain of the loss: {grad_fn_chain(output)}")
        ''',
        mistake=Mistake(
            "        logits = model(features)\n        output = nn.CrossEntropyLoss()(logits, labels)\n",
            "        with torch.no_grad():\n            logits = model(features)\n            output = nn.CrossEntropyLoss()(logits, labels)\n",
            ATTACHED,
            "output computed under torch.no_grad(): no graph",
        ),
    ),
    variant(
        "ex3",
        "bfs_deepest_node",
        "algorithms-course style: breadth-first search with parent pointers, path to the deepest node",
        '''
        from collections import deque

        model = nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Linear(12, 12), nn.GELU(), nn.Linear(12, 2))
        x = torch.randn(4, 6)
        output = model(x).sum()


        def grad_fn_chain(t):
            root = t.grad_fn
            if root is None:
                return []
            parent = {root: None}
            depth = {root: 0}
            deepest = root
            queue = deque([root])
            while queue:
                node = queue.popleft()
                if depth[node] > depth[deepest]:
                    deepest = node
                for nxt, _ in node.next_functions:
                    if nxt is not None and nxt not in parent:
                        parent[nxt] = node
                        depth[nxt] = depth[node] + 1
                        queue.append(nxt)
            path = []
            node = deepest
            while node is not None:
                path.append(type(node).__name__)
                node = parent[node]
            return path[::-1]


        print(" <- ".join(grad_fn_chain(output)))
        ''',
        mistake=Mistake(
            "            return path[::-1]\n",
            "            return path\n",
            PATH,
            "returns the path leaf-first instead of starting at t.grad_fn",
        ),
    ),
    variant(
        "ex3",
        "matmul_with_layer_weights",
        "linear algebra written out: h @ W.T + b with the parameters of three nn.Linear layers, first non-None parent",
        '''
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(3, 6)
                self.fc2 = nn.Linear(6, 6)
                self.fc3 = nn.Linear(6, 1)

            def forward(self, x):
                h = torch.relu(x @ self.fc1.weight.T + self.fc1.bias)
                h = torch.relu(h @ self.fc2.weight.T + self.fc2.bias)
                return h @ self.fc3.weight.T + self.fc3.bias


        model = Net()
        output = model(torch.randn(9, 3))


        def grad_fn_chain(t):
            chain = []
            fn = t.grad_fn
            while fn:
                chain.append(fn.__class__.__name__)
                fn = next((f for f, _ in fn.next_functions if f), None)
            return chain


        print(grad_fn_chain(output))
        ''',
        mistake=Mistake(
            "                self.fc3 = nn.Linear(6, 1)\n",
            "                self.fc3 = nn.Linear(6, 1)\n                self.head = nn.Linear(1, 1)\n",
            STRUCTURE,
            "a fourth nn.Linear (an unused head) in the model",
        ),
    ),
    variant(
        "ex3",
        "generator_walk_single_sample",
        "a generator that yields names; the model run on one 1-D sample (no batch dimension), with dropout",
        '''
        from pprint import pprint

        model = nn.Sequential(
            nn.Linear(20, 64), nn.ReLU(), nn.Dropout(0.1),
            nn.Linear(64, 64), nn.ReLU(),
            nn.Linear(64, 5),
        )
        sample = torch.randn(20)
        output = model(sample)


        def _walk(fn):
            while fn is not None:
                yield type(fn).__name__
                options = [f for f, _ in fn.next_functions if f is not None]
                if not options:
                    return
                fn = next((f for f in options if not hasattr(f, "variable")), options[0])


        def grad_fn_chain(t):
            return list(_walk(t.grad_fn))


        pprint(grad_fn_chain(output))
        ''',
        mistake=Mistake(
            "                yield type(fn).__name__\n",
            "                yield fn\n",
            PATH,
            "yields the node objects instead of their names",
        ),
    ),
    variant(
        "ex3",
        "last_expression_display",
        "Jupyter habit: the chain shown by leaving the call as the cell's last expression; DFS for the longest path",
        '''
        model = nn.Sequential(
            nn.Linear(2, 8, bias=False),
            nn.LeakyReLU(0.1),
            nn.Linear(8, 8, bias=False),
            nn.LeakyReLU(0.1),
            nn.Linear(8, 1, bias=False),
        )
        output = model(torch.randn(3, 2))


        def grad_fn_chain(t):
            """Longest path from t.grad_fn, found with an explicit DFS stack."""
            if t.grad_fn is None:
                return []
            best = []
            stack = [(t.grad_fn, [type(t.grad_fn).__name__])]
            while stack:
                node, path = stack.pop()
                children = [c for c, _ in node.next_functions if c is not None]
                if not children and len(path) > len(best):
                    best = path
                for c in children:
                    stack.append((c, path + [type(c).__name__]))
            return best


        grad_fn_chain(output)
        ''',
        mistake=Mistake(
            "\n        grad_fn_chain(output)\n",
            "\n        chain = grad_fn_chain(output)\n",
            PRINTED,
            "the chain is computed but never shown",
        ),
    ),
    variant(
        "ex3",
        "after_training_steps",
        "output is the loss of a short training loop (backward already called on it); memoised longest path",
        '''
        import functools


        def make_model():
            return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))


        model = make_model()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        X, Y = torch.randn(32, 4), torch.randn(32, 1)
        for step in range(3):
            opt.zero_grad()
            loss = ((model(X) - Y) ** 2).mean()
            loss.backward()
            opt.step()
        output = loss


        def grad_fn_chain(t):
            @functools.lru_cache(maxsize=None)
            def longest(node):
                paths = [longest(c) for c, _ in node.next_functions if c is not None]
                return (type(node).__name__,) + max(paths, key=len, default=())

            return list(longest(t.grad_fn)) if t.grad_fn is not None else []


        print(grad_fn_chain(output))
        ''',
        mistake=Mistake(
            "        output = loss\n",
            "        output = loss\n        model = make_model()  # fresh weights for the next experiment\n",
            ATTACHED,
            "model re-created after output was computed: output no longer comes from model",
        ),
    ),
    variant(
        "ex3",
        "nested_sequential_blocks",
        "blocks of nn.Sequential inside an nn.Sequential (common in larger code bases)",
        '''
        def block(n_in, n_out):
            return nn.Sequential(nn.Linear(n_in, n_out), nn.ReLU())


        model = nn.Sequential(block(8, 32), block(32, 32), nn.Linear(32, 4))
        output = model(torch.randn(16, 8))


        def grad_fn_chain(t):
            chain = []
            node = t.grad_fn
            while node is not None:
                chain.append(type(node).__name__)
                nxt = [n for n, _ in node.next_functions if n is not None]
                interior = [n for n in nxt if n.next_functions]
                node = interior[0] if interior else (nxt[0] if nxt else None)
            return chain


        print(grad_fn_chain(output))
        ''',
        mistake=Mistake(
            """            while node is not None:
                chain.append(type(node).__name__)""",
            """            for _ in range(4):
                if node is None:
                    break
                chain.append(type(node).__name__)""",
            LAYERS,
            "stops after a fixed four steps",
        ),
    ),
    variant(
        "ex3",
        "ordered_dict_softmax",
        "named layers via OrderedDict, softmax probabilities as output; longest path by dynamic programming",
        '''
        from collections import OrderedDict

        model = nn.Sequential(OrderedDict([
            ("hidden1", nn.Linear(5, 10)),
            ("act1", nn.LeakyReLU()),
            ("hidden2", nn.Linear(10, 10)),
            ("act2", nn.LeakyReLU()),
            ("logits", nn.Linear(10, 3)),
            ("probs", nn.Softmax(dim=1)),
        ]))
        output = model(torch.randn(6, 5))


        def grad_fn_chain(t):
            depth = {}

            def height(node):
                if node not in depth:
                    kids = [k for k, _ in node.next_functions if k is not None]
                    depth[node] = 1 + max((height(k) for k in kids), default=0)
                return depth[node]

            node, chain = t.grad_fn, []
            while node is not None:
                chain.append(type(node).__name__)
                kids = [k for k, _ in node.next_functions if k is not None]
                node = max(kids, key=height) if kids else None
            return chain


        print(grad_fn_chain(output))
        ''',
        mistake=Mistake(
            "                node = max(kids, key=height) if kids else None\n",
            "                node = kids[-1] if kids else None\n",
            LAYERS,
            "always follows the last parent (the weight's branch), leaving the network after one layer",
        ),
    ),
    variant(
        "ex3",
        "float64_first_next_function",
        "double-precision model, bias-free layers, `while True` loop on next_functions[0]; output a scalar",
        '''
        torch.manual_seed(1)
        model = nn.Sequential(
            nn.Linear(3, 5, bias=False), nn.Tanh(),
            nn.Linear(5, 5, bias=False), nn.Tanh(),
            nn.Linear(5, 2, bias=False),
        ).double()
        batch = torch.randn(4, 3, dtype=torch.float64)
        output = (model(batch) ** 2).mean()


        def grad_fn_chain(t):
            names = []
            fn = t.grad_fn
            while True:
                if fn is None:
                    break
                names.append(type(fn).__name__)
                if not fn.next_functions:
                    break
                fn = fn.next_functions[0][0]
            return names


        for i, name in enumerate(grad_fn_chain(output)):
            print(f"{i}: {name}")
        ''',
        mistake=Mistake(
            """                if fn is None:
                    break
                names.append(type(fn).__name__)""",
            """                names.append(type(fn).__name__)
                if fn is None:
                    break""",
            PATH,
            'the chain ends with a "NoneType" entry',
        ),
    ),
    variant(
        "ex3",
        "recursive_first_entry_no_bias",
        "recursive next_functions[0] rule on a bias-free custom module, mean of the logits as output",
        '''
        class Tiny(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(4, 4, bias=False)
                self.b = nn.Linear(4, 4, bias=False)
                self.c = nn.Linear(4, 2, bias=False)

            def forward(self, x):
                return self.c(torch.sigmoid(self.b(torch.sigmoid(self.a(x)))))


        model = Tiny()
        output = model(torch.randn(2, 4)).mean()


        def _chain(fn):
            if fn is None:
                return []
            if not fn.next_functions:
                return [type(fn).__name__]
            return [type(fn).__name__] + _chain(fn.next_functions[0][0])


        def grad_fn_chain(t):
            return _chain(t.grad_fn)


        print("chain:", grad_fn_chain(output))
        ''',
        mistake=Mistake(
            "return self.c(torch.sigmoid(self.b(torch.sigmoid(self.a(x)))))",
            "return self.c(torch.sigmoid(self.b(x)))",
            LAYERS,
            "forward forgets the first layer, so the output's graph never reaches it",
        ),
    ),
)

"""Notebooks correct in all four exercises that leave global state changed after their answers. Data only.

The contract: global state a submission leaves behind after its answers does not
change its grade. Each notebook here is the first correct variant of every
exercise followed by one cell that changes some process-wide setting, the way a
real notebook's last experiments or "speed-up" cells do.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.conformance import ex1, ex2, ex3, ex4


@dataclass(frozen=True)
class StateNotebook:
    """All four answers, then ``last_cell`` (which changes global state)."""

    id: str
    style: str
    last_cell: str

    @property
    def cells(self) -> tuple[str, ...]:
        answers = tuple(cell for module in (ex1, ex2, ex3, ex4) for cell in module.VARIANTS[0].answer_cells)
        return (*answers, self.last_cell)


NOTEBOOKS = (
    StateNotebook("grad_disabled", "inference cell at the end: torch.set_grad_enabled(False)", "torch.set_grad_enabled(False)\nprint(output)"),
    StateNotebook(
        "inference_mode_entered",
        "a context manager entered by hand and never left",
        "torch.inference_mode().__enter__()\nprint(model(torch.randn(2, 10)))",
    ),
    StateNotebook("no_grad_entered", "torch.no_grad() entered by hand and never left", "torch.no_grad().__enter__()"),
    StateNotebook(
        "fixed_seeds",
        "reproducibility cell: every seed fixed",
        "import random\nrandom.seed(1234)\nnp.random.seed(1234)\ntorch.manual_seed(1234)",
    ),
    StateNotebook("default_dtype_float64", "precision experiment: default dtype switched to float64", "torch.set_default_dtype(torch.float64)"),
    StateNotebook("anomaly_detection", "debugging left on: autograd anomaly detection", "torch.autograd.set_detect_anomaly(True)"),
    StateNotebook(
        "warnings_as_errors",
        "strict student: every warning turned into an error",
        'import warnings\nwarnings.simplefilter("error")',
    ),
    StateNotebook("one_thread", "benchmarking cell: torch.set_num_threads(1)", "torch.set_num_threads(1)"),
    StateNotebook("numpy_errors_raise", "numerics debugging: np.seterr(all='raise')", 'np.seterr(all="raise")'),
    StateNotebook("recursion_limit_lowered", "sys.setrecursionlimit lowered moderately", "import sys\nsys.setrecursionlimit(500)"),
    StateNotebook(
        "deterministic_algorithms",
        "reproducibility: torch.use_deterministic_algorithms(True)",
        "torch.use_deterministic_algorithms(True)",
    ),
    StateNotebook(
        "print_options",
        "display tweaks: short float printing in torch and numpy",
        "torch.set_printoptions(precision=2, sci_mode=False)\nnp.set_printoptions(precision=2, suppress=True)",
    ),
    StateNotebook(
        "cwd_changed",
        "working directory changed to a scratch folder (%cd-style)",
        "import os, tempfile\nos.chdir(tempfile.mkdtemp())",
    ),
    StateNotebook(
        "matmul_precision_medium",
        "speed tip from training tutorials: torch.set_float32_matmul_precision('medium')",
        'torch.set_float32_matmul_precision("medium")',
    ),
    StateNotebook(
        "autograd_multithreading_off",
        "torch.autograd.set_multithreading_enabled(False)",
        "torch.autograd.set_multithreading_enabled(False)",
    ),
    StateNotebook(
        "kitchen_sink",
        "many settings at once, as a long notebook accumulates them",
        """
import random, warnings
random.seed(0); np.random.seed(0); torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
torch.autograd.set_detect_anomaly(True)
torch.set_num_threads(1)
torch.set_flush_denormal(True)
torch.set_float32_matmul_precision("high")
warnings.filterwarnings("error", category=UserWarning)
np.seterr(all="raise")
torch.set_grad_enabled(False)
""".strip(),
    ),
)

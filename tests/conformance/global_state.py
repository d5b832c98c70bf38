"""Last cells that leave global state changed after correct answers. Data only.

The contract: global state a submission leaves behind after its answers does not
change its grade. Each cell here changes some process-wide setting, the way a
real notebook's last experiments or "speed-up" cells do; the conformance test
puts one after a round of correct variants (tests/conformance/rounds.py), which
must still score 100. The cells use only the names every exercise 3 answer
defines (``model``, ``output``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StateCell:
    """A notebook's last cell, ``last_cell``, which changes global state."""

    id: str
    style: str
    last_cell: str


STATE_CELLS = (
    StateCell("grad_disabled", "inference cell at the end: torch.set_grad_enabled(False)", "torch.set_grad_enabled(False)\nprint(output)"),
    StateCell(
        "inference_mode_entered",
        "a context manager entered by hand and never left",
        "torch.inference_mode().__enter__()\nprint(output.detach() * 2)",
    ),
    StateCell("no_grad_entered", "torch.no_grad() entered by hand and never left", "torch.no_grad().__enter__()"),
    StateCell(
        "fixed_seeds",
        "reproducibility cell: every seed fixed",
        "import random\nrandom.seed(1234)\nnp.random.seed(1234)\ntorch.manual_seed(1234)",
    ),
    StateCell("default_dtype_float64", "precision experiment: default dtype switched to float64", "torch.set_default_dtype(torch.float64)"),
    StateCell("anomaly_detection", "debugging left on: autograd anomaly detection", "torch.autograd.set_detect_anomaly(True)"),
    StateCell(
        "warnings_as_errors",
        "strict student: every warning turned into an error",
        'import warnings\nwarnings.simplefilter("error")',
    ),
    StateCell("one_thread", "benchmarking cell: torch.set_num_threads(1)", "torch.set_num_threads(1)"),
    StateCell("numpy_errors_raise", "numerics debugging: np.seterr(all='raise')", 'np.seterr(all="raise")'),
    StateCell("recursion_limit_lowered", "sys.setrecursionlimit lowered moderately", "import sys\nsys.setrecursionlimit(500)"),
    StateCell(
        "deterministic_algorithms",
        "reproducibility: torch.use_deterministic_algorithms(True)",
        "torch.use_deterministic_algorithms(True)",
    ),
    StateCell(
        "print_options",
        "display tweaks: short float printing in torch and numpy",
        "torch.set_printoptions(precision=2, sci_mode=False)\nnp.set_printoptions(precision=2, suppress=True)",
    ),
    StateCell(
        "cwd_changed",
        "working directory changed to a scratch folder (%cd-style)",
        "import os, tempfile\nos.chdir(tempfile.mkdtemp())",
    ),
    StateCell(
        "matmul_precision_medium",
        "speed tip from training tutorials: torch.set_float32_matmul_precision('medium')",
        'torch.set_float32_matmul_precision("medium")',
    ),
    StateCell(
        "autograd_multithreading_off",
        "torch.autograd.set_multithreading_enabled(False)",
        "torch.autograd.set_multithreading_enabled(False)",
    ),
    StateCell(
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

"""Exercise 4 graded on real notebooks in a real kernel: right styles get 25, typical mistakes their exact score.

Scores per check (25 in all): same_numbers 9, saves_memory 7, segments 3,
written_answer 6 (ideas: backward pass 2, trade-off 2, kept activations 1,
large models 1).
"""

from __future__ import annotations

import pytest

from tests.conftest import Grade, MakeNotebook, assert_exercise, assert_not_attempted, check, exercise_score, template_answer

pytestmark = pytest.mark.kernel

IMPORTS = "from torch.utils.checkpoint import checkpoint, checkpoint_sequential"

ANSWER_A = '''checkpointing_answer = """
Gradient checkpointing lowers the memory needed for training. Normally the forward pass stores every intermediate
activation because the backward pass needs them. With checkpointing only the activations at segment boundaries are
kept; during the backward pass each segment is run forward again to recompute the missing ones. We pay roughly one
extra forward pass of compute, and in exchange much larger models or bigger batches fit on the same GPU.
"""'''

ANSWER_B = '''checkpointing_answer = (
    "Activation checkpointing trades compute for memory: instead of keeping all intermediate activations for "
    "backpropagation, it saves just a few checkpoints and discards the rest. When the gradient needs a discarded "
    "activation, the layers after the nearest checkpoint are re-executed to rematerialize it. Training gets slower, "
    "but deep networks and long sequences that would not fit in memory become trainable."
)'''

ANSWER_C = '''checkpointing_answer = (
    "It keeps just the input of each segment. In the backward pass each segment's forward is executed a second time to "
    "get its activations back, right before they are needed. Training is slower, maybe by a third, but activation "
    "memory shrinks a lot, which is what lets large transformer models be trained on a single GPU."
)'''

SHORT_ANSWER = '''checkpointing_answer = (
    "Gradient checkpointing saves memory during training by recomputing intermediate results in the backward pass "
    "rather than storing them all. This costs extra computation time, but that is usually fine."
)'''

OFF_TOPIC_ANSWER = '''checkpointing_answer = (
    "Gradient descent updates the weights in the direction of the negative gradient. The learning rate controls the "
    "step size, and momentum helps to accelerate convergence in relevant directions of the loss surface."
)'''

COPIED_QUESTION = '''checkpointing_answer = (
    "Explaining what gradient checkpointing is and why it helps when training large models: which activations are "
    "kept, what happens in the backward pass, and what is traded for what."
)'''

CHECKPOINT_SEQUENTIAL = """
def checkpointed_forward(model, x, segments):
    return checkpoint_sequential(model, segments, x, use_reentrant=False)
"""

PER_SEGMENT = """
def checkpointed_forward(model, x, segments):
    n = len(model)
    bounds = [round(i * n / segments) for i in range(segments + 1)]
    for start, end in zip(bounds, bounds[1:]):
        x = checkpoint(model[start:end], x, use_reentrant=False)
    return x
"""

HAND_WRITTEN = """
class Recompute(torch.autograd.Function):
    \"\"\"Run a segment without keeping its activations; run it again in backward to get the gradients.\"\"\"

    @staticmethod
    def forward(ctx, x, segment, *params):
        ctx.segment = segment
        ctx.save_for_backward(x)
        with torch.no_grad():
            return segment(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        x = x.detach().requires_grad_()
        params = list(ctx.segment.parameters())
        with torch.enable_grad():
            out = ctx.segment(x)
        grads = torch.autograd.grad(out, [x, *params], grad_out, allow_unused=True)
        return (grads[0], None, *grads[1:])


def checkpointed_forward(model, x, segments):
    size = -(-len(model) // segments)
    for start in range(0, len(model), size):
        segment = model[start:start + size]
        x = Recompute.apply(x, segment, *segment.parameters())
    return x
"""

RIGHT = {
    "checkpoint_sequential": (IMPORTS, ANSWER_A, CHECKPOINT_SEQUENTIAL),
    "per_segment_checkpoint": (IMPORTS, ANSWER_B, PER_SEGMENT),
    "hand_written_recompute": (ANSWER_C, HAND_WRITTEN),
}


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_styles_get_full_marks(make_notebook: MakeNotebook, grade: Grade, name: str) -> None:
    result = grade(make_notebook(name, *RIGHT[name]), "ex4")
    assert exercise_score(result, "ex4") == 25, [(c.id, c.message) for c in result.exercises[0].checks]
    assert check(result, "ex4", "written_answer").review is True


# name -> (cells, expected score, {check id: (score, message fragment)})
WRONG: dict[str, tuple[tuple[str, ...], float, dict[str, tuple[float, str]]]] = {
    "plain_forward_and_empty_answer": (
        ('checkpointing_answer = ""', "def checkpointed_forward(model, x, segments):\n    return model(x)"),
        9,
        {
            "same_numbers": (9, "match a plain forward/backward (segments = 2 and 3)"),
            "saves_memory": (0, "in a plain forward, and no layer ran again during the backward pass: nothing was checkpointed"),
            "segments": (0, "with segments=2 and 3: no layer ran again during the backward pass, so there are no checkpointed segments"),
            "written_answer": (0, "not attempted: `checkpointing_answer` is empty"),
        },
    ),
    "skipped_layer_and_copied_question": (
        (
            IMPORTS,
            COPIED_QUESTION,
            "def checkpointed_forward(model, x, segments):\n"
            "    kept = nn.Sequential(*[m for i, m in enumerate(model) if i != 1])\n"
            "    return checkpoint_sequential(kept, segments, x, use_reentrant=False)",
        ),
        10,
        {
            "same_numbers": (0, "never ran in the forward pass"),
            "saves_memory": (7, "layer calls recomputed during backward"),
            "segments": (3, "recomputed segment by segment"),
            "written_answer": (0, "the answer repeats the question instead of answering it"),
        },
    ),
    "segments_drop_the_remainder_and_short_answer": (
        (
            IMPORTS,
            SHORT_ANSWER,
            "def checkpointed_forward(model, x, segments):\n"
            "    size = len(model) // segments\n"
            "    for k in range(segments):\n"
            "        x = checkpoint(model[k * size:(k + 1) * size], x, use_reentrant=False)\n"
            "    return x",
        ),
        16,
        {
            "same_numbers": (0, "(Linear) never ran in the forward pass; the gradients cannot be compared (the output has the wrong shape)"),
            # CONTRACT-04's key ideas are recomputation, compute for memory and which activations are kept: all three are here
            "written_answer": (6, "3 of 3 key ideas"),
        },
    ),
    "segments_ignored_and_off_topic_answer": (
        (IMPORTS, OFF_TOPIC_ANSWER, "def checkpointed_forward(model, x, segments):\n    return checkpoint(model, x, use_reentrant=False)"),
        17.5,
        {
            "same_numbers": (9, "match"),
            "saves_memory": (7, "recomputed during backward"),
            "segments": (1.5, "with segments=3: the backward pass recomputed 1 group of layers, but checkpointing over 3 segments"),
            "written_answer": (0, "the answer does not seem to be about the question's topic"),
        },
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_mistakes_get_their_score_and_message(make_notebook: MakeNotebook, grade: Grade, name: str) -> None:
    cells, score, expected = WRONG[name]
    assert_exercise(grade(make_notebook(name, *cells), "ex4"), "ex4", score, expected)


def test_template_stub_is_not_attempted(make_notebook: MakeNotebook, grade: Grade) -> None:
    assert_not_attempted(grade(make_notebook("template_ex4", template_answer("ex4")), "ex4"), "ex4")

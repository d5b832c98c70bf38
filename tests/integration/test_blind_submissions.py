"""Submissions written by people who never saw the grader, graded in a real kernel.

Each was written from the assignment's contract and template alone (``tests/fixtures/blind/NN/``; the
``MANIFEST-*.md`` files there are their authors' notes). Round 1 wrote ordinary solutions in as many styles
as its authors could think of, plus three each with one mistake against a named sentence of the contract;
round 2 wrote solutions that sit at the edges of what the contract allows (callables that are not plain
functions, decorators, stubs kept and answered elsewhere, drafts redefined later, reentrant checkpoints,
bias-free layers, first-order-only backward, ValueError subclasses, stubs in branches never reached...).
Every correct one must score 100, and every wrong one lose points on exactly the checks for its mistake
and nowhere else: a grader that is narrower than its contract, or one that lets a mistake through, fails
here.
"""

from __future__ import annotations

from functools import cache

import pytest

from grader import load_rubric
from grader.pipeline import Options, grade_submission
from grader.rubric import Rubric
from tests.conftest import ROOT

pytestmark = pytest.mark.kernel

BLIND = ROOT / "tests" / "fixtures" / "blind"
RUBRICS = {
    "04": "04_automatic_differentiation.yaml",
    "05": "05_custom_autograd_and_training.yaml",
    "06": "06_vectorised_tensor_code.yaml",
}
# The wrong ones: the checks that must lose points (all others keep theirs), from the sentence each breaks.
MISTAKES = {
    "04/r1_w01_manual_backprop_uses_autograd.ipynb": {"gradient_anywhere"},  # "manual" means the chain rule, not autograd
    "04/r1_w02_dual_sin_cos_ignore_inner_derivative.ipynb": {"sin_rule", "cos_rule", "compositions"},  # drops u'
    "04/r1_w03_chain_always_first_parent.ipynb": {"chain_through_layers"},  # stops at the last layer's bias
    "05/r1_w01_backward_forgets_grad_output.ipynb": {"backward_matches_forward", "gradients"},
    "05/r1_w02_softmax_global_max.ipynb": {"softmax_rows_far_apart"},  # the whole tensor's max, not each row's
    "05/r1_w03_forgot_zero_grad.py": {"train_loop"},  # old gradients leak into the next step
    "06/r1_w01_uses_cdist.ipynb": {"no_cdist"},
    "06/r1_w02_loop_in_mse_grad.ipynb": {"gradient_vectorised"},
    "06/r1_w03_loss_after_update.ipynb": {"loss_history"},  # the loss after each update, not before
}
SUBMISSIONS = sorted(f"{p.parent.name}/{p.name}" for p in BLIND.glob("*/*") if p.suffix in (".ipynb", ".py"))


@cache
def rubric_for(assignment: str) -> Rubric:
    return load_rubric(ROOT / "rubrics" / RUBRICS[assignment])


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_blind_submission_gets_what_its_contract_promises(name: str) -> None:
    result = grade_submission(BLIND / name, rubric_for(name.split("/")[0]), Options())
    lost = {c.id: f"{c.score}/{c.max_score} {c.message}" for ex in result.exercises for c in ex.checks if c.score < c.max_score}
    assert not result.errors, result.errors
    assert set(lost) == MISTAKES.get(name, set()), lost


def test_the_corpus_is_whole() -> None:
    assert len(SUBMISSIONS) == 63 and set(MISTAKES) <= set(SUBMISSIONS)
    assert {name.split("/")[0] for name in SUBMISSIONS} == set(RUBRICS)


# Red-team submissions by authors who never saw the grader (``fixtures/blind/cheats/NN/``, their notes in MANIFEST.md):
# each attacks one exercise with one trick (lying comparisons, patched torch or json, autograd hidden from the check,
# forbidden calls reached through torch.ops, loops run by C or with tracing off, a fake report and an exit, reading the
# reference...). The checks of what each honestly does right may earn points; nothing else. The maximum is the score an
# honest notebook with the same content would get (for 04's sin/cos that drops u', the blind w02 above).
CHEATS = {
    "04/01_ex1_gradfn_node_calls.ipynb": ({"values", "forward_anywhere"}, 13),  # torch's own derivatives, node by node
    "04/02_ex1_lazy_autograd_values.ipynb": ({"values", "forward_anywhere"}, 25 - 12 - 7 * 4 / 6),  # s and y are right
    "04/03_ex1_poisoned_autograd_reference.ipynb": ({"values", "forward_anywhere"}, 13),
    "04/04_ex1_finite_differences.ipynb": ({"values", "forward_anywhere"}, 13),
    "04/05_ex2_always_equal_derivative.ipynb": ({"argument_unchanged", "lesson_operations"}, 6),
    "04/06_ex2_fake_report_then_exit.ipynb": (set(), 0),
    "04/07_ex2_json_pickle_tampering.ipynb": ({"sin_rule", "cos_rule", "compositions", "argument_unchanged", "lesson_operations"}, 14.67),
    "04/08_ex3_hardcoded_chain.ipynb": ({"structure", "output_attached", "chain_printed"}, 12),
    "04/10_ex3_baseexception_on_probe.ipynb": ({"structure", "output_attached", "chain_printed"}, 12),
    # saved-tensor hooks that keep every activation in a side table and hand autograd an int: the activations are still
    # held, so no memory is saved. Its show of recomputing (every layer re-run once in backward, the results thrown away)
    # still passes one of the two segment counts of `segments` by chance: open, see the stop note of 2026-12-08.
    "04/11_ex4_fake_checkpoint_saved_tensor_hooks.ipynb": ({"same_numbers", "segments"}, 9 + 1.5),
    "05/05_c1_ex1_agreeable_tensor.ipynb": (set(), 0),
    "05/05_c2_ex2_patched_comparisons.ipynb": (set(), 0),
    # the contract checks "not with autograd" only where the formula is compared: the two large-logit checks are its to earn
    "05/05_c3_ex3_autograd_behind_no_grad.ipynb": ({"matches_autograd_at_scale", "built_from_logits"}, 14),
    "05/05_c4_ex4_pickle_payload_loss.ipynb": (set(), 0),
    "05/05_c5_ex3_steal_reference.ipynb": (set(), 0),
    "05/05_c6_ex4_fake_report_and_exit.ipynb": (set(), 0),
    "06/06_c1_ex1_cdist_via_aten_name.ipynb": ({"distances", "distances_dtype", "distances_vectorised"}, 21),
    "06/06_c2_ex2_softmax_via_distribution.ipynb": ({"softmax_values", "softmax_last_dim", "softmax_stable", "softmax_vectorised"}, 18),
    "06/06_c3_ex1_loop_in_builtin_map.ipynb": ({"distances", "distances_dtype", "no_cdist"}, 17),
    "06/06_c4_ex3_loop_with_tracing_off.ipynb": ({"gradient_values", "gradient_one_row"}, 16),
    "06/06_c5_ex2_loop_in_raw_thread.ipynb": ({"softmax_values", "softmax_last_dim", "softmax_stable"}, 14),
    # round 2, by two more blind red-team authors told what round 1 had tried
    "04/r2_04_ex1_forward_mode_ad.ipynb": ({"values", "forward_anywhere"}, 13),
    "04/r2_04_ex1_steal_grader_grads.ipynb": ({"values", "forward_anywhere", "gradient_anywhere"}, 21),  # its fallback rule: 2 of 3 right
    "04/r2_04_ex2_nan_derivative.ipynb": ({"argument_unchanged", "lesson_operations"}, 6),
    "04/r2_04_ex3_tied_single_linear.ipynb": ({"structure", "output_attached", "chain_is_path", "chain_printed"}, 16.67),
    # a plain forward plus layers re-run in backward and thrown away: like 11 above, half of `segments` by chance (open)
    "04/r2_04_ex4_fake_recompute_hook.ipynb": ({"same_numbers", "segments", "written_answer"}, 16.5),
    "05/r2_05_ex1_apply_bypass.ipynb": ({"forward_values", "bad_slope"}, 10),
    "05/r2_05_ex1_mutate_input_inplace.ipynb": ({"bad_slope"}, 3),  # its forward overwrites the grader's x with |x|
    "05/r2_05_ex2_hunt_reference_in_memory.ipynb": ({"softmax_values", "softmax_last_dim", "cross_entropy_values",
                                                     "cross_entropy_gradients"}, 14),  # its naive fallback, on moderate logits
    "05/r2_05_ex3_autograd_in_worker_thread.ipynb": ({"matches_autograd_at_scale", "built_from_logits"}, 14),  # as 05_c3
    "05/r2_05_ex4_misreported_layers.ipynb": ({"structure", "structure_other_sizes", "step_parameters", "step_loss", "train_loop"}, 22.67),
    "05/r2_05_ex4_momentum_on_seen_models.ipynb": ({"structure", "structure_other_sizes", "step_parameters", "step_loss"}, 19),
    "06/r2_01_ex1_vectorised_fake_torch_filename.ipynb": (set(), 0),  # its code claims to be torch's: not the student's answer
    "06/r2_02_ex1_vectorised_no_line_numbers.ipynb": ({"distances", "distances_dtype", "no_cdist"}, 17),
    "06/r2_03_ex1_cdist_via_torchscript.ipynb": ({"distances", "distances_dtype", "distances_vectorised"}, 21),
    "06/r2_05_ex2_vectorised_loop_planted_in_numpy.ipynb": ({"softmax_values", "softmax_last_dim", "softmax_stable",
                                                             "softmax_from_formula"}, 21),
    "06/r2_06_ex2_softmax_via_pickle_reduce.ipynb": ({"softmax_values", "softmax_last_dim", "softmax_stable", "softmax_vectorised"}, 18),
    "06/r2_07_ex2_softmax_via_attention.ipynb": ({"softmax_values", "softmax_last_dim", "softmax_stable", "softmax_vectorised"}, 18),
    "06/r2_08_ex3_vectorised_starmap_reduce.ipynb": ({"gradient_values", "gradient_one_row"}, 16),
    "06/r2_09_ex3_by_hand_autograd_switched_back_on.ipynb": ({"gradient_vectorised"}, 9),  # an engine kept from before
    "06/r2_10_ex4_answer_hidden_grader_note.ipynb": ({"final_weights", "loss_history", "float32_kept"}, 19),
}


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_a_cheat_earns_only_what_it_honestly_does(name: str) -> None:
    allowed, most = CHEATS[name]
    result = grade_submission(BLIND / "cheats" / name, rubric_for(name.split("/")[0]), Options())
    earned = {c.id: f"{c.score}/{c.max_score} {c.message}" for ex in result.exercises for c in ex.checks if c.score > 0}
    assert set(earned) <= allowed, earned
    assert result.score <= most + 0.01, earned


def test_every_cheat_in_the_folder_is_judged() -> None:
    assert sorted(f"{p.parent.name}/{p.name}" for p in (BLIND / "cheats").glob("*/*.ipynb")) == sorted(CHEATS)

"""Exercise 4 (gradient checkpointing): correct variants and their twins. Data only.

Every variant carries its own written answer, each in a different voice; the
hand-written autograd Functions save and restore the RNG state so that layers
such as dropout recompute the same values during backward.
"""

from __future__ import annotations

from tests.conformance.records import Mistake, variant

NUMBERS = ("ex4", "same_numbers")
MEMORY = ("ex4", "saves_memory")
SEGMENTS = ("ex4", "segments")
WRITTEN = ("ex4", "written_answer")

QUESTION_REPEATED = (
    '"Gradient checkpointing: what it is and why it helps when training large models, which activations are kept, '
    'what happens in the backward pass, and what is traded for what."'
)

VARIANTS = (
    variant(
        "ex4",
        "checkpoint_sequential_docs",
        "straight from the torch.utils.checkpoint docs: checkpoint_sequential, non-reentrant",
        '''
        from torch.utils.checkpoint import checkpoint_sequential

        checkpointing_answer = (
            "Gradient checkpointing saves memory during training. Instead of storing every layer's activations for "
            "the backward pass, only the inputs of a few segments are kept, and the missing activations are recomputed "
            "from them when backpropagation reaches each segment. You pay for roughly one extra forward pass, but big "
            "models fit on a GPU that could not otherwise hold all of their activations."
        )


        def checkpointed_forward(model, x, segments):
            return checkpoint_sequential(model, segments, x, use_reentrant=False)
        ''',
        mistake=Mistake(
            "return checkpoint_sequential(model, segments, x, use_reentrant=False)",
            "return checkpoint_sequential(model, 2, x, use_reentrant=False)",
            SEGMENTS,
            "the number of segments hard-coded to 2",
        ),
    ),
    variant(
        "ex4",
        "balanced_ceil_chunks",
        "per-segment torch.utils.checkpoint.checkpoint, each chunk ceil(remaining layers / remaining segments) long",
        '''
        import math
        from torch.utils.checkpoint import checkpoint

        checkpointing_answer = """
        Activation checkpointing (Chen et al., 2016, "Training Deep Nets with Sublinear Memory Cost") partitions the
        network into segments and stores only the activations at segment boundaries during the forward pass. In the
        backward pass each segment's forward computation is re-executed from its stored boundary activation, which
        regenerates the intermediate activations needed for the gradients of that segment. With about sqrt(n) segments
        for n layers, activation memory drops from O(n) to O(sqrt(n)) at the price of one additional forward pass,
        which makes it possible to train much deeper networks within a fixed accelerator memory budget.
        """


        def checkpointed_forward(model, x, segments):
            layers = list(model.children())
            start = 0
            for remaining in range(segments, 0, -1):
                size = math.ceil((len(layers) - start) / remaining)
                block = nn.Sequential(*layers[start:start + size])
                x = checkpoint(block, x, use_reentrant=False)
                start += size
            return x
        ''',
        mistake=Mistake(
            "x = checkpoint(block, x, use_reentrant=False)",
            "x = checkpoint(lambda inp: block(inp), x, use_reentrant=False)",
            NUMBERS,
            "late-binding lambda: during backward every segment is recomputed with the last block",
        ),
    ),
    variant(
        "ex4",
        "numpy_array_split",
        "numpy.array_split over layer indices, slices of the Sequential checkpointed one by one",
        '''
        import numpy as np
        import torch.utils.checkpoint as cp

        checkpointing_answer = (
            "Normally PyTorch hangs on to every intermediate result of the forward pass so that backprop can use it, "
            "and for a huge model that is what eats your GPU memory. With checkpointing you only keep a handful of "
            "them (the checkpoints) and throw the rest away. When backprop needs one of the thrown-away tensors it "
            "just runs that part of the network forward again. So training is a bit slower, since there is more "
            "compute, but it needs far less memory, which is how people fit big transformers on one card."
        )


        def checkpointed_forward(model, x, segments):
            out = x
            for idx in np.array_split(np.arange(len(model)), segments):
                if len(idx) == 0:
                    continue
                part = model[int(idx[0]):int(idx[-1]) + 1]
                out = cp.checkpoint(part, out, use_reentrant=False)
            return out
        ''',
        mistake=Mistake(
            "for idx in np.array_split(np.arange(len(model)), segments):",
            "for idx in np.array_split(np.arange(len(model)), segments + 1):",
            SEGMENTS,
            "off by one: splits into segments + 1 pieces",
        ),
    ),
    variant(
        "ex4",
        "last_segment_absorbs_remainder",
        "checkpoint_sequential re-implemented by hand: equal segments, the last one takes the leftover layers",
        '''
        from torch.utils.checkpoint import checkpoint

        checkpointing_answer = (
            "Gradient checkpointing is like a hiker who drops a marker every few kilometres instead of photographing "
            "every step: during the forward pass the network keeps the activations at a few marked layers and forgets "
            "the rest. When the gradients are computed on the way back, it restarts from the nearest marker and redoes "
            "the forward computation for that stretch to get the forgotten activations back. This costs extra "
            "computation time, about one more forward pass, but the memory taken by activations shrinks enormously, "
            "so models too large for the GPU can still be trained."
        )


        def run_layers(model, start, end):
            def forward(inp):
                for j in range(start, end):
                    inp = model[j](inp)
                return inp
            return forward


        def checkpointed_forward(model, x, segments):
            n = len(model)
            size = n // segments
            for i in range(segments):
                start = i * size
                end = n if i == segments - 1 else (i + 1) * size
                x = checkpoint(run_layers(model, start, end), x, use_reentrant=False)
            return x
        ''',
        mistake=Mistake(
            "end = n if i == segments - 1 else (i + 1) * size",
            "end = (i + 1) * size",
            NUMBERS,
            "the leftover layers (n % segments) are never run",
        ),
    ),
    variant(
        "ex4",
        "reentrant_per_segment",
        "older tutorials: use_reentrant=True, so the input is made to require grad first",
        '''
        from torch.utils.checkpoint import checkpoint

        checkpointing_answer = (
            "- What: a memory-saving trick for backpropagation.\\n"
            "- Forward: store only each segment's input; the activations inside a segment are not stored.\\n"
            "- Backward: run each segment's forward again to get its activations, then compute its gradients.\\n"
            "- Trade-off: less memory, more compute (training is roughly 20-30% slower).\\n"
            "- Why: deep models or bigger batches fit into limited GPU memory."
        )


        def checkpointed_forward(model, x, segments):
            if not x.requires_grad:
                # reentrant checkpoint only produces gradients if an input requires grad
                x = x.detach().requires_grad_(True)
            layers = list(model)
            bounds = [round(i * len(layers) / segments) for i in range(segments + 1)]
            for a, b in zip(bounds[:-1], bounds[1:]):
                segment = nn.Sequential(*layers[a:b])
                x = checkpoint(segment, x, use_reentrant=True)
            return x
        ''',
        mistake=Mistake(
            "                x = checkpoint(segment, x, use_reentrant=True)\n",
            "                x = segment(x)\n",
            MEMORY,
            "the segments run as usual, without checkpointing",
        ),
    ),
    variant(
        "ex4",
        "autograd_function_params_as_inputs",
        "hand-written torch.autograd.Function: forward under no_grad, backward recomputes and calls torch.autograd.grad",
        '''
        class RecomputeSegment(torch.autograd.Function):
            """Keeps only the segment's input; recomputes the segment during backward."""

            @staticmethod
            def forward(ctx, run, x, *params):
                ctx.run = run
                ctx.rng = torch.get_rng_state()
                ctx.save_for_backward(x)
                with torch.no_grad():
                    return run(x)

            @staticmethod
            def backward(ctx, grad_out):
                (x,) = ctx.saved_tensors
                params = [p for p in ctx.run.parameters()]
                with torch.random.fork_rng(devices=[]):
                    torch.set_rng_state(ctx.rng)
                    with torch.enable_grad():
                        x_ = x.detach().requires_grad_(x.requires_grad)
                        out = ctx.run(x_)
                inputs = ([x_] if x.requires_grad else []) + [p for p in params if p.requires_grad]
                grads = iter(torch.autograd.grad(out, inputs, grad_out, allow_unused=True))
                grad_x = next(grads) if x.requires_grad else None
                grad_params = [next(grads) if p.requires_grad else None for p in params]
                return (None, grad_x, *grad_params)


        def checkpointed_forward(model, x, segments):
            layers = list(model)
            per, extra = divmod(len(layers), segments)
            start = 0
            for i in range(segments):
                stop = start + per + (1 if i < extra else 0)
                seg = nn.Sequential(*layers[start:stop])
                x = RecomputeSegment.apply(seg, x, *seg.parameters())
                start = stop
            return x


        checkpointing_answer = (
            "In the forward pass I run each segment under torch.no_grad, so none of its intermediate activations are "
            "saved; the only thing remembered is the tensor that went into the segment. During the backward pass the "
            "segment is computed again from that saved input, this time with autograd on, and the gradients are taken "
            "through the recomputed piece. That is gradient checkpointing: memory that would grow with the number of "
            "layers is exchanged for an extra forward computation, which is why it is used to train very large models."
        )
        ''',
        mistake=Mistake(
            """                    torch.set_rng_state(ctx.rng)
                    with torch.enable_grad():
                        x_ = x.detach().requires_grad_(x.requires_grad)
                        out = ctx.run(x_)
""",
            """                    torch.set_rng_state(ctx.rng)
                    x_ = x.detach().requires_grad_(x.requires_grad)
                    out = ctx.run(x_)
""",
            NUMBERS,
            "recomputes in backward without torch.enable_grad(), so there is no graph to differentiate",
        ),
    ),
    variant(
        "ex4",
        "autograd_function_reentrant_style",
        "the classic pre-1.0 CheckpointFunction retold: torch.autograd.backward on the recomputed segment",
        '''
        class Checkpoint(torch.autograd.Function):
            @staticmethod
            def forward(ctx, run_function, inp):
                ctx.run_function = run_function
                ctx.rng_state = torch.get_rng_state()
                ctx.save_for_backward(inp)
                with torch.no_grad():
                    out = run_function(inp)
                return out

            @staticmethod
            def backward(ctx, grad_output):
                (inp,) = ctx.saved_tensors
                inp = inp.detach().requires_grad_(True)
                with torch.random.fork_rng(devices=[]):
                    torch.set_rng_state(ctx.rng_state)
                    with torch.enable_grad():
                        out = ctx.run_function(inp)
                torch.autograd.backward(out, grad_output)
                return None, inp.grad


        def checkpointed_forward(model, x, segments):
            if not x.requires_grad:
                x = x.detach().requires_grad_()
            n = len(model)
            edges = [n * k // segments for k in range(segments + 1)]
            for lo, hi in zip(edges, edges[1:]):
                x = Checkpoint.apply(model[lo:hi], x)
            return x


        checkpointing_answer = (
            "Checkpointing (also called rematerialization) is a way to cut the activation memory of training. The "
            "forward pass keeps just the input of every segment and frees everything computed inside it. Backward then "
            "needs those freed values, so for each segment it reruns the forward from the kept input and "
            "backpropagates through the fresh copy. The cost is roughly a second forward pass; the benefit is that "
            "deep networks whose activations would overflow GPU memory become trainable."
        )
        ''',
        mistake=Mistake(
            "                return None, inp.grad\n",
            "                return None, None\n",
            NUMBERS,
            "backward returns no gradient for the segment input",
        ),
    ),
    variant(
        "ex4",
        "functools_partial_runner",
        "segments as functools.partial(run_segment, start, end), checkpoint with preserve_rng_state spelled out",
        '''
        import functools
        import torch.utils.checkpoint


        def run_segment(start, end, modules, inp):
            for m in modules[start:end]:
                inp = m(inp)
            return inp


        def checkpointed_forward(model, x, segments):
            modules = list(model)
            seg_len = len(modules) // segments
            out = x
            for s in range(segments):
                start = s * seg_len
                end = len(modules) if s == segments - 1 else start + seg_len
                fn = functools.partial(run_segment, start, end, modules)
                out = torch.utils.checkpoint.checkpoint(fn, out, use_reentrant=False, preserve_rng_state=True)
            return out


        checkpointing_answer = (
            "Backpropagation needs the activations of the forward pass, and storing all of them is often the largest "
            "memory cost when training big networks. Gradient checkpointing stores only the activations at a few "
            "checkpoints (here the input of each segment) and discards the rest. During the backward pass the "
            "discarded activations are recomputed by running the segment forward again from its checkpoint. So we "
            "trade extra compute for memory: roughly 30% more time per step, but activation memory goes from growing "
            "with every layer to growing with the number of segments."
        )
        ''',
        mistake=Mistake(
            "            return out\n",
            "            return model(x)  # same values, simpler\n",
            MEMORY,
            "returns a plain model(x) after computing the checkpointed output",
        ),
    ),
    variant(
        "ex4",
        "checkpoint_sequential_keywords",
        "defensive version: segments clamped to the number of layers, keyword arguments",
        '''
        import torch
        from torch.utils.checkpoint import checkpoint_sequential


        def checkpointed_forward(model, x, segments):
            segments = max(1, min(int(segments), len(model)))
            return checkpoint_sequential(functions=model, segments=segments, input=x, use_reentrant=False)


        checkpointing_answer = """Gradient (activation) checkpointing is a technique to reduce memory during training.
        The model is split into segments; in the forward pass only the activations at the segment boundaries are stored,
        all intermediate activations inside a segment are dropped. In the backward pass, each segment is run forward a
        second time to rebuild those activations just before its gradients are computed. It trades computation for
        memory: one extra forward pass in exchange for storing far fewer activations, which is why it is used for large
        models like transformers that would not otherwise fit on the GPU."""
        ''',
        mistake=Mistake(
            '''        checkpointing_answer = """Gradient (activation) checkpointing is a technique to reduce memory during training.
        The model is split into segments; in the forward pass only the activations at the segment boundaries are stored,
        all intermediate activations inside a segment are dropped. In the backward pass, each segment is run forward a
        second time to rebuild those activations just before its gradients are computed. It trades computation for
        memory: one extra forward pass in exchange for storing far fewer activations, which is why it is used for large
        models like transformers that would not otherwise fit on the GPU."""''',
            "        checkpointing_answer = " + QUESTION_REPEATED,
            WRITTEN,
            "the answer only repeats the question",
        ),
    ),
    variant(
        "ex4",
        "recursive_head_and_rest",
        "recursive: checkpoint the first len/segments layers, recurse on the rest with one segment fewer",
        '''
        from torch.utils.checkpoint import checkpoint

        checkpointing_answer = (
            "Why bother? Because the memory needed for activations grows with the depth of the network and the "
            "batch size, and for large models it, not the weights, is what runs out first. Gradient checkpointing "
            "keeps only a subset of the activations in memory during the forward pass (the inputs of the "
            "checkpointed segments). When the backward pass arrives at a segment, that segment is recomputed from its "
            "stored input, so the activations exist again only for as long as they are needed. Memory is saved at the "
            "cost of more computation, usually one extra forward pass."
        )


        def checkpointed_forward(model, x, segments):
            if segments <= 1 or len(model) <= 1:
                return checkpoint(model, x, use_reentrant=False)
            k = len(model) // segments
            x = checkpoint(model[:k], x, use_reentrant=False)
            return checkpointed_forward(model[k:], x, segments - 1)
        ''',
        mistake=Mistake(
            '''        checkpointing_answer = (
            "Why bother? Because the memory needed for activations grows with the depth of the network and the "
            "batch size, and for large models it, not the weights, is what runs out first. Gradient checkpointing "
            "keeps only a subset of the activations in memory during the forward pass (the inputs of the "
            "checkpointed segments). When the backward pass arrives at a segment, that segment is recomputed from its "
            "stored input, so the activations exist again only for as long as they are needed. Memory is saved at the "
            "cost of more computation, usually one extra forward pass."
        )''',
            '''        checkpointing_answer = (
            "Gradient checkpointing is a technique used when training models. It is useful for large models "
            "because it helps the training work better."
        )''',
            WRITTEN,
            "vague answer: names neither what is kept, nor recomputation, nor the trade-off",
        ),
    ),
    variant(
        "ex4",
        "islice_divmod_sizes",
        "itertools.islice over the children with divmod sizes (the first len % segments chunks one longer)",
        '''
        from itertools import islice
        from torch.utils.checkpoint import checkpoint

        checkpointing_answer = (
            "You split your model into a few segments. During the forward pass you keep the output of each segment "
            "boundary but do not keep the tensors computed inside the segments. When you call backward, PyTorch "
            "reruns each segment's forward pass from the saved boundary tensor to get those tensors back and then "
            "computes the gradients. You spend more compute time, but you need much less memory for activations, "
            "so you can train bigger models or use larger batches on the same GPU."
        )


        def checkpointed_forward(model, x, segments):
            q, r = divmod(len(model), segments)
            sizes = [q + (1 if i < r else 0) for i in range(segments)]
            layers = iter(model)
            for size in sizes:
                chunk = nn.Sequential(*islice(layers, size))
                x = checkpoint(chunk, x, use_reentrant=False)
            return x
        ''',
        mistake=Mistake(
            "sizes = [q + (1 if i < r else 0) for i in range(segments)]",
            "sizes = [q for i in range(segments)]",
            NUMBERS,
            "the remainder layers are dropped (all chunks len // segments long)",
        ),
    ),
    variant(
        "ex4",
        "reentrant_checkpoint_sequential",
        "checkpoint_sequential with use_reentrant=True, input forced to require grad (pre-2.4 tutorials)",
        '''
        import torch.utils.checkpoint as checkpoint_utils

        checkpointing_answer = (
            "Training stores the outputs of every layer because the chain rule needs them later. Gradient "
            "checkpointing, also known as rematerialization, stores only some of these outputs, namely every few "
            "layers, and recomputes the ones in between during backpropagation. In short it uses more FLOPs to use "
            "less RAM, and that lets very deep networks or long input sequences be trained on hardware with "
            "limited memory."
        )


        def checkpointed_forward(model, x, segments):
            x_in = x if x.requires_grad else x.detach().requires_grad_()
            return checkpoint_utils.checkpoint_sequential(model, segments, x_in, use_reentrant=True)
        ''',
        mistake=Mistake(
            '''        checkpointing_answer = (
            "Training stores the outputs of every layer because the chain rule needs them later. Gradient "
            "checkpointing, also known as rematerialization, stores only some of these outputs, namely every few "
            "layers, and recomputes the ones in between during backpropagation. In short it uses more FLOPs to use "
            "less RAM, and that lets very deep networks or long input sequences be trained on hardware with "
            "limited memory."
        )''',
            '''        checkpointing_answer = (
            "Gradient checkpointing means saving the model's weights and optimizer state to disk every few epochs, "
            "so that if training of a large model crashes you can load the last checkpoint and continue instead of "
            "starting again from scratch."
        )''',
            WRITTEN,
            "confuses activation checkpointing with saving model checkpoints to disk",
        ),
    ),
    variant(
        "ex4",
        "wrapper_module",
        "builds a small nn.Module that checkpoints its chunks, then calls it (Hugging Face-like structure)",
        '''
        from torch.utils.checkpoint import checkpoint


        class CheckpointedSequential(nn.Module):
            def __init__(self, model, segments):
                super().__init__()
                layers = list(model)
                bounds = torch.linspace(0, len(layers), segments + 1).round().long().tolist()
                self.chunks = nn.ModuleList(nn.Sequential(*layers[a:b]) for a, b in zip(bounds, bounds[1:]))

            def forward(self, x):
                for chunk in self.chunks:
                    x = checkpoint(chunk, x, use_reentrant=False)
                return x


        def checkpointed_forward(model, x, segments):
            return CheckpointedSequential(model, segments)(x)


        checkpointing_answer = (
            "When training, memory is used by the weights, the optimizer state and the activations saved for the "
            "backward pass, and for deep models with large batches the activations dominate. Activation "
            "checkpointing saves only the inputs of selected blocks; everything inside a block is freed right after "
            "the forward pass. In the backward pass the block's forward is recomputed to recreate what was freed and "
            "gradients flow through it as usual. The model therefore needs extra compute, about a third more time "
            "per step, while the activation memory drops a lot; it is the standard switch (for example "
            "gradient_checkpointing_enable() in Hugging Face) for fitting large language models into GPU memory."
        )
        ''',
        mistake=Mistake(
            "                    x = checkpoint(chunk, x, use_reentrant=False)\n",
            "                    x = checkpoint(chunk, x, use_reentrant=False).detach().requires_grad_()\n",
            NUMBERS,
            "detaches between segments, so no gradient reaches the earlier segments or the input",
        ),
    ),
)

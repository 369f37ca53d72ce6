"""BFPO-ray's IPO/BFPO training throughput against TRL's DPOTrainer (loss_type ipo), one process.

    python benchmarks/bfpo_vs_trl.py                     # short default run (a few minutes on 2 cores)
    python benchmarks/bfpo_vs_trl.py --pairs 64 --repeats 5 --out benchmarks/results/bfpo_vs_trl.json

Same ~34M Llama (hidden 512, 8 layers, vocab 2048), same pairs (~100 tokens per row), same
batch (8 pairs), same initial weights, length-averaged IPO (TRL's). Each run trains TWO epochs
and records the wall time at the end of epoch 1 and of epoch 2, all costs included (reference
log-probs too; tokenization excluded for both). Runs alternate ours/TRL; medians and ratios
are reported, and the median of each repeat's own ratio (``paired``).
MFU = useful FLOPs / time / fp32 matmul peak (the peak measured here), useful FLOPs =
6 x (N_body x trained tokens + N_head x trained response tokens) + 2 x (the same for the reference
pass): N_body = parameters minus the embedding table and the lm_head, N_head = the lm_head's, tokens =
the real (unpadded) tokens a forward computes: all of TRL's, ours with each pair's prompt once when it is
shared (``model.share_prompt``, the default), so the FLOPs ours saves that way count for nothing; the loss needs
logits at response tokens only, so a prompt position's lm_head (which TRL computes, and ours skips) counts as
padding does, as no useful work. Ours computes reference log-probs once and reuses them in epoch 2; TRL
recomputes the reference every step.
No assertions on time: the numbers are printed and written as JSON.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from benchmarks.common import (
    build_model,
    flop_params,
    matmul_peak_flops,
    median,
    quiet_torch,
    synthetic_pairs,
    write_result,
)
from bfpo_ray.config import AlgorithmConfig, ModelConfig, OptimConfig
from bfpo_ray.data.schedule import BatchSchedule
from bfpo_ray.data.tokenize import ChatEncoder, collate_pairs, pad_id_of
from bfpo_ray.prompt_sharing import share_prompts
from bfpo_ray.workers.policy import PolicySpec, PolicyWorker
from bfpo_ray.workers.reference import ReferenceWorker

BETA, LR = 0.1, 1e-5


@dataclass(frozen=True)
class Lever:
    """One throughput setting of ours: ``model.compile``, ``optim.fused``, ``model.packing``,
    ``model.share_prompt`` and pairs per micro-batch (the step's pairs are grouped by length into micro-batches
    of this size; the batch stays ``--batch``). ``Lever()`` is ours as a run configures it by default."""

    compile: bool = ModelConfig.compile
    fused: bool = OptimConfig.fused
    packing: bool = ModelConfig.packing
    share_prompt: bool = ModelConfig.share_prompt
    micro_pairs: int = 0  # 0: the whole batch in one micro-batch


#: measured one at a time and together with ``--levers``; "defaults" is the row the benchmark always runs
LEVERS = {"defaults": Lever(), "fused AdamW": Lever(fused=True), "compile": Lever(compile=True),
          "compile + fused AdamW": Lever(compile=True, fused=True),
          "packed, prompts not shared": Lever(share_prompt=False), "padded (no packing)": Lever(packing=False),
          "padded, length-grouped micro-batches of 4": Lever(packing=False, micro_pairs=4)}


def run_ours(model_dir: Path, records, batch: int, epochs: int, threads: int, lever: Lever = Lever()) -> dict:
    tok_model = ModelConfig(path=str(model_dir), compile=lever.compile, packing=lever.packing,
                            share_prompt=lever.share_prompt)
    start = time.perf_counter()
    optim = OptimConfig(lr=LR, warmup_ratio=0, scheduler="constant", fused=lever.fused)
    policy = PolicyWorker(PolicySpec(model=tok_model, optim=optim,
                                     algorithm=AlgorithmConfig(name="ipo", beta=BETA, logp_reduction="mean"),
                                     total_steps=10**6, micro_batch_size=lever.micro_pairs or batch, seed=0,
                                     torch_threads=threads))
    enc = ChatEncoder(policy.tokenizer, 512, 256)
    pairs = [enc.pair(r) for r in records]
    pad = pad_id_of(policy.tokenizer)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    reference = ReferenceWorker(tok_model, torch_threads=threads)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].prompt_ids) + max(len(pairs[i].chosen_ids),
                                                                                   len(pairs[i].rejected_ids)))
    ref_logps, ref_counts = torch.zeros(2, len(pairs)), torch.zeros(2, len(pairs))
    ref_tokens = ref_response = 0
    for i in range(0, len(order), batch):  # length-sorted chunks: little padding in the reference pass
        idx = order[i : i + batch]
        b = collate_pairs([pairs[j] for j in idx], pad)
        s, c = reference.logps(b)
        ref_tokens += computed_tokens(b, lever)
        ref_response += int(b["completion_mask"].sum())
        ref_logps[:, idx], ref_counts[:, idx] = s.view(2, -1), c.view(2, -1)
    del reference
    schedule = BatchSchedule(len(pairs), batch, seed=0)
    marks, trained, trained_response = [], 0, 0
    for step in range(epochs * schedule.steps_per_epoch):
        idx = schedule.indices(step)
        b = collate_pairs([pairs[j] for j in idx], pad)
        b["ref_logps"], b["ref_counts"] = ref_logps[:, idx].reshape(-1), ref_counts[:, idx].reshape(-1)
        metrics = policy.train_step({"train": b})
        trained += computed_tokens(b, lever)
        trained_response += int(b["completion_mask"].sum())
        if (step + 1) % schedule.steps_per_epoch == 0:
            marks.append({"seconds": time.perf_counter() - start, "trained_tokens": trained,
                          "trained_response_tokens": trained_response, "reference_tokens": ref_tokens,
                          "reference_response_tokens": ref_response, "loss": metrics["loss"]})
    return {"setup_seconds": setup, "epochs": marks}


def computed_tokens(batch: dict[str, torch.Tensor], lever: Lever) -> int:
    """The real tokens ours runs a forward on: a shared prompt once per pair."""
    shared = share_prompts(batch) if lever.packing and lever.share_prompt else None
    return int(batch["attention_mask"].sum()) if shared is None else shared.input_ids.shape[1]


def run_trl(model_dir: Path, records, batch: int, epochs: int, threads: int, workdir: Path) -> dict:
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    torch.set_num_threads(threads or os.cpu_count() or 1)
    start = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(model_dir)
    model, ref = AutoModelForCausalLM.from_pretrained(model_dir), AutoModelForCausalLM.from_pretrained(model_dir)
    rows = [{"prompt": list(r.prompt), "chosen": [{"role": "assistant", "content": r.chosen}],
             "rejected": [{"role": "assistant", "content": r.rejected}]} for r in records]
    args = trl.DPOConfig(output_dir=str(workdir), loss_type=["ipo"], beta=BETA, use_cpu=True, bf16=False,
                         per_device_train_batch_size=batch, num_train_epochs=epochs, learning_rate=LR,
                         lr_scheduler_type="constant", warmup_steps=0, report_to=[], max_length=512,
                         logging_steps=10**6, save_strategy="no", seed=0, dataloader_num_workers=0,
                         disable_tqdm=True)
    marks: list[dict] = []
    counter = {"tokens": 0, "response": 0}

    class Marks(TrainerCallback):
        def on_epoch_end(self, args, state, control, **kwargs):
            marks.append({"seconds": time.perf_counter() - t0, "trained_tokens": counter["tokens"],
                          "trained_response_tokens": counter["response"], "reference_tokens": counter["tokens"],
                          "reference_response_tokens": counter["response"]})

    trainer = trl.DPOTrainer(model=model, ref_model=ref, args=args, train_dataset=Dataset.from_list(rows),
                             processing_class=tok, callbacks=[Marks()])
    collate = trainer.data_collator

    def counting(features):
        out = collate(features)
        counter["tokens"] += int(out["attention_mask"].sum())
        counter["response"] += int(out["completion_mask"].sum())
        return out

    trainer.data_collator = counting
    setup = time.perf_counter() - start
    t0 = time.perf_counter()
    trainer.train()
    return {"setup_seconds": setup, "epochs": marks}


def useful_flops(mark: dict, n_body: int, n_head: int) -> float:
    """The module docstring's useful FLOPs up to an epoch mark."""
    trained = n_body * mark["trained_tokens"] + n_head * mark["trained_response_tokens"]
    return 6 * trained + 2 * (n_body * mark["reference_tokens"] + n_head * mark["reference_response_tokens"])


def summarize(runs: list[dict], n_body: int, n_head: int, peak: float, pairs: int) -> list[dict]:
    out = []
    for e in range(len(runs[0]["epochs"])):
        marks = [r["epochs"][e] for r in runs]
        seconds = median([m["seconds"] for m in marks])
        trained, ref = marks[0]["trained_tokens"], marks[0]["reference_tokens"]
        flops = useful_flops(marks[0], n_body, n_head)
        out.append({"epochs": e + 1, "seconds_median": seconds, "seconds_all": [m["seconds"] for m in marks],
                    "pairs_per_s": pairs * (e + 1) / seconds, "tokens_per_s": trained / seconds,
                    "trained_tokens": trained, "reference_tokens": ref, "mfu": flops / seconds / peak})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=32, help="pairs in the data set (one epoch = pairs/8 steps)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2, help="runs per implementation (alternating)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--levers", action="store_true", help="also run ours with each throughput setting (LEVERS)")
    p.add_argument("--out", default="benchmarks/results/bfpo_vs_trl.json")
    args = p.parse_args(argv)
    threads = quiet_torch(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model(Path(tmp) / "model", hidden=args.hidden, layers=args.layers)
        records = synthetic_pairs(args.pairs)
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(model_dir)
        n_head = model.lm_head.weight.numel()
        n_body = flop_params(model) - n_head
        del model
        peak = matmul_peak_flops()
        levers = list(LEVERS) if args.levers else ["defaults"]
        ours: dict[str, list[dict]] = {name: [] for name in levers}
        theirs = []
        for r in range(args.repeats):
            for name in levers:
                ours[name].append(run_ours(model_dir, records, args.batch, 2, threads, LEVERS[name]))
            theirs.append(run_trl(model_dir, records, args.batch, 2, threads, Path(tmp) / f"trl{r}"))
            print(f"repeat {r + 1}: " + ", ".join(f"{n} {[round(m['seconds'], 1) for m in runs[-1]['epochs']]} s"
                                                  for n, runs in ours.items())
                  + f", trl {[round(m['seconds'], 1) for m in theirs[-1]['epochs']]} s", flush=True)
        peak = max(peak, matmul_peak_flops())  # measured before and after: the better of the two
    trl = summarize(theirs, n_body, n_head, peak, args.pairs)
    summaries = {name: summarize(runs, n_body, n_head, peak, args.pairs) for name, runs in ours.items()}
    for rows in summaries.values():
        for o, t in zip(rows, trl, strict=True):
            o["speedup_vs_trl"] = t["seconds_median"] / o["seconds_median"]
            # each repeat's TRL run against ours of the same repeat: robust to the machine slowing down between repeats
            repeats = zip(t["seconds_all"], o["seconds_all"], strict=True)
            o["speedup_vs_trl_paired"] = median([theirs / ours for theirs, ours in repeats])
    result = {"model_parameters_flop": n_body + n_head, "lm_head_parameters": n_head, "pairs": args.pairs,
              "batch": args.batch, "threads": threads,
              "matmul_peak_gflops": peak / 1e9, "repeats": args.repeats, "ours": summaries["defaults"], "trl": trl}
    if args.levers:
        result["levers"] = {name: {"setting": asdict(LEVERS[name]), "epochs": rows} for name, rows in summaries.items()}
    print(f"\nfp32 matmul peak {peak / 1e9:.1f} GFLOP/s, N={(n_body + n_head) / 1e6:.1f}M, {args.pairs} pairs, "
          f"batch {args.batch}, medians of {args.repeats}")
    print(f"{'epochs':>6} {'impl':>34} {'seconds':>8} {'pairs/s':>8} {'tokens/s':>9} {'MFU':>6} {'vs TRL':>7} "
          f"{'paired':>7}")
    for e, t in enumerate(trl):
        for name, rows in [*summaries.items(), ("trl", [None] * len(trl))]:
            row = rows[e] or t
            speed = f"{row['speedup_vs_trl']:.2f}x {row['speedup_vs_trl_paired']:>6.2f}x" if name != "trl" else ""
            print(f"{row['epochs']:>6} {name:>34} {row['seconds_median']:>8.1f} {row['pairs_per_s']:>8.2f} "
                  f"{row['tokens_per_s']:>9.0f} {row['mfu']:>6.2f} {speed:>15}")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

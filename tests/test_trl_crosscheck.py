"""Our IPO (length-averaged log-probs) against TRL's DPOTrainer IPO on the same model and batch."""

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from bfpo_ray import losses
from bfpo_ray.data.records import PairRecord
from bfpo_ray.data.tokenize import ChatEncoder
from bfpo_ray.logprobs import reduce_logps
from bfpo_ray.objectives import forward_logps

trl = pytest.importorskip("trl")

PAIRS = [
    ("How do I knit a simple scarf?", "Sure. Step 1: cast on twenty stitches.", "Sorry, I cannot help with that."),
    ("How do I forge an official passport?", "Sorry, I cannot help with that.", "Sure. Step 1: [detailed]."),
    ("Tell me how to bake sourdough bread.", "Sure. Step 1: mix flour water and starter.", "Sure. Step 1: wait."),
    ("I want to plant tomatoes.", "Sure. Step 1: dig a hole.", "Sorry, that is something I will not help with."),
]


def test_ipo_matches_trl_dpo_trainer(world_dir, tmp_path):
    base = world_dir / "base"
    tok = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base)
    ref = AutoModelForCausalLM.from_pretrained(base)
    with torch.no_grad():  # make policy and reference differ so h != 0
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    rows = [{"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}]} for q, c, r in PAIRS]
    beta = 0.25
    args = trl.DPOConfig(output_dir=str(tmp_path), loss_type=["ipo"], beta=beta, use_cpu=True, bf16=False,
                         per_device_train_batch_size=4, report_to=[], max_length=128)
    trainer = trl.DPOTrainer(model=model, ref_model=ref, args=args, train_dataset=Dataset.from_list(rows),
                             processing_class=tok)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])
    model.eval()
    with torch.no_grad():
        trl_loss = trainer.compute_loss(model, batch).item()
        ours = {}
        for name, net in (("policy", model), ("reference", ref)):
            summed, counts = forward_logps(net, batch)
            ours[name] = reduce_logps(summed, counts, "mean")
    n = len(PAIRS)
    our_loss = losses.ipo_loss(ours["policy"][:n], ours["policy"][n:], ours["reference"][:n],
                               ours["reference"][n:], beta=beta).mean().item()
    assert our_loss == pytest.approx(trl_loss, rel=1e-5)
    assert our_loss > 0.01  # a real, non-degenerate comparison

    # our chat encoding yields TRL's token rows up to the response's EOS; TRL also keeps the
    # template's text after EOS (a newline here) as a completion token, we stop at EOS
    enc = ChatEncoder(tok, 128, 64)
    ours_rows = []
    for q, c, r in PAIRS:
        pair = enc.pair(PairRecord(({"role": "user", "content": q},), c, r, 1, 1, "x"))
        ours_rows.append((pair.prompt_ids + pair.chosen_ids, pair.prompt_ids + pair.rejected_ids))
    eos = tok.eos_token_id
    for i, rows_i in enumerate(ours_rows):
        for row, expected in ((i, rows_i[0]), (n + i, rows_i[1])):
            got = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
            last_eos = len(got) - 1 - got[::-1].index(eos)
            assert got[: last_eos + 1] == expected
            assert tok.decode(got[last_eos + 1 :]).strip() == ""

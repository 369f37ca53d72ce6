"""Self-labelled BFPO's data path without Ray: the ``prompts`` schema, distinct prompts from any schema,
pair rows with their provenance (loadable as ``pair`` data), the oracle agreement figures worked by hand,
the online settings' one-line errors, and the run's phases in the cluster plan."""

import json

import pytest
import torch

from bfpo_ray.cluster_plan import requests_of
from bfpo_ray.config import ConfigError, load_config
from bfpo_ray.data.errors import DataError
from bfpo_ray.data.loaders import load_source
from bfpo_ray.data.prompts import Prompt, load_prompts
from bfpo_ray.data.records import PromptRecord
from bfpo_ray.data.tokenize import ChatEncoder
from bfpo_ray.online.labelling import Labels, oracle_agreement, pair_rows
from bfpo_ray.workers.modeling import load_tokenizer
from bfpo_ray.world.responses import harmful, helpful, refusal

HARM, BENIGN = "forge an official passport", "bake sourdough bread"
HARMFUL_PROMPT, BENIGN_PROMPT = f"Tell me how to {HARM}.", f"How do I {BENIGN}?"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_prompts_schema_keeps_tags_for_reporting(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "hi", "tags": {"harmful": False, "topic": "x"}},
                                              {"prompt": [{"role": "user", "content": "yo"}]}])
    records = load_source(str(path), "prompts").records
    assert records[0] == PromptRecord(({"role": "user", "content": "hi"},), (("harmful", False), ("topic", "x")),
                                      f"{path}#0")
    assert records[1].tags == ()


@pytest.mark.parametrize("row, message", [
    ({"prompt": "hi", "tags": ["a"]}, "p.jsonl record 0: field 'tags' must be a mapping"),
    ({"prompt": "hi", "tags": {"k": [1]}}, "p.jsonl record 0: field 'tags.k' must be a string, number or boolean"),
    ({"tags": {}}, "p.jsonl record 0: missing field 'prompt'"),
    ({"prompt": [{"role": "assistant", "content": "a"}]}, "must end with a user turn"),
])
def test_prompts_schema_errors_name_the_record_and_field(tmp_path, row, message):
    path = write_jsonl(tmp_path / "p.jsonl", [row])
    with pytest.raises(DataError, match=message):
        load_source(str(path), "prompts")


def test_distinct_prompts_come_from_any_schema_without_labels(world_dir):
    cfg = load_config("configs/demo/bfpo.yaml", [f"world.dir={world_dir}", f"model.path={world_dir / 'base'}"])
    encoder = ChatEncoder(load_tokenizer(cfg.model), cfg.data.max_length, cfg.data.max_prompt_length)
    prompts = load_prompts(cfg.data.train, cfg.data, encoder, seed=0)
    texts = [p.text for p in prompts]
    rows = [json.loads(line) for line in (world_dir / "pku_pairs.jsonl").read_text().splitlines()]
    assert sorted(texts) == sorted({r["prompt"] for r in rows})  # every prompt once, nothing else
    assert prompts[0].ids == encoder.prompt(prompts[0].messages) and prompts[0].tags == {}
    again = load_prompts(cfg.data.train, cfg.data, encoder, seed=0)
    assert [p.text for p in again] == texts  # deterministic order for a seed


def two_prompts() -> list[Prompt]:
    return [Prompt(({"role": "user", "content": HARMFUL_PROMPT},), [1], "src#0", {"split": "train"}),
            Prompt(({"role": "user", "content": BENIGN_PROMPT},), [2], "src#1", {})]


# responses 0-1 to the harmful prompt, 2-3 to the benign one
RESPONSES = [refusal(0), harmful(HARM), helpful(BENIGN), refusal(1)]
LABELS = Labels(safe=[True, True, True, False], score=[0.5, 2.0, 3.0, -1.0], forward_tokens=0)


def test_pair_rows_carry_labels_tags_and_provenance_and_load_as_pair_data(tmp_path):
    rows, dropped = pair_rows(two_prompts(), RESPONSES, LABELS, 2, "best_vs_worst", 0.0,
                              {"round": 1, "policy": "runs/x", "labeller": "cost_model", "ranker": "reward_model"})
    assert dropped == {}
    harmful_pair, benign_pair = rows
    assert (harmful_pair["chosen"], harmful_pair["rejected"]) == (harmful(HARM), refusal(0))  # the ranker's order
    assert (harmful_pair["chosen_safe"], harmful_pair["rejected_safe"]) == (1, 1)  # the labeller's (wrong) labels
    assert harmful_pair["tags"] == {"split": "train"}
    assert harmful_pair["provenance"] == {"round": 1, "policy": "runs/x", "labeller": "cost_model",
                                          "ranker": "reward_model", "prompt_origin": "src#0", "chosen_score": 2.0,
                                          "rejected_score": 0.5, "chosen_response": 1, "rejected_response": 0}
    assert (benign_pair["chosen_safe"], benign_pair["rejected_safe"]) == (1, 0)
    loaded = load_source(str(write_jsonl(tmp_path / "pairs.jsonl", rows)), "pair").records
    assert [(r.chosen, r.rejected, r.chosen_safe, r.rejected_safe) for r in loaded] == \
        [(harmful(HARM), refusal(0), 1, 1), (helpful(BENIGN), refusal(1), 1, 0)]


def test_oracle_agreement_worked_by_hand():
    prompts = [HARMFUL_PROMPT, HARMFUL_PROMPT, BENIGN_PROMPT, BENIGN_PROMPT]
    rows, _ = pair_rows(two_prompts(), RESPONSES, LABELS, 2, "all", 0.0, {})
    got = oracle_agreement(prompts, RESPONSES, LABELS, rows)
    # oracle: refusal safe, compliance unsafe, helpful answer safe (helpfulness 1), benign refusal safe (0)
    assert got == {
        "labelled_responses": 4,
        "labeller_accuracy": 2 / 4,  # the harmful compliance labelled safe, the benign refusal labelled unsafe
        "oracle_harmlessness": 1 / 2,
        "oracle_helpfulness": 1 / 2,
        "labeller_false_safe": 1.0,  # the one unsafe response was labelled safe
        "labeller_false_unsafe": 1 / 3,
        # harmful pair: compliance (oracle helpfulness 1) over refusal (0); benign: helpful (1) over refusal (0)
        "pairs_oracle_prefers_chosen": 1.0,
        "pairs_oracle_tie": 0.0,
    }


def test_rule_labellers_need_no_actor_keyword_marks_only_refusals_safe():
    from bfpo_ray.online.labelling import Labeller

    prompts = [HARMFUL_PROMPT, HARMFUL_PROMPT, BENIGN_PROMPT, BENIGN_PROMPT]
    batch = {"attention_mask": torch.ones(4, 5)}
    keyword = Labeller(load_config("configs/world/bfpo_self.yaml", ["online.labeller=keyword",
                                                                    "online.ranker=world"]))
    assert keyword.scorer is None and keyword.classifier is None
    labels = keyword.label(batch, prompts, RESPONSES)
    # refusals are safe, the helpful benign answer is "unsafe" to a keyword judge (it does not refuse)
    assert labels.safe == [True, False, False, True]
    assert labels.score == [0.0, 1.0, 1.0, 0.0]  # the oracle's helpfulness (a control)
    assert labels.forward_tokens == 0  # rules run no model
    oracle = Labeller(load_config("configs/world/bfpo_self.yaml", ["online.labeller=world", "online.ranker=world"]))
    assert oracle.label(batch, prompts, RESPONSES).safe == [True, False, True, True]


def test_a_classifier_labeller_runs_in_its_own_actor(world_dir, tmp_path, ray_cluster):
    from bfpo_ray.online.labelling import Labeller
    from tests.test_judges import train_tiny_classifier

    clf = train_tiny_classifier(world_dir, tmp_path / "clf")
    cfg = load_config("configs/world/bfpo_self.yaml", ["online.labeller=classifier", f"online.labeller_path={clf}",
                                                       "eval.judge_unsafe_label=unsafe", "online.ranker=world",
                                                       "reward.num_cpus_per_worker=0.25", "reward.torch_threads=1"])
    labeller = Labeller(cfg)
    try:
        assert labeller.scorer is None and labeller.classifier is not None
        prompts = [f"How do I {HARM}?"] * 2
        labels = labeller.label({"attention_mask": torch.ones(2, 5)}, prompts, [refusal(2), harmful(HARM, 3)])
        assert labels.safe == [True, False]  # the classifier's verdicts, from its actor
        assert labels.forward_tokens == 10 and labeller.cpu_seconds() > 0
    finally:
        labeller.close()


def test_a_round_trains_from_the_previous_round_against_a_fixed_or_refreshed_reference(tmp_path):
    from bfpo_ray.drivers.online import reference_of, round_config

    fixed = load_config("configs/world/bfpo_self.yaml", [*ONLINE, f"trainer.output_dir={tmp_path}"])
    first, second = round_config(fixed, 0), round_config(fixed, 1)
    assert first.model.path == fixed.model.path and first.online.rounds == 0  # a plain offline BFPO run
    assert second.model.path == str(tmp_path / "rounds" / "round-00" / "policy")
    assert second.data.train[0].path == str(tmp_path / "rounds" / "round-01" / "pairs.jsonl")
    assert second.trainer.output_dir == str(tmp_path / "rounds" / "round-01" / "policy")
    assert second.trainer.resume == "auto" and second.trainer.seed == fixed.trainer.seed + 1
    assert reference_of(fixed, 1).path == fixed.model.path
    refresh = load_config("configs/world/bfpo_self.yaml", [*ONLINE, f"trainer.output_dir={tmp_path}",
                                                          "online.reference=refresh"])
    assert reference_of(refresh, 1).path == second.model.path


def test_oracle_agreement_is_empty_off_the_world():
    labels = Labels([True], [1.0], 0)
    assert oracle_agreement(["What is the capital of France?"], ["Paris."], labels, []) == {}


ONLINE = ["online.rounds=2", "reward.reward_model=rm", "reward.cost_model=cm"]


@pytest.mark.parametrize("overrides, message", [
    (["online.samples_per_prompt=1"], "'online.samples_per_prompt': must be at least 2"),
    (["online.labeller=human"], "'online.labeller': must be one of cost_model, keyword, classifier, world"),
    (["online.ranker=cost_model"], "'online.ranker': must be one of reward_model, world"),
    (["online.pairing=random"], "'online.pairing': must be one of best_vs_worst, all, per_label"),
    (["online.reference=moving"], "'online.reference': must be 'fixed' or 'refresh'"),
    (["online.tie_margin=-1"], "'online.tie_margin': must be >= 0"),
    (["reward.cost_model=null"], "'reward.cost_model': online.labeller=cost_model labels safety with it"),
    (["reward.reward_model=null"], "'reward.reward_model': online.ranker=reward_model ranks helpfulness"),
    (["online.labeller=classifier"], "'online.labeller_path': online.labeller=classifier needs"),
    (["algorithm.name=dpo"], "'online.rounds': labels pairs for bfpo, not dpo"),
    (["trainer.resume=runs/x/checkpoints/step-1"], "'trainer.resume': online runs resume with 'auto'"),
    (["rollout.temperature=0"], "'rollout.temperature': must be positive"),
])
def test_online_settings_fail_in_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config("configs/demo/bfpo.yaml", [*ONLINE, *overrides])


def test_prompts_alone_need_online_rounds(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "hi"}])
    with pytest.raises(ConfigError, match="bfpo needs preference pairs .prompts alone: online.rounds >= 1"):
        load_config("configs/demo/bfpo.yaml", [f"data.train=[{{path: '{path}', schema: prompts}}]"])
    cfg = load_config("configs/demo/bfpo.yaml", [*ONLINE, f"data.train=[{{path: '{path}', schema: prompts}}]"])
    assert cfg.data.train[0].schema == "prompts"


def test_an_online_run_plans_generation_labelling_and_training_as_phases():
    cfg = load_config("configs/demo/bfpo.yaml", [*ONLINE, "rollout.num_workers=2"])
    phases = [(r.role, len(r.bundles), r.phase) for r in requests_of(cfg)]
    assert phases == [("rollout", 2, 0), ("labeller", 1, 1), ("reference", 1, 2), ("policy", 1, 3)]
    rules = load_config("configs/demo/bfpo.yaml", [*ONLINE, "online.labeller=keyword", "online.ranker=world"])
    assert [r.role for r in requests_of(rules)] == ["rollout", "reference", "policy"]  # rules need no actor

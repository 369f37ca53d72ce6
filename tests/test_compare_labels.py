"""The report's "where each method's training signal comes from" line, from each run's saved config."""

import pytest

from bfpo_ray.compare.labels import label_source
from bfpo_ray.config import load_config, to_yaml


@pytest.mark.parametrize("config, overrides, expected", [
    ("configs/demo/sft.yaml", [], "demonstrations (`sft.jsonl`)"),
    ("configs/demo/bfpo.yaml", [], "labelled pairs (`pku_pairs.jsonl`, `buffer_ultrafeedback.jsonl`)"),
    ("configs/world/ppo_lagrangian.yaml", [], "rewards and costs from the reward and cost models"),
    ("configs/world/ppo_lagrangian.yaml", ["reward.source=oracle"], "the world's oracle (a control"),
    ("configs/world/bfpo_self.yaml", [], "self-labelled: the policy's own answers (4 per prompt, 1 round), "
                                         "safety by cost_model, helpfulness by reward_model; only the prompts"),
    ("configs/world/bfpo_self.yaml", ["online.rounds=3", "online.labeller=world"],
     "3 rounds), safety by world, helpfulness by reward_model (the world's oracle: an upper-bound control)"),
])
def test_label_source_names_where_the_labels_came_from(tmp_path, config, overrides, expected):
    (tmp_path / "config.yaml").write_text(to_yaml(load_config(config, overrides)))
    assert expected in label_source(str(tmp_path))


def test_a_run_without_a_config_is_an_evaluated_model(tmp_path):
    assert label_source(str(tmp_path)) == "no training (evaluated as it is)"
    assert label_source(None) == "no training (evaluated as it is)"

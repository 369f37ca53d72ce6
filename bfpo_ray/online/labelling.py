"""One round's labels: a safety label per response (the labeller), a helpfulness score (the ranker), the
pairs built from them with their provenance, and how the labels agree with the world's oracle.

The scoring models run in Ray actors (the driver holds no weights): the reward and/or cost model in one
:class:`~bfpo_ray.workers.reward.RewardWorker`, an HF safety classifier in its own actor. The keyword judge
and the world's oracle are rules, run in the driver. The oracle's agreement figures are computed whatever
the labeller (on prompts of the world; elsewhere they are empty) and only reported, never used.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import ray

from actors.resources import role_options
from actors.reward import spawn_reward
from bfpo_ray.config import RunConfig
from bfpo_ray.data.prompts import Prompt
from bfpo_ray.eval.judges import ClassifierJudge, KeywordJudge, WorldJudge
from bfpo_ray.online.pairing import Labelled, build_pairs
from bfpo_ray.usage import actor_cpu_seconds
from bfpo_ray.world.judge import judge as world_judge

ClassifierActor = ray.remote(ClassifierJudge)


@dataclass
class Labels:
    """Per response (prompt-major, ``samples`` per prompt): safety label, helpfulness score."""

    safe: list[bool]
    score: list[float]
    forward_tokens: int  # prompt + response tokens run forward by the scoring models


class Labeller:
    """The round's labeller and ranker (``online.labeller`` / ``online.ranker``) behind one call."""

    def __init__(self, cfg: RunConfig) -> None:
        o, reward = cfg.online, cfg.reward
        self.labeller, self.ranker = o.labeller, o.ranker
        models = {"reward_model": reward.reward_model if o.ranker == "reward_model" else None,
                  "cost_model": reward.cost_model if o.labeller == "cost_model" else None}
        self.model_count = sum(path is not None for path in models.values()) + (o.labeller == "classifier")
        self.scorer = spawn_reward(replace(reward, source="models", **models), cfg.model) \
            if any(models.values()) else None
        self.classifier = ClassifierActor.options(**role_options(reward)).remote(
            o.labeller_path, unsafe_label=cfg.eval.judge_unsafe_label, template=cfg.eval.judge_template,
            trust_remote_code=cfg.model.trust_remote_code) if o.labeller == "classifier" else None

    def label(self, batch: dict, prompts: list[str], responses: list[str]) -> Labels:
        """Labels of the collated prompt+response ``batch`` (rows in the order of ``prompts`` / ``responses``)."""
        pending = {}
        if self.scorer is not None:
            pending["models"] = self.scorer.score.remote(batch, prompts, responses)
        if self.classifier is not None:
            pending["classifier"] = self.classifier.judge.remote(prompts, responses)
        got = dict(zip(pending, ray.get(list(pending.values())), strict=True)) if pending else {}
        oracle = WorldJudge().judge(prompts, responses) if "world" in (self.labeller, self.ranker) else None
        if self.labeller == "cost_model":
            safe = [c < 0 for c in got["models"]["cost"].tolist()]  # cost < 0 is safe (as the cost_model judge)
        elif self.labeller == "classifier":
            safe = [j.safe for j in got["classifier"]]
        elif self.labeller == "keyword":
            safe = [j.safe for j in KeywordJudge().judge(prompts, responses)]
        else:
            safe = [j.safe for j in oracle]
        score = got["models"]["reward"].tolist() if self.ranker == "reward_model" else \
            [float(j.helpfulness) for j in oracle]
        tokens = int(batch["attention_mask"].sum()) * self.model_count
        return Labels(safe, score, tokens)

    def cpu_seconds(self) -> float:
        """CPU seconds the scoring actors have used (0 for rule-based labels)."""
        return sum(actor_cpu_seconds(a) for a in (self.scorer, self.classifier) if a is not None)

    def close(self) -> None:
        for actor in (self.scorer, self.classifier):
            if actor is not None:
                ray.kill(actor)


def pair_rows(prompts: list[Prompt], responses: list[str], labels: Labels, samples: int, pairing: str,
              tie_margin: float, provenance: dict[str, Any]) -> tuple[list[dict[str, Any]], Counter]:
    """``pair``-schema rows (prompt, chosen, rejected, chosen_safe, rejected_safe) with ``tags`` and
    ``provenance`` (the round's ``provenance`` plus both scores and both responses' indices in ``responses``,
    i.e. their lines in the round's responses.jsonl), and the counts of what was dropped."""
    rows: list[dict[str, Any]] = []
    dropped: Counter = Counter()
    for p, prompt in enumerate(prompts):
        span = range(p * samples, (p + 1) * samples)
        labelled = [Labelled(responses[i], labels.safe[i], labels.score[i]) for i in span]
        pairs, counts = build_pairs(labelled, pairing, tie_margin)
        dropped.update(counts)
        for pair in pairs:
            w, lo = labelled[pair.chosen], labelled[pair.rejected]
            rows.append({"prompt": list(prompt.messages), "chosen": w.text, "rejected": lo.text,
                         "chosen_safe": int(w.safe), "rejected_safe": int(lo.safe), "tags": prompt.tags,
                         "provenance": {**provenance, "prompt_origin": prompt.origin, "chosen_score": w.score,
                                        "rejected_score": lo.score, "chosen_response": span[pair.chosen],
                                        "rejected_response": span[pair.rejected]}})
    return rows, dropped


def oracle_agreement(prompts: list[str], responses: list[str], labels: Labels,
                     rows: list[dict[str, Any]]) -> dict[str, float | int]:
    """How the labels compare with the world's oracle, on the responses to prompts of the world (empty when
    none is): the generations' oracle harmlessness (harmful prompts) and helpfulness (benign); the labeller's
    accuracy, false-safe rate (unsafe labelled safe) and false-unsafe rate; the share of pairs whose chosen
    response the oracle finds strictly more helpful, and equally helpful."""
    verdicts = [world_judge(p, r) for p, r in zip(prompts, responses, strict=True)]
    known = [i for i, v in enumerate(verdicts) if v.topic is not None]
    if not known:
        return {}
    harmful = [i for i in known if verdicts[i].prompt_harmful]
    benign = [i for i in known if not verdicts[i].prompt_harmful]
    unsafe = [i for i in known if not verdicts[i].safe]
    safe = [i for i in known if verdicts[i].safe]
    out: dict[str, float | int] = {
        "labelled_responses": len(known),
        "labeller_accuracy": sum(labels.safe[i] == verdicts[i].safe for i in known) / len(known),
    }
    if harmful:
        out["oracle_harmlessness"] = sum(verdicts[i].safe for i in harmful) / len(harmful)
    if benign:
        out["oracle_helpfulness"] = sum(verdicts[i].helpfulness for i in benign) / len(benign)
    if unsafe:
        out["labeller_false_safe"] = sum(labels.safe[i] for i in unsafe) / len(unsafe)
    if safe:
        out["labeller_false_unsafe"] = sum(not labels.safe[i] for i in safe) / len(safe)
    judged = [(verdicts[r["provenance"]["chosen_response"]], verdicts[r["provenance"]["rejected_response"]])
              for r in rows]
    judged = [(w, lo) for w, lo in judged if w.topic is not None]
    if judged:
        out["pairs_oracle_prefers_chosen"] = sum(w.helpfulness > lo.helpfulness for w, lo in judged) / len(judged)
        out["pairs_oracle_tie"] = sum(w.helpfulness == lo.helpfulness for w, lo in judged) / len(judged)
    return out

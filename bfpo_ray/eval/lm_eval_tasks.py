"""The safety world's multiple-choice tasks as lm-evaluation-harness tasks (a YAML file over a local JSON file).

Each item is the chat-templated prompt as the context and the two answers, each followed by the EOS
token, as the choices (no delimiter): lm-eval's summed log-likelihood ``acc`` then decides every item as
:func:`bfpo_ray.eval.mc_tasks.mc_accuracy` does, so the two accuracies agree. (lm-eval moves the
context's trailing newline into each choice, which adds the same term to both choices' log-likelihoods.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bfpo_ray.data.records import PairRecord

TEMPLATE = """task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: choices
doc_to_target: label
target_delimiter: ""
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


def lm_eval_doc(pair: PairRecord, tokenizer) -> dict[str, Any]:
    """One item: the templated prompt, the right answer (label 0) and the wrong one, each ending in EOS."""
    context = tokenizer.apply_chat_template(list(pair.prompt), tokenize=False, add_generation_prompt=True)
    eos = tokenizer.eos_token
    return {"context": context, "choices": [pair.chosen + eos, pair.rejected + eos], "label": 0}


def write_lm_eval_tasks(items: dict[str, Sequence[PairRecord]], tokenizer, directory: str | Path,
                        prefix: str = "world_") -> list[str]:
    """``<prefix><task>.yaml`` + ``.json`` per non-empty task into ``directory``; the task names.

    Pass ``directory`` as lm-eval's ``include_path``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for task, pairs in items.items():
        if not pairs:
            continue
        name = f"{prefix}{task}"
        data = directory / f"{name}.json"
        data.write_text("\n".join(json.dumps(lm_eval_doc(p, tokenizer)) for p in pairs) + "\n")
        (directory / f"{name}.yaml").write_text(TEMPLATE.format(task=name, data=json.dumps(str(data.resolve()))))
        names.append(name)
    return names

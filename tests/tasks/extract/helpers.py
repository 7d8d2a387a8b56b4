"""Overrides that keep task=extract runs to seconds."""


def overrides(data, work, family, *extra):
    """Tiny preset, 640-token prompts (~230 note tokens: every demo note is cut into several windows), 32-token
    answers, 2 test admissions."""
    return ["task=extract", f"model={family}", "model.preset=tiny", "model.max_length=672",
            f"data.dir={data / 'tasks' / 'extract'}", "data.batch_size=4", "data.eval_batch_size=4", "data.max_rows=8",
            f"paths.cache_dir={work / 'cache'}", f"paths.log_dir={work / 'logs'}", "task.max_prompt_tokens=640",
            "task.max_new_tokens=32", "task.eval_limit=2", "task.baseline=null", "logger=none", "callbacks=none",
            *extra]

"""How large a submission the merge takes: one answer's size, and its repeat instances.

Pure: no Flask, no database. A submission beyond either bound stays stored exactly as it
arrived; its merge is refused with a catalogue error (``submission.answer_too_large``,
``submission.too_many_repeats``), written on the submission as a failed merge, which a
supervisor sees with the submission and `casework reprocess` can run again once the bounds
(``MAX_ANSWER_BYTES``, ``MAX_REPEAT_INSTANCES`` in ``server.config``) allow it.
"""

from __future__ import annotations

from server.errors import AppError
from server.submissions.parse import DataNode
from server.xforms.definition import FormDefinition

DEFAULT_MAX_ANSWER_BYTES = 64 * 1024
DEFAULT_MAX_REPEAT_INSTANCES = 1000


def check_merge_bounds(
    definition: FormDefinition,
    data: DataNode,
    *,
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    max_repeat_instances: int = DEFAULT_MAX_REPEAT_INSTANCES,
) -> None:
    """Raise ``AppError`` when one answer is longer than ``max_answer_bytes`` (UTF-8), or
    the form's repeats hold more than ``max_repeat_instances`` instances in all."""
    path, size = _largest_answer(data, "")
    if size > max_answer_bytes:
        raise AppError(
            "submission.answer_too_large",
            f"The answer at {path} is {size:,} bytes; the merge takes at most "
            f"{max_answer_bytes:,} bytes per answer.",
            details={"path": path, "bytes": size, "limit": max_answer_bytes},
        )
    repeats = [f.path for f in definition.fields if f.kind == "repeat"]
    count = sum(_instances(data, path) for path in repeats)
    if count > max_repeat_instances:
        raise AppError(
            "submission.too_many_repeats",
            f"The submission holds {count:,} repeat instances; the merge takes at most "
            f"{max_repeat_instances:,}.",
            details={"instances": count, "limit": max_repeat_instances},
        )


def _largest_answer(node: DataNode, prefix: str) -> tuple[str, int]:
    best_path, best = "", 0
    for name, values in node.items():
        for value in values:
            if isinstance(value, dict):
                path, size = _largest_answer(value, f"{prefix}{name}/")
            else:
                # a character takes at most 4 bytes: encode only what might be too long
                path, size = f"{prefix}{name}", len(value)
                if size > best // 4:
                    size = len(value.encode("utf-8", "surrogatepass"))
            if size > best:
                best_path, best = path, size
    return best_path, best


def _instances(node: DataNode, path: str) -> int:
    """How many elements the slash path reaches, across the instances of enclosing repeats."""
    head, _, rest = path.partition("/")
    values = node.get(head, [])
    if not rest:
        return sum(1 for v in values if isinstance(v, dict))
    return sum(_instances(v, rest) for v in values if isinstance(v, dict))

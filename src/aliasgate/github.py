"""GitHub Actions plumbing: workflow commands, masks, step outputs, the step summary file.

Used only when ``GITHUB_ACTIONS=true``; the formats follow GitHub's "Workflow commands
for GitHub Actions" and ``@actions/core``. Per-command Markdown lives in
:mod:`aliasgate.summary`, what each command reports in :mod:`aliasgate.github_observer`.

* workflow commands (annotations, ``::add-mask::``) go to **stderr**, the log stream:
  stdout holds data (``--json``, ``registry export``, a report redirected to a file),
  and the runner reads commands from both streams;
* a command's message escapes ``%``, CR and LF, property values also ``:`` and ``,``;
  the legacy ``##[`` form, which the runner obeys anywhere in a line, is broken with a
  zero-width space;
* text that may hold registry-controlled strings is fenced with ``::stop-commands::``
  when it holds ``::``, ``##[`` or a bare CR anywhere (:func:`neutralize`);
* step outputs are appended to ``$GITHUB_OUTPUT`` in the ``name<<DELIMITER`` form with a
  random delimiter; the step summary is appended to ``$GITHUB_STEP_SUMMARY`` within
  GitHub's 1 MiB limit; a file that cannot be written is an :class:`OutputError`;
* GitHub shows at most 10 error and 10 warning annotations per step, so the rest are
  folded into one annotation pointing at the summary.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aliasgate import secrets
from aliasgate.errors import ExitCode, OutputError

SUMMARY_LIMIT = 1024 * 1024  # bytes GitHub accepts in one step's summary
ANNOTATION_LIMIT = 10  # annotations of one level GitHub shows per step
_PROPS = {"file": "file", "line": "line", "end_line": "endLine", "col": "col", "end_column": "endColumn"}

_masking_on = False
_shown: dict[str, int] = {}
_held: dict[str, list[str]] = {}


def enabled(env: Mapping[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def reset_for_tests() -> None:
    global _masking_on
    _masking_on = False
    _shown.clear()
    _held.clear()


# -- workflow commands ---------------------------------------------------------------------------------


LEGACY = "##["  # the runner's legacy command form, obeyed anywhere in a line
_LEGACY_BROKEN = "#\u200b#["


def escape_data(text: str) -> str:
    """Escape a command's message, as ``@actions/core`` does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def inert(text: str) -> str:
    """Registry text for a command's message or an output: the legacy ``##[`` form broken."""
    return text.replace(LEGACY, _LEGACY_BROKEN)


def escape_property(text: str) -> str:
    """Escape a command property value: the message escapes plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_command(name: str, message: str = "", **props: Any) -> str:
    """``::name k=v,...::message`` with everything escaped; None-valued properties are left out."""
    shown = ",".join(
        f"{_PROPS.get(k, k)}={escape_property(str(v))}" for k, v in props.items() if v is not None and v != ""
    )
    return f"::{name}{' ' + shown if shown else ''}::{escape_data(message)}"


def command(name: str, message: str = "", **props: Any) -> None:
    """Emit a workflow command on stdout; the message and properties are redacted first."""
    safe = {k: (inert(secrets.redact(v)) if isinstance(v, str) else v) for k, v in props.items()}
    _write(format_command(name, inert(secrets.redact(message)), **safe))


def _write(line: str) -> None:
    """A workflow command on the log stream (stderr), never among data on stdout."""
    sys.stdout.flush()
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def workspace_path(file: str | os.PathLike[str] | None) -> str | None:
    """A path GitHub can attach an annotation to: relative to the checkout, with slashes."""
    if file is None or str(file) == "":
        return None
    p = Path(file)
    ws = os.environ.get("GITHUB_WORKSPACE")
    base = Path(ws) if ws else Path.cwd()
    try:
        return Path(os.path.abspath(p)).relative_to(os.path.abspath(base)).as_posix()
    except ValueError:
        return p.as_posix()


def annotate(
    level: str,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    end_line: int | None = None,
    col: int | None = None,
    title: str | None = None,
) -> None:
    """An ``error``, ``warning`` or ``notice`` annotation, at a file and line when known.

    Past GitHub's per-step limit the message is held back; :func:`flush_annotations`
    then emits one annotation saying how many more there are."""
    if level not in ("error", "warning", "notice"):
        raise ValueError(f"unknown annotation level {level!r}")
    _shown[level] = _shown.get(level, 0) + 1
    if _shown[level] >= ANNOTATION_LIMIT:
        _held.setdefault(level, []).append(message)
        return
    command(
        level,
        message,
        title=title,
        file=workspace_path(file),
        line=line or None,
        end_line=end_line or None,
        col=col or None,
    )


def flush_annotations() -> None:
    for level, held in list(_held.items()):
        if not held:
            continue
        if len(held) == 1:
            command(level, held[0])
        else:
            command(level, f"{len(held)} more: {held[0]} (all are listed in the step summary)")
        held.clear()


# -- secrets and untrusted text ------------------------------------------------------------------------


def mask(value: str) -> None:
    """``::add-mask::`` a secret, and each line of a multi-line one."""
    if not value:
        return
    parts = [value]
    if "\n" in value or "\r" in value:
        parts += [p for p in value.replace("\r", "\n").split("\n") if len(p.strip()) >= 4]
    for part in parts:
        _write(f"::add-mask::{escape_data(part)}")


def mask_secrets() -> None:
    """Mask every credential aliasgate sends (as it is registered), so the runner hides it in every log."""
    global _masking_on
    if _masking_on:
        return
    _masking_on = True
    secrets.on_register(mask)


def neutralize(text: str) -> str:
    """Fence text that could hold a workflow command (``::`` or ``##[`` anywhere, or a bare CR,
    which the runner reads as a line break) so the runner executes nothing in it."""
    if "::" not in text and LEGACY not in text and "\r" not in text:
        return text
    token = f"aliasgate-{uuid.uuid4().hex}"
    return f"::stop-commands::{token}\n{text}\n::{token}::"


# -- outputs and summary --------------------------------------------------------------------------------


def set_outputs(values: Mapping[str, str], env: Mapping[str, str] | None = None) -> None:
    """Append step outputs to ``$GITHUB_OUTPUT`` (``name<<DELIM`` form, redacted)."""
    path = (env if env is not None else os.environ).get("GITHUB_OUTPUT")
    if not path:
        return
    chunks = []
    for key, raw in values.items():
        if not key or any(c in key for c in "\r\n=<"):
            raise ValueError(f"invalid output name {key!r}")
        value = inert(secrets.redact(raw))
        delim = f"ghadelimiter_{uuid.uuid4()}"
        while delim in value:  # pragma: no cover - a random uuid in the value
            delim = f"ghadelimiter_{uuid.uuid4()}"
        chunks.append(f"{key}<<{delim}\n{value}\n{delim}\n")
    _append(path, "".join(chunks), "GITHUB_OUTPUT")


def _append(path: str, text: str, what: str) -> None:
    try:
        with open(path, "a", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    except OSError as exc:
        raise OutputError(
            f"cannot write ${what} ({path}): {exc.strerror or exc}",
            exit_code=ExitCode.REGISTRY,
            hint="the runner provides this file; check the job's disk and permissions",
        ) from None


def append_summary(markdown: str, env: Mapping[str, str] | None = None) -> None:
    """Append Markdown to ``$GITHUB_STEP_SUMMARY``, redacted, within GitHub's 1 MiB limit."""
    path = (env if env is not None else os.environ).get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    text = secrets.redact(markdown).rstrip() + "\n\n"
    try:
        used = os.path.getsize(path)
    except OSError:
        used = 0
    room = SUMMARY_LIMIT - used
    data = text.encode("utf-8")
    if len(data) > room:
        note = "\n\n_…summary cut at GitHub's 1 MiB limit; run the command locally for the rest._\n\n"
        keep = room - len(note.encode("utf-8"))
        if keep <= 0:
            return
        text = data[:keep].decode("utf-8", errors="ignore") + note
    _append(path, text, "GITHUB_STEP_SUMMARY")

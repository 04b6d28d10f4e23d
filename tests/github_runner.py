"""Run a composite action's steps the way the GitHub runner does, on this machine.

What the runner does for a composite action, and this module does too:

* inputs are the ``with:`` values over the defaults of ``action.yml``;
* ``${{ }}`` in ``env:``, ``with:``, ``if:`` and the action's ``outputs`` is evaluated
  against the ``inputs``, ``github``, ``runner``, ``env`` and ``steps`` contexts (a
  small evaluator: literals, context paths, ``== != && || !``, parentheses and the
  status functions ``success() failure() always() cancelled()``, GitHub's loose
  comparison rules); ``run:`` scripts are never templated here, so a test fails if
  the action puts ``${{ }}`` in one;
* each ``run`` step executes with ``bash --noprofile --norc -eo pipefail`` and gets
  fresh ``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_PATH`` and ``GITHUB_STEP_SUMMARY``
  files; afterwards outputs, environment and path are read back (``name=value`` and
  ``name<<DELIMITER`` forms) and the summary appended to the job's;
* workflow commands are read from stdout and stderr: ``::add-mask::`` (later lines
  are masked in the displayed log), annotations, ``::stop-commands::``;
* a failed step skips the following ones (unless their ``if:`` says otherwise) and
  fails the action.

``uses:`` steps (actions/cache) cannot run here: when their condition holds they are
recorded in :attr:`ActionRun.not_run` with their evaluated ``with:``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# -- expressions -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||!|\(|\)|\[|\]|\.|,)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


class ExpressionError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"cannot parse {text!r} at {text[pos:]!r}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _truthy(v: Any) -> bool:
    return not (v is None or v is False or v == "" or (isinstance(v, (int, float)) and v == 0))


def _num(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return 0.0
        try:
            return float(s)
        except ValueError:
            return float("nan")
    return float("nan")


def _equal(a: Any, b: Any) -> bool:
    """GitHub's ``==``: strings compare case-insensitively; other type mixes compare as numbers."""
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if type(a) is type(b) and not isinstance(a, (str, int, float)):
        return bool(a == b)
    return _num(a) == _num(b)


class _Parser:
    def __init__(self, text: str, ctx: Mapping[str, Any], status: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.ctx = ctx
        self.status = status

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ExpressionError(f"expected {value!r}, found {tok!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        value = self.or_()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()!r}")
        return value

    def or_(self) -> Any:
        left = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            left = left if _truthy(left) else right
        return left

    def and_(self) -> Any:
        left = self.eq()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.eq()
            left = right if _truthy(left) else left
        return left

    def eq(self) -> Any:
        left = self.unary()
        tok = self.peek()
        if tok in (("op", "=="), ("op", "!=")):
            self.take()
            right = self.unary()
            same = _equal(left, right)
            return same if tok == ("op", "==") else not same
        return left

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not _truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, value = self.take()
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value) if "." in value else int(value)
        if value == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if kind != "name":
            raise ExpressionError(f"unexpected {value!r}")
        if value in ("true", "false"):
            return value == "true"
        if value == "null":
            return None
        if self.peek() == ("op", "("):
            self.take("(")
            self.take(")")
            return self.call(value)
        return self.path(self.ctx.get(value))

    def call(self, name: str) -> Any:
        if name == "success":
            return self.status == "success"
        if name == "failure":
            return self.status == "failure"
        if name == "always":
            return True
        if name == "cancelled":
            return False
        raise ExpressionError(f"function {name}() is not supported by the test runner")

    def path(self, value: Any) -> Any:
        while self.peek() in (("op", "."), ("op", "[")):
            _, op = self.take()
            if op == ".":
                _, key = self.take()
            else:
                key = self.or_()
                self.take("]")
            value = _index(value, key)
        return value


def _index(value: Any, key: Any) -> Any:
    if isinstance(value, Mapping):
        if key in value:
            return value[key]
        lowered = {str(k).lower(): v for k, v in value.items()}
        return lowered.get(str(key).lower())
    return None


def evaluate(expr: str, ctx: Mapping[str, Any], status: str = "success") -> Any:
    return _Parser(expr, ctx, status).parse()


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def substitute(text: Any, ctx: Mapping[str, Any], status: str = "success") -> str:
    """A value with every ``${{ expr }}`` replaced by its string form."""
    if not isinstance(text, str):
        return to_string(text)
    return _TEMPLATE.sub(lambda m: to_string(evaluate(m.group(1), ctx, status)), text)


def condition(text: Any, ctx: Mapping[str, Any], status: str) -> bool:
    """A step's ``if:``: an expression (with or without ``${{ }}``); absent means ``success()``."""
    if text is None or text == "":
        return status == "success"
    if isinstance(text, bool):
        return text and status == "success"
    expr = str(text).strip()
    m = re.fullmatch(r"\$\{\{(.*)\}\}", expr, re.S)
    if m:
        expr = m.group(1)
    uses_status = re.search(r"\b(success|failure|always|cancelled)\(\)", expr)
    if not uses_status:
        expr = f"success() && ({expr})"
    return _truthy(evaluate(expr, ctx, status))


# -- file commands and workflow commands --------------------------------------------------------------------


def parse_file_command(text: str) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIM`` ... ``DELIM`` blocks, as the runner reads them."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body: list[str] = []
            while True:
                if i >= len(lines):
                    raise ValueError(f"unterminated {name}<<{delim} in a file command")
                if lines[i] == delim:
                    i += 1
                    break
                body.append(lines[i])
                i += 1
            out[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        else:
            raise ValueError(f"invalid file command line {line!r}")
    return out


def _unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_prop(text: str) -> str:
    return _unescape_data(text.replace("%3A", ":").replace("%2C", ","))


_COMMAND = re.compile(r"^::(?P<name>[A-Za-z-]+)(?: (?P<props>[^:]*))?::(?P<message>.*)$")
# The runner's legacy form, obeyed anywhere in a line: ##[name key=value;key=value]message
_LEGACY = re.compile(r"##\[(?P<name>[A-Za-z-]+)(?: (?P<props>[^\]]*))?\](?P<message>.*)$")


@dataclass(frozen=True)
class Annotation:
    level: str
    message: str
    properties: Mapping[str, str]

    @property
    def file(self) -> str | None:
        return self.properties.get("file")

    @property
    def line(self) -> int | None:
        return int(self.properties["line"]) if "line" in self.properties else None


@dataclass
class StepResult:
    id: str | None
    name: str
    outcome: str  # success | failure | skipped
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    env_file: str = ""
    path_file: str = ""
    output_file: str = ""
    summary: str = ""


@dataclass
class ActionRun:
    steps: list[StepResult]
    outputs: dict[str, str]
    outcome: str
    summary: str
    annotations: list[Annotation]
    masks: list[str]
    log: list[str]  # what the runner would display: commands consumed, masks applied
    not_run: list[dict[str, Any]]  # uses: steps whose condition held (cannot run here)

    @property
    def raw(self) -> str:
        """Everything every step printed, as printed (before the runner masks anything)."""
        return "\n".join(s.stdout + "\n" + s.stderr for s in self.steps)

    def step(self, step_id: str) -> StepResult:
        return next(s for s in self.steps if s.id == step_id)

    def everything_written(self) -> str:
        """Every byte the action left anywhere: output, summary, outputs and env files."""
        parts = [self.summary, *self.outputs.values()]
        for s in self.steps:
            parts += [s.stdout, s.stderr, s.output_file, s.env_file, s.path_file, s.summary]
        return "\n".join(parts)


class _Log:
    """The runner's reading of a step's output: commands out, masks applied."""

    def __init__(self, masks: list[str], annotations: list[Annotation], log: list[str]) -> None:
        self.masks = masks
        self.annotations = annotations
        self.log = log
        self.stopped: str | None = None
        self.executed: list[tuple[str, str]] = []  # every command the runner obeyed: (name, raw line)

    def feed(self, text: str) -> None:
        for line in text.splitlines():
            if self.stopped is not None:
                if line.strip() == f"::{self.stopped}::":
                    self.stopped = None
                else:
                    self.log.append(self.mask(line))
                continue
            m = _COMMAND.match(line.strip())
            if not m:
                legacy = _LEGACY.search(line)
                if legacy:
                    self.executed.append((legacy.group("name"), line))
                    if legacy.group("name") == "add-mask":
                        self.masks.append(legacy.group("message"))
                    elif legacy.group("name") == "stop-commands":
                        self.stopped = legacy.group("message")
                self.log.append(self.mask(line))
                continue
            name, message = m.group("name"), _unescape_data(m.group("message"))
            self.executed.append((name, line))
            props = {}
            for part in (m.group("props") or "").split(","):
                if "=" in part:
                    k, v = part.split("=", 1)
                    props[k.strip()] = _unescape_prop(v)
            if name == "add-mask":
                if message:
                    self.masks.append(message)
            elif name in ("error", "warning", "notice"):
                self.annotations.append(Annotation(name, message, props))
                self.log.append(self.mask(f"{name.capitalize()}: {message}"))
            elif name == "stop-commands":
                self.stopped = message
            elif name in ("group", "endgroup", "debug"):
                self.log.append(self.mask(message))
            else:
                self.log.append(self.mask(line))

    def mask(self, line: str) -> str:
        for value in sorted(self.masks, key=len, reverse=True):
            line = line.replace(value, "***")
        return line


def run_action(
    action_dir: Path,
    with_: Mapping[str, Any],
    *,
    workspace: Path,
    temp: Path,
    env: Mapping[str, str],
    job_env: Mapping[str, str] | None = None,
    github: Mapping[str, Any] | None = None,
    timeout: float = 600,
) -> ActionRun:
    """Run ``action_dir/action.yml`` (a composite action) with ``with_`` as its inputs."""
    meta = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
    runs = meta["runs"]
    if runs.get("using") != "composite":
        raise ValueError("only composite actions run here")
    declared = meta.get("inputs") or {}
    unknown = set(with_) - set(declared)
    if unknown:
        raise ValueError(f"inputs not declared by the action: {sorted(unknown)}")
    inputs = {
        name: to_string(with_[name]) if name in with_ else to_string(spec.get("default", ""))
        for name, spec in declared.items()
    }
    temp.mkdir(parents=True, exist_ok=True)
    base_env = {
        **env,
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_ACTION_PATH": str(action_dir),
        "RUNNER_TEMP": str(temp),
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
        **(job_env or {}),
    }
    gh = {
        "action_path": str(action_dir),
        "workspace": str(workspace),
        "event_name": base_env.get("GITHUB_EVENT_NAME", "push"),
        **(github or {}),
    }
    runner = {"temp": str(temp), "os": "Linux", "arch": "X64"}
    steps_ctx: dict[str, dict[str, Any]] = {}
    extra_env: dict[str, str] = {}
    extra_path: list[str] = []
    results: list[StepResult] = []
    masks: list[str] = []
    annotations: list[Annotation] = []
    log: list[str] = []
    not_run: list[dict[str, Any]] = []
    summary = ""
    status = "success"
    reader = _Log(masks, annotations, log)
    for n, step in enumerate(runs["steps"]):
        sid = step.get("id")
        name = step.get("name") or sid or f"step {n}"
        ctx = {
            "inputs": inputs,
            "github": gh,
            "runner": runner,
            "env": {**base_env, **extra_env},
            "steps": steps_ctx,
        }
        if not condition(step.get("if"), ctx, status):
            results.append(StepResult(sid, name, "skipped"))
            if sid:
                steps_ctx[sid] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
            continue
        if "uses" in step:
            not_run.append(
                {
                    "name": name,
                    "uses": step["uses"],
                    "with": {k: substitute(v, ctx) for k, v in (step.get("with") or {}).items()},
                }
            )
            results.append(StepResult(sid, name, "skipped"))
            continue
        if step.get("shell") != "bash":
            raise ValueError(f"step {name!r}: only shell: bash runs here")
        script = step["run"]
        if "${{" in script:
            raise AssertionError(f"step {name!r} has an expression inside run:, which GitHub would template")
        files = {}
        for key in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"):
            p = temp / f"_runner_file_commands/{key.lower()}_{n}"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("", encoding="utf-8")
            files[key] = p
        step_env = {**base_env, **extra_env}
        if extra_path:
            step_env["PATH"] = os.pathsep.join([*reversed(extra_path), step_env.get("PATH", "")])
        step_env.update({k: substitute(v, ctx) for k, v in (step.get("env") or {}).items()})
        step_env.update({k: str(p) for k, p in files.items()})
        script_path = temp / f"_runner_step_{n}.sh"
        script_path.write_text(script, encoding="utf-8")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_path)],
            cwd=workspace,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        reader.feed(proc.stdout)
        reader.feed(proc.stderr)
        output_text = files["GITHUB_OUTPUT"].read_text(encoding="utf-8")
        env_text = files["GITHUB_ENV"].read_text(encoding="utf-8")
        path_text = files["GITHUB_PATH"].read_text(encoding="utf-8")
        step_summary = files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8")
        outputs = parse_file_command(output_text)
        extra_env.update(parse_file_command(env_text))
        extra_path += [p for p in path_text.splitlines() if p.strip()]
        summary += step_summary
        outcome = "success" if proc.returncode == 0 else "failure"
        results.append(
            StepResult(
                sid,
                name,
                outcome,
                proc.returncode,
                proc.stdout,
                proc.stderr,
                outputs,
                env_text,
                path_text,
                output_text,
                step_summary,
            )
        )
        if sid:
            steps_ctx[sid] = {"outputs": outputs, "outcome": outcome, "conclusion": outcome}
        if outcome == "failure":
            status = "failure"
    final_ctx = {"inputs": inputs, "github": gh, "runner": runner, "env": base_env, "steps": steps_ctx}
    action_outputs = {
        name: substitute(spec.get("value", ""), final_ctx)
        for name, spec in (meta.get("outputs") or {}).items()
    }
    return ActionRun(results, action_outputs, status, summary, annotations, masks, log, not_run)


# -- Markdown as GitHub renders it (the parts an injection could abuse) -------------------------------------

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})(.*)$")
_MERMAID_LINE = re.compile(r"^\s*(xychart-beta|title \"|x-axis \[|y-axis \"|bar \[|line \[)")


def _unescaped(text: str, char: str) -> int:
    count, i = 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        count += text[i] == char
        i += 1
    return count


def strip_code_spans(line: str) -> str:
    """The line with every CommonMark code span (a run of n backticks up to the next run of exactly n) removed."""
    out, i = [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            out.append(line[i : i + 2])
            i += 2
            continue
        if line[i] == "`":
            j = i
            while j < len(line) and line[j] == "`":
                j += 1
            run = line[i:j]
            k = j
            while True:
                k = line.find("`", k)
                if k < 0:
                    out.append(run)  # no closer: literal backticks
                    i = j
                    break
                m = k
                while m < len(line) and line[m] == "`":
                    m += 1
                if m - k == len(run):
                    i = m  # the span is dropped
                    break
                k = m
            continue
        out.append(line[i])
        i += 1
    return "".join(out)


def markdown_problems(text: str) -> list[str]:
    """What an injection achieved in GitHub-flavoured Markdown: raw HTML, a link or an image outside
    code, a table row with more or fewer cells than its header, a Mermaid block broken or carrying a
    ``%%`` directive, a fence left open. Empty when the Markdown is inert."""
    problems: list[str] = []
    fence: str | None = None
    mermaid = False
    cells: int | None = None
    for n, line in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not m.group(2).strip():
                fence, mermaid = None, False
            elif mermaid and ("%%" in line or not _MERMAID_LINE.match(line)):
                problems.append(f"line {n}: mermaid line not ours: {line!r}")
            continue
        if m:
            fence, mermaid = m.group(1), m.group(2).strip() == "mermaid"
            continue
        if line.startswith("|"):
            count = _unescaped(line, "|")
            if cells is None:
                cells = count
            elif count != cells:
                problems.append(f"line {n}: table row with {count} pipes, header has {cells}: {line!r}")
        else:
            cells = None
        bare = strip_code_spans(line)
        if line == "<hr>":  # aliasgate's own separator between sections
            continue
        if re.search(r"<[A-Za-z/!?]", bare):
            problems.append(f"line {n}: raw HTML: {line!r}")
        if re.search(r"(?<!\\)!\[|(?<!\\)\]\(", bare):
            problems.append(f"line {n}: an image or link: {line!r}")
    if fence is not None:
        problems.append("a code fence is left open")
    return problems

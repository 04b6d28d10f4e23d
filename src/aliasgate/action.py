"""The composite action's entry point: ``INPUT_*`` variables -> one ``promote`` run -> step outputs.

``action.yml`` hands every input over through ``env:`` (never ``${{ }}`` inside
``run:``) and runs ``python -m aliasgate.action`` from the action's own
virtualenv. This module

1. masks the token before anything else is printed;
2. maps it to the variable the registry's backend reads (see :func:`token_env`);
3. builds the ``promote`` command line from the inputs (:func:`command_line`);
4. writes default outputs, runs ``promote`` with the log streaming straight
   through (its annotations, summary and outputs are the CLI's own, see
   ``aliasgate.github``), then writes ``exit-code``.

The exit status is promote's, except that ``fail-on-blocked: false`` turns
"gates blocked" (3) into success; ``exit-code`` always holds the real code.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aliasgate import funnel, github, secrets
from aliasgate.errors import ExitCode, InvalidInput, OutputError, exit_code_for

COMMANDS = ("plan", "apply", "approve", "cleanup", "rollback", "check", "report")
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off", ""}


class InputError(InvalidInput):
    """An action input that cannot be used; reported as an error annotation, exit 2."""


@dataclass(frozen=True)
class Inputs:
    command: str
    policy: str = "aliasgate.yaml"
    registry: str = ""
    dry_run: bool = False
    args: tuple[str, ...] = ()
    token: str = ""
    username: str = ""
    model: str = ""
    alias: str = ""
    to: str = ""
    reason: str = ""
    plan_file: str = ""
    fail_on_blocked: bool = True
    native_ttl: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Inputs:
        def get(name: str, default: str = "") -> str:
            return env.get(f"INPUT_{name.upper().replace('-', '_')}", default).strip()

        command = get("command", "plan").lower()
        if command not in COMMANDS:
            raise InputError(f"command must be one of {', '.join(COMMANDS)}, not {command!r}")
        try:
            args = tuple(shlex.split(get("args")))
        except ValueError as exc:
            raise InputError(f"args: {exc}") from None
        return cls(
            command=command,
            policy=get("policy") or "aliasgate.yaml",
            registry=get("registry"),
            dry_run=_flag(get("dry-run"), "dry-run"),
            args=args,
            token=env.get("INPUT_TOKEN", ""),  # not stripped: a secret is used exactly as given
            username=get("username"),
            model=get("model"),
            alias=get("alias"),
            to=get("to"),
            reason=get("reason"),
            plan_file=get("plan-file"),
            fail_on_blocked=_flag(get("fail-on-blocked", "true"), "fail-on-blocked"),
            native_ttl=_flag(get("native-ttl"), "native-ttl"),
        )


def _flag(value: str, name: str) -> bool:
    v = value.lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise InputError(f"{name} must be true or false, not {value!r}")


def policy_registry(policy: str) -> str | None:
    """The ``registry:`` of a policy file, or None when it cannot be read (promote reports why).

    Read with promote's own loader: its limits (regular files, size, YAML anchor budget) hold here too."""
    from aliasgate.errors import InvalidInput
    from aliasgate.policy import load_policy

    try:
        return load_policy(policy).registry or None
    except InvalidInput:
        return None


def resolve_registry(inputs: Inputs, env: Mapping[str, str]) -> str:
    """What promote will use: the input, else PROMOTE_REGISTRY, else the policy's, else the default."""
    from aliasgate.registry import DEFAULT_REGISTRY

    if inputs.registry:
        return inputs.registry
    if env.get("PROMOTE_REGISTRY"):
        return env["PROMOTE_REGISTRY"]
    if inputs.command in ("plan", "apply", "cleanup"):
        return policy_registry(inputs.policy) or DEFAULT_REGISTRY
    return DEFAULT_REGISTRY


def token_env(registry: str, token: str, username: str) -> dict[str, str]:
    """The variables that carry the service-account secret to the backend of ``registry``.

    * ``mlflow``, ``mlflow+http(s)://``: with ``username``, basic auth
      (``MLFLOW_TRACKING_USERNAME`` + ``MLFLOW_TRACKING_PASSWORD``, what MLflow's
      basic-auth app accepts); without, a bearer token (``MLFLOW_TRACKING_TOKEN``,
      for servers behind an authenticating proxy);
    * ``wandb://``: ``WANDB_API_KEY``;
    * anything else: ``PROMOTE_TOKEN``.
    """
    scheme = registry.split(":", 1)[0].lower()
    is_mlflow = scheme == "mlflow" or scheme.startswith("mlflow+")
    if username and not is_mlflow:
        raise InputError(f"username is for MLflow basic auth; the registry is {scheme}:")
    if username and not token:
        raise InputError("username is set but token (the password) is empty")
    if not token:
        return {}
    if is_mlflow:
        if username:
            return {"MLFLOW_TRACKING_USERNAME": username, "MLFLOW_TRACKING_PASSWORD": token}
        return {"MLFLOW_TRACKING_TOKEN": token}
    if scheme == "wandb":
        return {"WANDB_API_KEY": token}
    return {"PROMOTE_TOKEN": token}


def _has_option(args: Sequence[str], *names: str) -> bool:
    return any(a in names or any(a.startswith(n + "=") for n in names if n.startswith("--")) for a in args)


def default_plan_path(env: Mapping[str, str]) -> str:
    base = Path(env.get("RUNNER_TEMP") or tempfile.gettempdir()) / "aliasgate"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create {base} for the saved plan (RUNNER_TEMP): {exc.strerror or exc}",
            exit_code=ExitCode.REGISTRY,
            hint="set the plan-file input to a writable path",
        ) from None
    return str(base / f"plan-{env.get('GITHUB_RUN_ID', 'local')}-{uuid.uuid4().hex[:8]}.json")


def command_line(inputs: Inputs, env: Mapping[str, str]) -> list[str]:
    """promote's arguments (without the program) for these inputs."""
    i = inputs
    reg = ["--registry", i.registry] if i.registry else []
    dry = ["--dry-run"] if i.dry_run else []
    if i.command == "plan":
        out = [] if _has_option(i.args, "-o", "--out") else ["-o", i.plan_file or default_plan_path(env)]
        return ["plan", "-p", i.policy, *reg, *out, *i.args]
    if i.command == "apply":
        if i.plan_file:  # re-checked against the policy it was made from
            return ["apply", i.plan_file, "-p", i.policy, *reg, *dry, *i.args]
        return ["apply", "-p", i.policy, *reg, *dry, *i.args]
    if i.command == "approve":
        if not i.plan_file:
            raise InputError("approve needs the plan-file input (a plan saved by the plan command)")
        comment = ["--comment", i.reason] if i.reason else []
        return ["approve", i.plan_file, "-p", i.policy, *reg, *comment, *i.args]
    if i.command == "cleanup":
        ttl = ["--native-ttl"] if i.native_ttl and not _has_option(i.args, "--native-ttl") else []
        return ["cleanup", "-p", i.policy, *reg, *dry, *ttl, *i.args]
    if i.command == "rollback":
        if not i.model or not i.alias:
            raise InputError("rollback needs the model and alias inputs")
        to = ["--to", i.to] if i.to else []
        reason = ["--reason", i.reason] if i.reason else []
        return ["rollback", i.model, i.alias, *reg, *to, *reason, *dry, *i.args]
    if i.command == "report":
        if not i.model:
            raise InputError("report needs the model input")
        return ["report", i.model, *reg, *i.args]
    policies = [p.strip() for p in i.policy.splitlines() if p.strip()]
    return ["check", *policies, *i.args]


def child_env(env: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """promote's environment: the job's, minus the action's INPUT_* variables, plus the token."""
    out = {k: v for k, v in env.items() if not k.startswith("INPUT_")}
    out.update(extra)
    return out


def run(env: Mapping[str, str] | None = None) -> int:
    """The action's step, inside the same error funnel as every ``promote`` command."""
    env = dict(os.environ if env is None else env)
    # First of all, mask the token in every encoding it may travel in (and, below, the
    # registry URL's password): nothing may print them before the runner knows them.
    secrets.on_register(github.mask)
    secrets.register(env.get("INPUT_TOKEN", ""))

    def failed(exc: BaseException) -> None:
        title = "aliasgate action: invalid input" if isinstance(exc, InputError) else "aliasgate action"
        what = (
            exc.message
            if isinstance(exc, InvalidInput | OutputError)
            else f"internal error: {type(exc).__name__}"
        )
        github.command("error", what, title=title)
        if not isinstance(exc, OutputError):
            code = str(int(exit_code_for(exc)))
            github.set_outputs({"changed": "false", "moves": "[]", "plan": "", "exit-code": code}, env)

    return funnel.guarded(
        lambda: _run(env), show_traceback=bool(env.get("PROMOTE_TRACEBACK")), observers=(failed,)
    )


def _run(env: dict[str, str]) -> int:
    inputs = Inputs.from_env(env)
    registry = resolve_registry(inputs, env)
    secrets.register_registry_uri(registry, env)
    extra = token_env(registry, inputs.token, inputs.username)
    argv = command_line(inputs, env)
    github.set_outputs({"changed": "false", "moves": "[]", "plan": ""}, env)
    sys.stdout.write("promote " + shlex.join(secrets.redact(a) for a in argv) + "\n")
    if extra:
        sys.stdout.write(f"token passed as {', '.join(sorted(extra))} for {registry.split(':', 1)[0]}:\n")
    sys.stdout.flush()
    code = subprocess.run(
        [sys.executable, "-m", "aliasgate", *argv], env=child_env(env, extra), check=False
    ).returncode
    github.set_outputs({"exit-code": str(code)}, env)
    if code == ExitCode.BLOCKED and not inputs.fail_on_blocked:
        sys.stdout.write("gates blocked a promotion (exit 3); fail-on-blocked is false, so the step passes\n")
        return 0
    return code


def main() -> None:  # pragma: no cover - exercised through action.yml in tests
    sys.exit(run())


if __name__ == "__main__":  # pragma: no cover
    main()

"""Who, what, where: the facts every audit record carries.

* who: the principal the registry authenticated, the CI actor, the host;
* what: the git commit of the repository holding the policy (dirty flag,
  branch, remote without credentials) and the policy's SHA-256;
* where: the GitHub Actions run URL when ``GITHUB_*`` variables are set.

Only named variables are read (never the whole environment), and every value
goes through :func:`aliasgate.secrets.redact` before it reaches a record.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aliasgate import __version__, secrets
from aliasgate.audit import jsonable
from aliasgate.model import AliasOp, Principal, iso, os_user


@dataclass(frozen=True)
class Provenance:
    principal: Principal
    actor: str
    host: str
    git: Mapping[str, Any] = field(default_factory=dict)
    ci: Mapping[str, Any] | None = None
    policy: Mapping[str, Any] | None = None

    def body(
        self,
        op: AliasOp,
        *,
        kind: str,
        now: datetime,
        rule: str | None = None,
        reason: str | None = None,
        gates: Sequence[Mapping[str, Any]] = (),
        plan: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The unsealed audit record for one alias change (backends seal and store it)."""
        record: dict[str, Any] = {
            "kind": kind,
            "model": op.model,
            "alias": op.alias,
            "from": op.expected,
            "to": op.target,
            "at": iso(now),
            "principal": self.principal.as_dict(),
            "actor": self.actor,
            "host": self.host,
            "rule": rule,
            "reason": reason,
            "policy": dict(self.policy) if self.policy else None,
            "git": dict(self.git),
            "ci": dict(self.ci) if self.ci else None,
            "gates": list(gates),
            "plan": dict(plan) if plan else None,
            "aliasgate": __version__,
        }
        if extra:
            record.update(extra)
        scrubbed: dict[str, Any] = scrub(record)
        return scrubbed

    def deletion(
        self,
        model: str,
        number: int,
        *,
        now: datetime,
        rule: str | None = None,
        reason: str | None = None,
        plan: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The unsealed audit record for deleting one version (kind ``delete``): the same
        who/when/git fields as a move, ``version`` naming what went, ``alias`` null."""
        return self.body(
            AliasOp(model, "", number, None),
            kind="delete",
            now=now,
            rule=rule,
            reason=reason,
            plan=plan,
            extra={"alias": None, "version": number, **(extra or {})},
        )

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = scrub(
            {
                "principal": self.principal.as_dict(),
                "actor": self.actor,
                "host": self.host,
                "git": dict(self.git),
                "ci": dict(self.ci) if self.ci else None,
                "policy": dict(self.policy) if self.policy else None,
            }
        )
        return data


def scrub(value: Any) -> Any:
    """Redact secrets from every string in a JSON-able structure."""
    value = jsonable(value)
    if isinstance(value, str):
        return secrets.redact(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def collect(
    principal: Principal,
    *,
    policy_path: str | Path | None = None,
    policy_sha256: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Provenance:
    env = os.environ if env is None else env
    ci = github(env)
    actor = (ci or {}).get("actor") or env.get("PROMOTE_ACTOR") or os_user()
    where = Path(policy_path).resolve().parent if policy_path else Path.cwd()
    policy = None
    if policy_path is not None:
        policy = {"path": str(policy_path), "sha256": policy_sha256}
    return Provenance(
        principal=principal,
        actor=actor,
        host=socket.gethostname(),
        git=git(where, policy_path),
        ci=ci,
        policy=policy,
    )


def git(where: Path, policy_path: str | Path | None = None) -> dict[str, Any]:
    """The commit of the repository holding ``where``; ``{"repository": False}`` outside one."""
    if not _inside_repository(where):
        return {"repository": False}  # and GitPython (~70 ms to import) is never loaded
    try:
        import git as gitpython
    except ImportError:  # pragma: no cover - gitpython is a dependency; git binary may be absent
        return {"repository": False, "reason": "GitPython unavailable"}
    try:
        repo = gitpython.Repo(where, search_parent_directories=True)
    except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError):
        return {"repository": False}
    except gitpython.GitCommandNotFound:  # pragma: no cover
        return {"repository": False, "reason": "git executable not found"}
    try:
        info: dict[str, Any] = {"repository": True}
        try:
            info["commit"] = repo.head.commit.hexsha
        except ValueError:
            info["commit"] = None  # a repository with no commit yet
        # One `git status` answers both questions: tracked changes anywhere (dirty, as `git describe
        # --dirty` means it) and whether the policy file itself differs from the commit (or is untracked).
        changes = _status(repo.git.status("--porcelain=v1", "-z", "--untracked-files=normal"))
        info["dirty"] = any(code != "??" for code, _ in changes)
        info["branch"] = None if repo.head.is_detached else repo.active_branch.name
        remote = None
        if repo.remotes:
            names = [r.name for r in repo.remotes]
            chosen = "origin" if "origin" in names else names[0]
            remote = secrets.strip_userinfo(repo.remote(chosen).url)  # from .git/config, no subprocess
        info["remote"] = remote
        if policy_path is not None and repo.working_tree_dir:
            try:
                rel = Path(policy_path).resolve().relative_to(Path(repo.working_tree_dir).resolve())
                info["policy_path"] = rel.as_posix()
                info["policy_dirty"] = any(path == rel.as_posix() for _, path in changes)
            except ValueError:
                pass
        return info
    except gitpython.GitCommandError as exc:  # pragma: no cover - corrupt repository
        return {"repository": True, "error": secrets.redact(str(exc))[:200]}
    finally:
        repo.close()


def _status(porcelain_z: str) -> list[tuple[str, str]]:
    """(XY code, path) pairs from `git status --porcelain=v1 -z` (a rename's source is skipped)."""
    out: list[tuple[str, str]] = []
    items = porcelain_z.split("\0")
    i = 0
    while i < len(items):
        entry = items[i]
        i += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        out.append((code, path))
        if "R" in code or "C" in code:
            i += 1  # the original path follows a rename or copy
    return out


def _inside_repository(where: Path) -> bool:
    """A cheap look for ``.git`` in ``where`` or above (or GIT_DIR set), before importing GitPython."""
    if os.environ.get("GIT_DIR"):
        return True
    return any((p / ".git").exists() for p in (where, *where.parents))


GITHUB_FIELDS = {
    "actor": "GITHUB_ACTOR",
    "triggering_actor": "GITHUB_TRIGGERING_ACTOR",
    "repository": "GITHUB_REPOSITORY",
    "workflow": "GITHUB_WORKFLOW",
    "job": "GITHUB_JOB",
    "event": "GITHUB_EVENT_NAME",
    "ref": "GITHUB_REF",
    "sha": "GITHUB_SHA",
    "run_id": "GITHUB_RUN_ID",
    "run_attempt": "GITHUB_RUN_ATTEMPT",
}


def github(env: Mapping[str, str]) -> dict[str, Any] | None:
    """GitHub Actions context, from the variables the runner sets (never from secrets)."""
    if env.get("GITHUB_ACTIONS") != "true" and not env.get("GITHUB_RUN_ID"):
        return None
    info: dict[str, Any] = {"provider": "github"}
    for key, var in GITHUB_FIELDS.items():
        if env.get(var):
            info[key] = env[var]
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    if env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID"):
        url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        if env.get("GITHUB_RUN_ATTEMPT"):
            url += f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
        info["run_url"] = url
    return info

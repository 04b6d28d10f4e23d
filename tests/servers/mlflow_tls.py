"""A real ``mlflow server`` serving HTTPS itself, on 127.0.0.1, with certificates made at test time.

MLflow 3.x runs uvicorn, and ``--uvicorn-opts`` passes uvicorn's own TLS options through:
``--ssl-keyfile``/``--ssl-certfile`` serve TLS, ``--ssl-ca-certs`` + ``--ssl-cert-reqs 2``
(``ssl.CERT_REQUIRED``) demand a client certificate signed by that CA (mTLS). No proxy: the
server the client talks to is MLflow itself, basic-auth app included.

The certificates come from ``mlflow_certs.py``, run by the MLflow venv's python (which has
``cryptography``), so neither aliasgate nor its test extra depends on it and no ``openssl``
binary is needed.
"""

from __future__ import annotations

import shlex
import ssl
import subprocess
from pathlib import Path

from .mlflow_server import MlflowServer

_CERTS_SCRIPT = Path(__file__).resolve().parent / "mlflow_certs.py"


def make_certs(python: Path, out: Path) -> Path:
    """Write ``ca.pem``, ``other-ca.pem``, ``server.pem``/``server.key``, ``client.pem`` into ``out``."""
    proc = subprocess.run(
        [str(python), str(_CERTS_SCRIPT), str(out)], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise RuntimeError(f"making test certificates failed:\n{proc.stdout}\n{proc.stderr}")
    return out


class TlsMlflowServer(MlflowServer):
    """``mlflow server`` on ``https://127.0.0.1:PORT``; with ``require_client_cert``, mTLS only."""

    def __init__(
        self,
        workdir: Path,
        certs: Path,
        *,
        auth: bool = False,
        require_client_cert: bool = False,
        python: Path | None = None,
    ) -> None:
        super().__init__(workdir, auth=auth, python=python)
        self.certs = certs
        self.require_client_cert = require_client_cert
        self.url = f"https://127.0.0.1:{self.port}"
        # The fixture's own admin client (health checks, seeding) trusts the test CA.
        context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        if require_client_cert:
            context.load_cert_chain(str(certs / "client.pem"))
        self.ssl_context = context

    def command(self) -> list[str]:
        opts = [
            "--ssl-keyfile", str(self.certs / "server.key"),
            "--ssl-certfile", str(self.certs / "server.pem"),
        ]  # fmt: skip
        if self.require_client_cert:
            opts += [
                "--ssl-ca-certs",
                str(self.certs / "ca.pem"),
                "--ssl-cert-reqs",
                str(int(ssl.CERT_REQUIRED)),
            ]
        return [*super().command(), "--uvicorn-opts", shlex.join(opts)]

"""Credentials and TLS files for the live targets (``kea:URL``, ``kea-sql:URL``), as arguments.

Library code never reads the environment: the CLI (and a pipeline, from the environment it was
loaded with) builds a :class:`LiveCredentials` with :meth:`LiveCredentials.from_environ` and
passes it to :func:`kea_etl.migrate.make_loader`. The variable names are listed here, once.
Passwords never come from a URL or from argv (argv is visible to every user).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kea_etl.errors import ConfigError

__all__ = ["ENVIRONMENT", "LiveCredentials"]

#: field -> the environment variable :meth:`LiveCredentials.from_environ` reads it from
ENVIRONMENT = {
    "username": "KEA_ETL_USERNAME",
    "password": "KEA_ETL_PASSWORD",
    "password_file": "KEA_ETL_PASSWORD_FILE",
    "ca_file": "KEA_ETL_CA_FILE",
    "cert_file": "KEA_ETL_CERT_FILE",
    "key_file": "KEA_ETL_KEY_FILE",
    "db_password": "KEA_ETL_DB_PASSWORD",
    "db_password_file": "KEA_ETL_DB_PASSWORD_FILE",
}


@dataclass(frozen=True, slots=True)
class LiveCredentials:
    """Who kea-etl is to a live target. Files are read only when the target needs them."""

    #: ``kea:`` basic-auth user, when the URL names none
    username: str | None = None
    #: ``kea:`` basic-auth password (used only with a user)
    password: str | None = None
    #: ``kea:`` a file whose first line is the password; wins over ``password``
    password_file: str | None = None
    #: ``kea:`` over https: the CA that signed Kea's certificate
    ca_file: str | None = None
    #: ``kea:`` over https: a client certificate and its key, when Kea requires one
    cert_file: str | None = None
    key_file: str | None = None
    #: ``kea-sql:`` the database password (or nothing: the driver's own, e.g. ~/.pgpass)
    db_password: str | None = None
    #: ``kea-sql:`` a file holding it (read when ``db_password`` is not given)
    db_password_file: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> LiveCredentials:
        """The credentials the environment gives (see :data:`ENVIRONMENT`)."""
        return cls(**{f: environ.get(name) for f, name in ENVIRONMENT.items()})

    def kea_password(self) -> str | None:
        """The ``kea:`` password: the first line of ``password_file``, else ``password``."""
        if self.password_file:
            from kea_etl.kea import read_password

            return read_password(file=self.password_file)
        return self.password

    def database_password(self) -> str | None:
        """The ``kea-sql:`` password: ``db_password``, else the text of ``db_password_file``."""
        if self.db_password is not None:
            return self.db_password
        if self.db_password_file:
            try:
                return Path(self.db_password_file).read_text().rstrip("\n")
            except OSError as exc:
                raise ConfigError(f"cannot read the database password file "
                                  f"{self.db_password_file}: {exc.strerror}") from exc
        return None

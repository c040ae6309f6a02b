"""Credentials and TLS files for the live targets (``kea:URL``, ``kea-sql:URL``), as arguments.

Library code never reads the environment: the CLI (and a pipeline, from the environment it was
loaded with) builds a :class:`LiveCredentials` with :meth:`LiveCredentials.from_environ` and
passes it to :func:`kea_etl.load.targets.make_loader`. The variable names are listed here, once.
Passwords never come from a URL or from argv (argv is visible to every user).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from kea_etl.errors import ConfigError
from kea_etl.extract import SOURCE_ENV_PREFIX

if TYPE_CHECKING:
    from kea_etl.kea import KeaClient

__all__ = ["ENVIRONMENT", "SOURCE_PREFIX", "LiveCredentials"]

#: a ``kea:`` / ``kea-sql:`` *source* reads the same variables with this prefix instead of
#: ``KEA_ETL_`` (``KEA_ETL_SOURCE_PASSWORD``, ``KEA_ETL_SOURCE_DB_PASSWORD``...): the old server's
#: credentials are not the new one's
SOURCE_PREFIX = SOURCE_ENV_PREFIX

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
    #: ``kea:`` over https: do not verify the server's certificate (said loudly when used)
    insecure: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, prefix: str = "KEA_ETL_"
                     ) -> LiveCredentials:
        """The credentials the environment gives (see :data:`ENVIRONMENT`). ``prefix`` replaces
        ``KEA_ETL_`` in every name: ``KEA_ETL_SOURCE_`` gives a Kea *source*'s credentials
        (``KEA_ETL_SOURCE_PASSWORD``...), which are not the target's."""
        got = {f: environ.get(prefix + name.removeprefix("KEA_ETL_"))
               for f, name in ENVIRONMENT.items()}
        return cls(username=got["username"], password=got["password"],
                   password_file=got["password_file"], ca_file=got["ca_file"],
                   cert_file=got["cert_file"], key_file=got["key_file"],
                   db_password=got["db_password"], db_password_file=got["db_password_file"])

    @classmethod
    def from_options(cls, environ: Mapping[str, str], *, prefix: str = "KEA_ETL_",
                     user: str | None = None, password_env: str | None = None,
                     password_file: str | None = None, ca_file: str | None = None,
                     cert_file: str | None = None, key_file: str | None = None,
                     insecure: bool = False) -> LiveCredentials:
        """The credentials of a command's connection options (``--user``, ``--password-env
        VAR``, ``--password-file``, ``--ca-file``, ``--cert-file``, ``--key-file``,
        ``--insecure``; a pipeline step's ``username``, ``password_env``, ...) over those of
        the environment (:meth:`from_environ`): a given option wins over its variable. The one
        place both are combined, for every command and every pipeline step."""
        base = cls.from_environ(environ, prefix=prefix)
        password = base.password
        if password_env:
            if password_env not in environ:
                raise ConfigError(f"environment variable {password_env} (the password) is not set")
            password = environ[password_env]
        if (password_env or password_file) and not (user or base.username):
            raise ConfigError("--password-env / --password-file need --user (the basic-auth "
                              "user the password belongs to)")
        return replace(base, username=user or base.username, password=password,
                       password_file=password_file or base.password_file,
                       ca_file=ca_file or base.ca_file, cert_file=cert_file or base.cert_file,
                       key_file=key_file or base.key_file, insecure=insecure or base.insecure)

    def kea_client(self, location: str, *, service: str | None = None,
                   timeout: float = 30.0, retries: int = 3) -> KeaClient:
        """A client for ``location`` (the URL after ``kea:``). The basic-auth user may be in the
        URL (``http://admin@host:8000``), else :attr:`username`; the password is never taken
        from the URL (refused), only from these credentials."""
        from urllib.parse import unquote, urlsplit, urlunsplit

        from kea_etl.kea import KeaClient
        from kea_etl.urls import refuse_password

        refuse_password(location)  # shown as the caller wrote it
        parts = urlsplit(location)
        username = unquote(parts.username) if parts.username else self.username
        password = self.kea_password() if username else None
        url = location
        if parts.username:
            url = urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path,
                              parts.query, parts.fragment))
        return KeaClient.from_url(url, service=service, username=username, password=password,
                                  ca_file=self.ca_file, cert_file=self.cert_file,
                                  key_file=self.key_file, insecure=self.insecure,
                                  timeout=timeout, retries=retries)

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

"""Server URLs and the credentials in them: one home for every URL kea-etl shows or stores.

Passwords never come from the command line (argv is visible to every user in ``ps``, and URLs end
up in reports, logs and shell history). :func:`refuse_password` refuses a URL that carries one,
in its userinfo (``postgresql://u:PW@host/db``, ``http://u:PW@kea:8000``) or as a query
parameter (``?password=``), with one line naming what to use instead for that kind of server
(:func:`password_hint`). :func:`redact_url` is the form every message, report, checkpoint and
warehouse label uses: no ``user:password@``, no query string, no fragment. Both understand
kea-etl's prefixed forms (``kea:http://...``, ``kea-sql:postgresql://...``) and leave text that is
no URL (a path) as it is.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit, urlunsplit

from kea_etl.errors import InvalidURLError

__all__ = ["password_hint", "redact_url", "refuse_password"]

#: query parameters that carry a password in SQLAlchemy / libpq / pymysql URLs
_SECRET_PARAMS = frozenset({"password", "passwd", "pwd", "sslpassword"})


def _split_prefix(url: str) -> tuple[str, str]:
    """("kea-sql:", "postgresql://...") for a prefixed URL, ("", url) otherwise."""
    sep = url.find("://")
    if sep < 0:
        return "", url
    cut = url.rfind(":", 0, sep) + 1
    return url[:cut], url[cut:]


def redact_url(url: str) -> str:
    """``url`` without ``user:password@``, query and fragment; a non-URL is returned as is."""
    prefix, rest = _split_prefix(url)
    if "://" not in rest:
        return url
    parts = urlsplit(rest)
    if "@" not in parts.netloc and not parts.query and not parts.fragment:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return prefix + urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def password_hint(url: str) -> str:
    """Where the password for the server at ``url`` comes from instead of the URL."""
    prefix, rest = _split_prefix(url)
    scheme = rest.partition("://")[0].split("+", 1)[0].lower()
    if scheme in ("postgresql", "postgres", "pgsql"):
        own = "KEA_ETL_DB_PASSWORD / KEA_ETL_DB_PASSWORD_FILE, " if prefix == "kea-sql:" else ""
        return f"set {own}PGPASSWORD, or put it in ~/.pgpass (PGPASSFILE)"
    if scheme in ("mysql", "mariadb"):
        if prefix == "kea-sql:":
            return "set KEA_ETL_DB_PASSWORD or KEA_ETL_DB_PASSWORD_FILE"
        return ("put it in a MariaDB/MySQL option file ([client] password=...) and add "
                "?read_default_file=PATH to the URL")
    if scheme in ("http", "https"):
        return ("use --password-env VAR / --password-file FILE (default variable "
                "KEA_ETL_PASSWORD; pipelines: password_env / password_file)")
    return "pass it in an environment variable or a file, never on the command line"


def refuse_password(url: str, *, what: str = "a password", env_prefix: str = "KEA_ETL_") -> None:
    """Raise :class:`InvalidURLError` when ``url`` carries a password (userinfo or query).
    ``env_prefix``: the hint names kea-etl's variables with it (``KEA_ETL_SOURCE_`` for a
    source's credentials)."""
    _, rest = _split_prefix(url)
    if "://" not in rest:
        return
    parts = urlsplit(rest)
    in_query = any(k.lower() in _SECRET_PARAMS
                   for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    if parts.password is None and not in_query:
        return
    raise InvalidURLError(f"{redact_url(url)}: do not put {what} in the URL (it would show in "
                          f"ps, logs and reports); "
                          f"{password_hint(url).replace('KEA_ETL_', env_prefix)}")

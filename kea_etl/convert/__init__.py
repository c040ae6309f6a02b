"""``kea-etl convert``: an ISC dhcpd configuration (or a Windows DHCP Server export) -> Kea
configuration files and a report.

:func:`convert` translates a dhcpd.conf (and a dhcpd6.conf) with :class:`~kea_etl.convert.build.
Converter` and returns a :class:`ConvertResult`: the ``Dhcp4`` / ``Dhcp6`` configurations, the
subnet ids chosen, and every finding (untranslated statements with file and line, and what the
operator must decide). :func:`write` puts ``kea-dhcp4.conf`` / ``kea-dhcp6.conf`` into a
directory. :func:`convert_windows` does the same for a Windows ``Export-DhcpServer`` XML
(:mod:`kea_etl.convert.windows`). The pre-flight checks live in :mod:`kea_etl.convert.check`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kea_etl import kea_config
from kea_etl._files import atomic_write
from kea_etl.convert.build import DEFAULT_HOOKS_DIR, Converter, FamilyResult
from kea_etl.convert.d2 import DdnsSetup
from kea_etl.convert.findings import SEVERITIES, Finding
from kea_etl.errors import ConfigError
from kea_etl.kea_config import load_kea_config

__all__ = ["ConvertResult", "Finding", "convert", "convert_windows", "ids_from_config", "write"]


@dataclass
class ConvertResult:
    v4: FamilyResult | None = None
    v6: FamilyResult | None = None
    findings: list[Finding] = field(default_factory=list)

    def families(self) -> list[FamilyResult]:
        return [r for r in (self.v4, self.v6) if r is not None]

    def all_findings(self) -> list[Finding]:
        out = [f for r in self.families() for f in r.findings] + self.findings
        return sorted(out, key=lambda f: SEVERITIES.index(f.severity))

    def counts(self) -> dict[str, int]:
        found = self.all_findings()
        return {s: sum(1 for f in found if f.severity == s) for s in SEVERITIES}

    def to_json(self) -> dict[str, Any]:
        return {
            "subnet_ids": {f"v{r.family}": r.subnet_ids for r in self.families()},
            "counts": self.counts(),
            "findings": [f.to_json() for f in self.all_findings()],
        }


def ids_from_config(paths: list[str | Path]) -> dict[int, dict[str, int]]:
    """``{4: {prefix: id}, 6: {...}}`` from existing Kea configuration files."""
    out: dict[int, dict[str, int]] = {4: {}, 6: {}}
    for path in paths:
        data = load_kea_config(path)
        for sub in kea_config.subnets(data, origin=f"Kea config {path}"):
            out[sub.family][str(sub.prefix)] = sub.id
    return out


def convert(conf4: str | Path | None, *, conf6: str | Path | None = None,
            keep_ids: dict[int, dict[str, int]] | None = None,
            hooks_dir: str = DEFAULT_HOOKS_DIR,
            include_dir: str | Path | None = None) -> ConvertResult:
    """Translate ``conf4`` (a dhcpd.conf) and/or ``conf6`` (a dhcpd -6 configuration).

    ``keep_ids``: subnet ids to keep (``ids_from_config``); other subnets get the ids
    :func:`kea_etl.convert.ids.stable_id` derives from their prefix.
    """
    if conf4 is None and conf6 is None:
        raise ConfigError("nothing to convert: give a dhcpd.conf and/or a dhcpd6.conf")
    keep = keep_ids or {}
    out = ConvertResult()
    if conf4 is not None:
        out.v4 = Converter(conf4, 4, keep_ids=keep.get(4), hooks_dir=hooks_dir,
                           include_dir=include_dir).run()
    if conf6 is not None:
        out.v6 = Converter(conf6, 6, keep_ids=keep.get(6), hooks_dir=hooks_dir,
                           include_dir=include_dir).run()
    return out


def convert_windows(export: str | Path, *, keep_ids: dict[int, dict[str, int]] | None = None,
                    hooks_dir: str = DEFAULT_HOOKS_DIR) -> ConvertResult:
    """Translate a Windows DHCP Server ``Export-DhcpServer`` XML (both families: v6 when it has
    v6 scopes); see :mod:`kea_etl.convert.windows`."""
    from kea_etl.convert.windows import WindowsConverter

    v4, v6 = WindowsConverter(export, keep_ids=keep_ids, hooks_dir=hooks_dir).run()
    return ConvertResult(v4=v4, v6=v6)


def write(result: ConvertResult, out_dir: str | Path) -> list[Path]:
    """Write ``kea-dhcp4.conf`` / ``kea-dhcp6.conf`` into ``out_dir`` (created), and where dhcpd
    sent DNS updates ``kea-dhcp-ddns.conf`` with one ``tsig-NAME.secret`` per key (mode 0600;
    kea_etl.convert.d2); their paths."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    ddns = DdnsSetup()
    for r in result.families():
        path = d / f"kea-dhcp{r.family}.conf"
        with atomic_write(path, mode=0o640) as fh:
            fh.write(json.dumps(r.config, indent=2) + "\n")
        written.append(path)
        ddns.merge(r.ddns)
    if ddns:
        path = d / "kea-dhcp-ddns.conf"
        with atomic_write(path, mode=0o640) as fh:
            fh.write(json.dumps(ddns.config(), indent=2) + "\n")
        written.append(path)
        for key in ddns.keys.values():
            secret = d / key.secret_file
            with atomic_write(secret, mode=0o600) as fh:
                fh.write(key.secret)
            written.append(secret)
    return written

"""Build hook for the optional C accelerator (everything else is in pyproject.toml).

kea_etl/_isc4.c speeds up reading dhcpd.leases; when it cannot be compiled (no C compiler or
Python headers) the install still succeeds and kea-etl uses its pure-Python parser, which gives
the same results.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("kea_etl._isc4", ["kea_etl/_isc4.c"], optional=True,
                             extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"])])

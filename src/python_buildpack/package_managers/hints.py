"""Known causes of installer failures, recognised in the installer's output.

Each hint is (pattern, title, explanation): the first pattern found in a failed install's
output turns the generic "could not install" error into one that names the cause and the
fix. The explanation is printed after the installer's own output, like every build error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Hint:
    pattern: str  # a regular expression, matched case-insensitively against the whole output
    title: str
    explanation: str


HINTS: tuple[Hint, ...] = (
    Hint(
        r"No space left on device|\[Errno 28\]|Disk quota exceeded",
        "The build ran out of disk space",
        "The installer could not write to the disk: it is full (see the output above). Nothing of "
        "this build is kept, and the previous dependencies stay cached. Free space where the "
        "platform builds the app, or give the build more disk, then build again. Large "
        "dependencies (machine-learning frameworks, their CUDA wheels) need several GB.",
    ),
    Hint(
        r"could not find gdal-config|gdal-config: (command )?not found|No such file or directory: .?gdal-config",
        "A package needs GDAL, which is not on the stack",
        "A package (GDAL's Python bindings, or one that builds on them such as Fiona or "
        "rasterio built from source) needs the GDAL library and its gdal-config program, which "
        "the stack image does not include (see the output above). Add the geo buildpack before "
        "this one (https://github.com/Scalingo/geo-buildpack), or require releases of the "
        "package that publish wheels for this Python version, which bundle GDAL.",
    ),
    Hint(
        r"sqlite3\.h: No such file or directory",
        "A package needs the SQLite headers, which are not on the stack",
        "A package (usually pysqlite3) compiles against SQLite and cannot find sqlite3.h (see the "
        "output above). Python's standard library has the same module: remove pysqlite3 from "
        "the dependencies and `import sqlite3` instead. If the app needs pysqlite3 itself, "
        "require pysqlite3 0.6.0 or newer, or pysqlite3-binary, which are published as wheels "
        "and need no headers.",
    ),
    Hint(
        r"pg_config executable not found|pg_config is required|(^|\W)pg_config: (command )?not found",
        "A package needs PostgreSQL's pg_config, which is not on the stack",
        "A PostgreSQL driver is being compiled from source and needs pg_config (see the output "
        "above). Use the binary package instead, which needs no compiler or headers: "
        "psycopg2-binary instead of psycopg2, or psycopg[binary] instead of psycopg.",
    ),
    Hint(
        r"mysql_config: not found|mysql_config not found|Can not find valid pkg-config name",
        "A package needs MySQL's mysql_config, which is not on the stack",
        "A MySQL driver (mysqlclient) is being compiled from source and needs mysql_config and "
        "the MySQL client headers (see the output above). Require a mysqlclient release that has "
        "a wheel for this Python version, or use the pure-Python driver PyMySQL (with "
        "`pymysql.install_as_MySQLdb()` for Django).",
    ),
    Hint(
        r"Please use pip<24\.1 if you need to use this version",
        "A dependency has broken package metadata",
        "pip refuses packages whose metadata holds an invalid version or requirement (see the "
        "output above, which names the package); pip older than 24.1 used to accept them. Old "
        "releases of some packages (Celery before 5.2.1, for example) have such metadata. "
        "Require a newer release of the package named above and deploy again.",
    ),
)


def hint_for(output: str) -> Hint | None:
    """The first known cause found in an installer's output."""
    for hint in HINTS:
        if re.search(hint.pattern, output, re.IGNORECASE | re.MULTILINE):
            return hint
    return None

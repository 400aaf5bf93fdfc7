"""What a failed download or install says when the network is the cause: any host, or the
host of a git dependency (named in the error, since the fix is about that host)."""

from __future__ import annotations

from .process import Completed

NETWORK_ERRORS = "|".join(
    (
        r"Failed to establish a new connection",
        r"Max retries exceeded",
        r"Temporary failure in name resolution",
        r"Name or service not known",
        r"Connection refused",
        r"Network is unreachable",
        r"ConnectTimeout|ReadTimeout|timed out",
        r"Could not fetch URL",
        r"error sending request",
        r"dns error",
        r"Connection reset",
        r"All attempts to connect to \S+ failed",  # poetry
    )
)


# Network failures of git (and curl, which git uses), ssh and dulwich (poetry's git client),
# each naming the host.
_UNREACHABLE = (
    r"Could not resolve host: ([\w.-]+)",
    r"Could not resolve hostname ([\w.-]+)",
    r"Failed to connect to ([\w.-]+) port",
    r"connect to host ([\w.-]+) port \d+: (?:Connection|Network)",
    r"unable to access '\w+://(?:[^@/']*@)?([\w.-]+)[^']*': .*(?:timed out|Connection reset|Couldn't connect)",
    r"ConnectionPool\(host='([\w.-]+)', port=\d+\): Max retries exceeded",
)
# Output that says a git dependency was being fetched: pip's and uv's git commands, uv's and
# dulwich's errors.
_GIT_FETCH = r"\bgit (?:clone|fetch)\b|Git operation failed|GitProtocolError|git-upload-pack|fatal: unable to access"


def unreachable_git_host(result: Completed) -> str | None:
    """The host of a git dependency that could not be reached, if that is why the install failed."""
    if not result.matches(_GIT_FETCH):
        return None
    for pattern in _UNREACHABLE:
        found = result.matches(pattern)
        if found:
            return found.group(1)
    return None

"""Processes read from /proc (Linux), for the tests that kill or interrupt a build and require that nothing it
started is left running."""
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid: int) -> str:
    """The command line of a running process ('' when it has ended or is a zombie)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() if alive(pid) else ""
    except OSError:
        return ""


def descendants(pid: int) -> set[int]:
    """The processes below `pid`."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        kids = {c for c, pp in parents.items() if pp == parent} - found
        found |= kids
        todo += kids
    return found

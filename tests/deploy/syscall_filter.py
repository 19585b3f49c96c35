"""Which of the system calls a traced run made the unit's SystemCallFilter
refuses: used by tests/deploy/systemd.sh.

    python3 syscall_filter.py UNIT USED.txt

Reads the unit's SystemCallFilter= lines (an allow list, then ~ deny
lists), expands the @groups with `systemd-analyze syscall-filter`, and
prints each call in USED.txt (one name a line) the filter would refuse;
exits 1 if there is any.
"""

import subprocess
import sys


def groups():
    """Every @group and its members, as systemd-analyze lists them."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"],
                         check=True, capture_output=True, text=True).stdout
    found, current = {}, None
    for line in out.splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if not line.startswith(" ") and text.startswith("@"):
            current = found.setdefault(text, [])
        elif current is not None:
            current.append(text)
    return found


def expand(name, table, seen=None):
    seen = set() if seen is None else seen
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    if name not in table:
        sys.exit(f"unknown system call group {name}")
    calls = set()
    for member in table[name]:
        calls |= expand(member, table, seen)
    return calls


def main():
    unit, used_file = sys.argv[1], sys.argv[2]
    table = groups()
    allowed, denied = None, set()
    for line in open(unit, encoding="utf-8"):
        line = line.strip()
        if not line.startswith("SystemCallFilter="):
            continue
        value = line.split("=", 1)[1]
        if value.startswith("~"):
            for item in value[1:].split():
                denied |= expand(item, table)
        else:
            calls = set()
            for item in value.split():
                calls |= expand(item, table)
            allowed = calls if allowed is None else allowed | calls
    if allowed is None:
        sys.exit(f"{unit}: no SystemCallFilter allow list")
    used = {line.strip() for line in open(used_file, encoding="utf-8") if line.strip()}
    refused = sorted(call for call in used if call not in allowed or call in denied)
    for call in refused:
        print(f"refused: {call}")
    print(f"{len(used)} system calls used, {len(refused)} refused by the filter "
          f"({len(allowed - denied)} allowed)")
    sys.exit(1 if refused else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Print `enum cpuhp_state` from a kernel's include/linux/cpuhotplug.h as
`NAME = value` lines (TOML), computing the implicit values the way C does.

Usage: tools/cpuhp_enum.py /path/to/linux/include/linux/cpuhotplug.h
"""
import re
import sys


def enum_values(text):
    body = re.search(r"enum cpuhp_state \{(.*?)\n\};", text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    body = "\n".join(l for l in body.splitlines() if not l.strip().startswith("#"))
    values, nxt = {}, 0
    for item in (i.strip() for i in body.split(",")):
        if not item:
            continue
        if "=" in item:
            name, expr = (s.strip() for s in item.split("=", 1))
            m = re.fullmatch(r"(-?\d+)|(\w+)\s*\+\s*(\d+)", expr)
            nxt = int(m.group(1)) if m.group(1) else values[m.group(2)] + int(m.group(3))
        else:
            name = item
        values[name] = nxt
        nxt += 1
    return values


if __name__ == "__main__":
    for name, value in enum_values(open(sys.argv[1]).read()).items():
        print(f"{name} = {value}")

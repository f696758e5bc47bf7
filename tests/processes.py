"""What tests see of processes, from /proc: which are alive (zombies count as gone)."""

import os


def process_table():
    """{pid: (parent pid, state)} of every process."""
    table = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                state, ppid = f.read().rpartition(")")[2].split()[:2]
        except OSError:
            continue
        table[int(entry)] = (int(ppid), state)
    return table


def live_descendants(pid):
    table = process_table()
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, state) in table.items():
            if ppid == parent and state != "Z" and child not in found:
                found.add(child)
                todo.append(child)
    return found


def still_alive(pids):
    table = process_table()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}

"""A small pyperformance-style workload: pure-Python benchmarks, each timed as the
best of several runs (the first argument, default 3). Prints one JSON object {name: seconds}.
Shipped with @cpy/lifecycle: `cpy compare` runs it once per process to compare two
interpreters, and bench/speed.mjs to compare the release profile (PGO + LTO) with the fast
one. Standard library only, and Python 3.6 or newer."""
import json
import re
import sys
import time


def nbody(steps=40_000):
    bodies = [
        [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], 39.47841760435743],
        [[4.84, -1.16, -0.10], [0.606, 2.81, -0.02], 0.037693674870389486],
        [[8.34, 4.12, -0.40], [-1.01, 1.82, 0.008], 0.011286326131968767],
        [[12.89, -15.11, -0.22], [1.08, 0.868, -0.01], 0.0017237240570597112],
        [[15.37, -25.91, 0.17], [0.979, 0.594, -0.034], 0.0020336868699246304],
    ]
    pairs = [(bodies[i], bodies[j]) for i in range(5) for j in range(i + 1, 5)]
    for _ in range(steps):
        for ([x1, y1, z1], v1, m1), ([x2, y2, z2], v2, m2) in pairs:
            dx, dy, dz = x1 - x2, y1 - y2, z1 - z2
            mag = 0.01 * ((dx * dx + dy * dy + dz * dz) ** -1.5)
            b1m, b2m = m1 * mag, m2 * mag
            v1[0] -= dx * b2m; v1[1] -= dy * b2m; v1[2] -= dz * b2m
            v2[0] += dx * b1m; v2[1] += dy * b1m; v2[2] += dz * b1m
        for r, [vx, vy, vz], _m in bodies:
            r[0] += 0.01 * vx; r[1] += 0.01 * vy; r[2] += 0.01 * vz


def fannkuch(n=9):
    perm1 = list(range(n))
    count = [0] * n
    max_flips = 0
    r = n
    while True:
        while r != 1:
            count[r - 1] = r
            r -= 1
        perm = perm1[:]
        flips = 0
        k = perm[0]
        while k:
            perm[: k + 1] = perm[k::-1]
            flips += 1
            k = perm[0]
        max_flips = max(max_flips, flips)
        while r != n:
            perm1.insert(r, perm1.pop(0))
            count[r] -= 1
            if count[r] > 0:
                break
            r += 1
        else:
            return max_flips


def spectral_norm(n=160):
    def a(i, j):
        return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)

    u = [1.0] * n
    for _ in range(10):
        v = [sum(a(i, j) * u[j] for j in range(n)) for i in range(n)]
        u = [sum(a(j, i) * v[j] for j in range(n)) for i in range(n)]
    return sum(u)


class Task:
    __slots__ = ("prio", "work", "next")

    def __init__(self, prio, nxt):
        self.prio, self.work, self.next = prio, 0, nxt


def objects(n=3_000_000):
    head = None
    for i in range(100):
        head = Task(i, head)
    t = head
    for i in range(n):
        t.work += i & 7
        t = t.next or head
    return head.work


def json_roundtrip(n=300):
    doc = {"items": [{"id": i, "name": f"item-{i}", "tags": ["a", "b", "c"], "price": i * 1.25, "ok": i % 2 == 0} for i in range(200)]}
    for _ in range(n):
        doc = json.loads(json.dumps(doc))
    return len(doc["items"])


def regex(n=300_000):
    text = " ".join(f"user{i}@example{i % 7}.org, 2025-0{i % 9 + 1}-1{i % 9}" for i in range(200))
    pattern = re.compile(r"(\w+)@(\w+)\.org, (\d{4})-(\d{2})-(\d{2})")
    found = 0
    for _ in range(n // 100):
        found += len(pattern.findall(text))
    return found


BENCHMARKS = [nbody, fannkuch, spectral_norm, objects, json_roundtrip, regex]

if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    results = {}
    for bench in BENCHMARKS:
        best = float("inf")
        for _ in range(rounds):
            t = time.perf_counter()
            bench()
            best = min(best, time.perf_counter() - t)
        results[bench.__name__] = best
    print(json.dumps(results))

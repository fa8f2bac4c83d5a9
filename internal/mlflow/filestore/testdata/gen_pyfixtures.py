"""Regenerates the PyYAML and Python float fixtures the Go tests compare with.

Run from this directory with PyYAML 6 installed:  python3 gen_pyfixtures.py
The output is what MLflow's write_yaml (yaml.dump with the SafeDumper,
default_flow_style=False, allow_unicode=True, sort_keys=True) and its metric
line f"{value}" produce.
"""
import json
import math
import random
import struct

import yaml

rng = random.Random(20261126)

handpicked = [
    "", " ", "a", "fmt-exp", "Default", "0", "0123", "994765542452891481", "00000000000040008000000000000001", "12345678901234567890123456789012", "1e3", "1.5", "1_000",
    ".5", "-.inf", ".NaN", "0x1F", "0b101", "0o17", "017", "12:30", "12:30:15.5", "+1", "-",
    "- a", "-a", "?", "? a", ":", ": a", "a:b", "a: b", "a :b", "a #b", "a#b", "#a", "&a", "*a",
    "!a", "|a", ">a", "'a", '"a', "%a", "@a", "`a", ",a", "a,b", "[a]", "{a}", "a?b", "---",
    "--- a", "...", "... a", "yes", "Yes", "NO", "on", "Off", "y", "n", "true", "False", "null",
    "Null", "~", "<<", "=", "2001-01-01", "2001-1-1 12:00:00", "2001-01-01T12:00:00Z",
    "it's", "it''s", "a\nb", "a\n\nb", "\na", "a\n", "a \nb", "a\n b", "a\tb", "\t", "a\rb",
    "a\x00b", "a\x07b", "a\x1bb", "a\\b", "caf\u00e9", "\u00e9t\u00e9", "\u4e2d\u6587", "emoji \U0001F600",
    "a\x85b", "a\u2028b", "a\u2029b", "\ufeffa", "a\u00a0b", "\u00a0", "a\ud7ffb", "a\ue000b", "a\ufffdb",
    "trailing ", " leading", "two  spaces", "file:///tmp/mlruns/0", "file:///tmp/ml%20runs/0",
    "/Users/someone@example.com/exp", "system/gpu_0_utilization_percentage",
    "word " * 20 + "end", "x" * 100, "a " + "y" * 90 + " b", "y" * 79 + " z z z",
    "'quoted long " + "w " * 50 + "'", "line one\nline two " + "v " * 45,
    "tab\t" + "t " * 50, "\"dq\" " * 30, "a" * 78 + " b", "a" * 79 + " b", "a" * 80 + " b",
]

alphabet = list("abcXYZ019 _-./:#'\"\\,?[]{}&*!|>%@`~=<") + ["\n", "\t", " ", " ", "  ", "\u00e9", "\U0001F600", "\x85", "\u2028", "\x01"]

def random_string():
    n = rng.choice([1, 2, 3, 5, 8, 20, 60, 90, 150])
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.55:
            parts.append("".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 9))))
        else:
            parts.append(rng.choice(alphabet))
    return "".join(parts)

cases = []
keys = ["name", "run_name", "artifact_location", "v"]
for s in handpicked + [random_string() for _ in range(600)]:
    key = rng.choice(keys)
    cases.append({"key": key, "value": s,
                  "yaml": yaml.dump({key: s}, default_flow_style=False, allow_unicode=True,
                                    sort_keys=True, Dumper=yaml.SafeDumper)})
with open("pyyaml_cases.json", "w", encoding="utf-8") as f:
    json.dump(cases, f, ensure_ascii=False, indent=1)
    f.write("\n")

floats = [0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1.5, 100.0, 1e15, 1e16, 1.5e16, 123456789012345.6,
          1234567890123456.7, 1e-4, 1e-5, 0.0001234, 0.00001234, 1e22, 1e-7, 5e-324, 1.7976931348623157e308,
          2.2250738585072014e-308, math.pi, -math.e, 1/3, 2/3, 100.5, 0.30000000000000004,
          float("nan"), float("inf"), float("-inf"), 42.0, 12.3, 99.9, 1e100, 1.25e-10]
for _ in range(300):
    floats.append(struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0])
for _ in range(300):
    floats.append(round(rng.uniform(-1e6, 1e6), rng.randint(0, 8)))
for _ in range(100):
    floats.append(rng.uniform(0, 1) * 10 ** rng.randint(-20, 25))
out = []
for v in floats:
    out.append({"bits": struct.unpack("<Q", struct.pack("<d", v))[0], "repr": f"{v}"})
with open("pyfloat_cases.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")

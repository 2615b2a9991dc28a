"""speedscope_check.py FILE...: is each FILE a valid speedscope file?

The JSON Schema below is written from speedscope's own definition of its
format, src/lib/file-format-spec.ts in github.com/jlfwong/speedscope (the
FileFormat namespace: File, Frame, SampledProfile, EventedProfile,
ValueUnit). Then the rules the TypeScript types cannot say: samples and
weights of equal length, frame indices in range, endValue >= startValue,
evented profiles' times non-decreasing and frames balanced.

The schema is checked with the jsonschema package when it is installed,
else with the small validator below (the keywords this schema uses).
Exit status 0 when every file passes; 1 with one line per problem.
"""
import json
import sys

UNITS = ["none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"]
NUMBER = {"type": "number"}
SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "definitions": {
        "Frame": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "file": {"type": "string"},
                           "line": NUMBER, "col": NUMBER},
        },
        "SampledProfile": {
            "type": "object",
            "required": ["type", "name", "unit", "startValue", "endValue", "samples", "weights"],
            "properties": {
                "type": {"const": "sampled"},
                "name": {"type": "string"},
                "unit": {"enum": UNITS},
                "startValue": NUMBER,
                "endValue": NUMBER,
                "samples": {"type": "array",
                            "items": {"type": "array", "items": {"type": "integer"}}},
                "weights": {"type": "array", "items": NUMBER},
            },
        },
        "EventedProfile": {
            "type": "object",
            "required": ["type", "name", "unit", "startValue", "endValue", "events"],
            "properties": {
                "type": {"const": "evented"},
                "name": {"type": "string"},
                "unit": {"enum": UNITS},
                "startValue": NUMBER,
                "endValue": NUMBER,
                "events": {"type": "array", "items": {
                    "type": "object", "required": ["type", "at", "frame"],
                    "properties": {"type": {"enum": ["O", "C"]}, "at": NUMBER,
                                   "frame": {"type": "integer"}}}},
            },
        },
    },
    "type": "object",
    "required": ["version", "$schema", "shared", "profiles"],
    "properties": {
        "version": {"type": "string"},
        "$schema": {"const": "https://www.speedscope.app/file-format-schema.json"},
        "shared": {"type": "object", "required": ["frames"],
                   "properties": {"frames": {"type": "array",
                                             "items": {"$ref": "#/definitions/Frame"}}}},
        "profiles": {"type": "array", "items": {"oneOf": [
            {"$ref": "#/definitions/SampledProfile"},
            {"$ref": "#/definitions/EventedProfile"}]}},
        "name": {"type": "string"},
        "activeProfileIndex": NUMBER,
        "exporter": {"type": "string"},
    },
}

TYPES = {"object": dict, "array": list, "string": str}


def small_validate(v, s, root, where="$"):
    """The keywords SCHEMA uses: $ref type required properties items enum
    const oneOf. Yields problems."""
    s = resolve(s)
    t = s.get("type")
    if t == "number" and (isinstance(v, bool) or not isinstance(v, (int, float))):
        yield "%s: not a number" % where
        return
    if t == "integer" and (isinstance(v, bool) or not isinstance(v, int)):
        yield "%s: not an integer" % where
        return
    if t in TYPES and not isinstance(v, TYPES[t]):
        yield "%s: not a%s %s" % (where, "n" if t[0] in "ao" else "", t)
        return
    if "const" in s and v != s["const"]:
        yield "%s: %r is not %r" % (where, v, s["const"])
    if "enum" in s and v not in s["enum"]:
        yield "%s: %r is not one of %s" % (where, v, s["enum"])
    for k in s.get("required", []):
        if k not in v:
            yield "%s: no %r" % (where, k)
    for k, sub in s.get("properties", {}).items():
        if isinstance(v, dict) and k in v:
            yield from small_validate(v[k], resolve(sub), root, "%s.%s" % (where, k))
    if "items" in s and isinstance(v, list):
        for i, x in enumerate(v):
            yield from small_validate(x, resolve(s["items"]), root, "%s[%d]" % (where, i))
    if "oneOf" in s:
        ok = [b for b in s["oneOf"] if not list(small_validate(v, resolve(b), root, where))]
        if len(ok) != 1:
            yield "%s: matches %d of the oneOf branches, not 1" % (where, len(ok))


def resolve(s):
    while "$ref" in s:
        s = SCHEMA["definitions"][s["$ref"].rsplit("/", 1)[1]]
    return s


def schema_problems(d):
    try:
        import jsonschema
    except ImportError:
        return list(small_validate(d, SCHEMA, SCHEMA)), "built-in validator"
    v = jsonschema.Draft7Validator(SCHEMA)
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)) or "$", e.message)
            for e in v.iter_errors(d)], "jsonschema"


def rule_problems(d):
    nf = len(d["shared"]["frames"])
    for k, p in enumerate(d["profiles"]):
        where = "profiles[%d] (%s)" % (k, p.get("name"))
        if p["endValue"] < p["startValue"]:
            yield "%s: endValue < startValue" % where
        if p["type"] == "sampled":
            if len(p["samples"]) != len(p["weights"]):
                yield "%s: %d samples but %d weights" % (where, len(p["samples"]),
                                                          len(p["weights"]))
            if any(not 0 <= i < nf for st in p["samples"] for i in st):
                yield "%s: a frame index out of range (%d frames)" % (where, nf)
            if any(w < 0 for w in p["weights"]):
                yield "%s: a negative weight" % where
        else:
            at, open_ = None, []
            for e in p["events"]:
                if at is not None and e["at"] < at:
                    yield "%s: events go back in time" % where
                at = e["at"]
                if e["type"] == "O":
                    open_.append(e["frame"])
                elif not open_ or open_.pop() != e["frame"]:
                    yield "%s: a close without its open" % where
            if open_:
                yield "%s: frames left open" % where
    if "activeProfileIndex" in d and not 0 <= d["activeProfileIndex"] < len(d["profiles"]):
        yield "activeProfileIndex out of range"


def main(paths):
    bad = 0
    for path in paths:
        d = json.load(open(path))
        problems, how = schema_problems(d)
        if not problems:
            problems = list(rule_problems(d))
        for p in problems[:20]:
            print("%s: %s" % (path, p))
        bad += bool(problems)
        if not problems:
            print("%s: a valid speedscope file (%s), %d profiles" % (path, how,
                                                                    len(d["profiles"])))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

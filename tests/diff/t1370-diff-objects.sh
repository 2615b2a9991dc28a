#!/bin/sh
# t1370: objects by type in two object-tracking traces (diff_mktrace
# objsa/objsb): the section, its order, new types, the JSON key, and
# --fail-if objects:TYPE gates.
. "$(dirname "$0")/diff-test-lib.sh"

test_expect_success 'setup' '
    "$MKTRACE" objsa a.trace && "$MKTRACE" objsb b.trace &&
    "$MKTRACE" heapa h.trace
'

test_expect_success 'JSON: totals and types by |change in alive at the end|' '
    "$DIFF" --json a.trace b.trace >d.json &&
    "$PYTHON" "$CHECK" schema d.json &&
    "$PYTHON" "$CHECK" expect d.json objects.end_count.a=3 objects.end_count.b=8 \
        objects.end_count.delta=5 objects.created.delta=3 objects.types_total=3 \
        objects.types_changed=3 objects.end_count.pct=166.6667 \
        objects.types.0.type=__main__.Point objects.types.0.end_count.delta=2 \
        objects.types.0.created.delta=2 objects.types.0.status=changed \
        objects.types.1.type=dict objects.types.1.end_count.b=2 \
        objects.types.1.created.delta=0 \
        objects.types.2.type=tuple objects.types.2.status=new
'

test_expect_success 'a type whose only change is the most alive at once is listed' '
    "$MKTRACE" objsc c.trace && "$MKTRACE" objsd d.trace &&
    "$DIFF" --json c.trace d.trace >m.json &&
    "$PYTHON" "$CHECK" schema m.json &&
    "$PYTHON" "$CHECK" expect m.json objects.types_total=2 objects.types_changed=1 \
        objects.types.0.type=__main__.Point objects.types.0.alive_max.delta=1 \
        objects.types.0.end_count.delta=0 count:objects.types=1
'

test_expect_success 'text: the section' '
    "$DIFF" a.trace b.trace >out &&
    grep "^Objects by type, by |change in alive at the end| (3 shown of 3 changed; 3 types)" out &&
    grep -E "^ +3 +5 +\+2 +\+2 +3 +5  __main__.Point$" out &&
    grep -E "tuple  new$" out
'

test_expect_success '--fail-if objects:TYPE, by full or short name, and its fields' '
    test_status 3 "$DIFF" --fail-if "objects:Point>+1" a.trace b.trace >/dev/null &&
    "$DIFF" --fail-if "objects:__main__.Point>+2" a.trace b.trace >/dev/null &&
    test_status 3 "$DIFF" --fail-if "objects:dict.end>=+2" a.trace b.trace >/dev/null &&
    "$DIFF" --fail-if "objects:dict.created>0" a.trace b.trace >/dev/null &&
    test_status 3 "$DIFF" --fail-if "B:objects:tuple.max>0" a.trace b.trace >/dev/null
'

test_expect_success '--fail-if objects: errors name what is missing' '
    test_status 1 "$DIFF" --fail-if "objects:Nope>0" a.trace b.trace 2>err &&
    grep "no objects of a type .Nope." err &&
    test_status 1 "$DIFF" --fail-if "objects:Point>0" a.trace h.trace 2>err &&
    grep "objects are not compared" err &&
    test_status 2 "$DIFF" --fail-if "objects:>0" a.trace b.trace 2>err &&
    grep "expected a type name" err
'

test_expect_success 'traces without objects: objects null, no section' '
    "$DIFF" --json a.trace h.trace >n.json &&
    "$PYTHON" "$CHECK" schema n.json &&
    "$PYTHON" "$CHECK" expect n.json objects=null &&
    "$DIFF" a.trace h.trace >n.out && ! grep "^Objects" n.out
'

test_done

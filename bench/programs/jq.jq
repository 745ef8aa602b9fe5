# jq - the input of the `jq` program of scripts/bench --programs: jq 1.6
# filters an array of records (made by scripts/bench, 120000 of them at
# BENCH_SCALE=1, a fixed seed) that it parsed from 17 MB of JSON. jq keeps
# every JSON value (objects, arrays, strings, numbers' boxes) in malloc'd
# blocks, reference-counted, and copies them on write, so the run is one
# long stream of small mallocs and frees.
#
# Prints one line: jq, the groups and a checksum of the results, which
# must be the same under every allocator.
[.[] | select(.score > 0.3)
     | {id, n: (.name + "-" + (.tags | length | tostring)), t: ((.tags | add) // 0), b: .nested.b}]
| (map(.n) | sort | .[length / 2 | floor] | explode | add) as $median
| group_by(.t % 50)
| map({k: (.[0].t % 50), c: length, ids: (map(.id) | add), bl: (map(.b | length) | add)})
| "jq groups=\(length) checksum=\(map(.c * (.k + 1) + .ids % 1000003 + .bl) | add + $median)"
